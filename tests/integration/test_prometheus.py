"""The Prometheus surface as an operator uses it: live /metrics passes `promtool check metrics`,
the alert rules pass `promtool check rules` and their unit tests, every metric the rules and the
Grafana dashboard query is one /metrics declares, and the README's catalogue lists exactly the
metrics there are. promtool comes from Debian's `prometheus` package (.ci/run installs it)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api
from tests.net import free_port
from tests.paths import REPO_ROOT
from tests.streams.sources import GST_RTSP, RtspServer, require
from vmsd.api.services import SERVICES
from vmsd.cameras.state import CameraState
from vmsd.recorder.model import RecorderState
from vmsd.runtime.database import COMPONENT as DATABASE_COMPONENT

REPO = REPO_ROOT
ALERTS = REPO / "config" / "prometheus" / "alerts.yml"
ALERT_TESTS = REPO / "tests" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO / "config" / "grafana" / "vmsd.json"
README = REPO / "README.md"
RECORDER_SOURCE = REPO / "vmsd" / "recorder" / "camera.py"

# Grafana's built-in interval variables, replaced by a duration before parsing.
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
ALERT_NAMES = {
    "VmsdNotReady",
    "VmsdCameraOffline",
    "VmsdRecorderRestarting",
    "VmsdNoNewSegment",
    "VmsdStorageBelowWatermark",
    "VmsdRetentionNotKeepingUp",
    "VmsdDatabaseUnreachable",
    "VmsdIndexJournalGrowing",
}


# --- reading the exposition, the queries and the README ------------------------------------


def families(exposition: str) -> dict[str, str]:
    """Each metric under the name a query or the catalogue uses -> its type. Counters carry
    `_total`; the `_created` series prometheus_client adds beside counters and histograms are
    not metrics of their own."""
    parsed = {f.name: f.type for f in text_string_to_metric_families(exposition)}
    out = {}
    for name, type_ in parsed.items():
        if name.endswith("_created") and parsed.get(name.removesuffix("_created")) in (
            "counter",
            "histogram",
            "summary",
        ):
            continue
        out[name + "_total" if type_ == "counter" else name] = type_
    return out


def queryable(exposition: str) -> set[str]:
    """Series names a query can select: a histogram only through its buckets, sum and count."""
    names = set()
    for name, type_ in families(exposition).items():
        if type_ == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def parse(expr: str) -> promql_parser.Expr:
    for variable, duration in GRAFANA_INTERVALS.items():
        expr = expr.replace(variable, duration)
    return promql_parser.parse(expr)


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(parse(expr), visit)
    return found


def metric_names(expr: str) -> set[str]:
    names = set()
    for selector in selectors(expr):
        assert selector.name, f"a selector without a metric name cannot be checked: {expr}"
        names.add(selector.name)
    return names


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # inside a collapsed row


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable's label_values()."""
    queries = [
        (f"panel {p['title']!r}", target["expr"])
        for p in dashboard_panels()
        for target in p.get("targets", [])
    ]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
            assert match, variable["query"]
            queries.append((f"variable {variable['name']!r}", match.group(1)))
    return queries


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def readme_catalogue() -> dict[str, str]:
    """The README's metric table: `name{labels}` -> type."""
    section = README.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `([a-z_:][a-z0-9_:]*)(\{[a-z_,]*\})?` \| (\w+) \|", line)
        if match:
            assert match.group(1) not in rows, f"listed twice: {match.group(1)}"
            rows[match.group(1)] = match.group(3)
    return rows


async def scrape(api: Api) -> str:
    async with api.session.get(api.url + "/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


# --- promtool -------------------------------------------------------------------------------


async def _until(predicate: Any, what: str, timeout_s: float = 40.0) -> None:
    """Wait for a condition of the running recorders; fails with `what` if it never holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_live_metrics_pass_promtool_check_metrics(api: Api) -> None:
    """/metrics of the real app with cameras registered, a recorder writing segments from a
    real RTSP camera and one failing to connect: every family has labelled series to lint."""
    require("promtool")
    require(GST_RTSP)
    stack = api.cameras
    value = stack.metrics.registry.get_sample_value
    with RtspServer(["/front"], fps=10, gop=10) as rtsp:
        for name, source in (
            ("front", rtsp.url("front")),
            ("gone", f"rtsp://127.0.0.1:{free_port()}/nothing"),
        ):
            body = {"name": name, "source": source, "recording": {"segment_seconds": 2}}
            async with api.session.post(
                api.url + "/api/v1/cameras", json=body, headers=api.headers("admin")
            ) as resp:
                assert resp.status == 201, await resp.text()
        await stack.live.sync(stack.registry.cameras)
        stack.holder.current.storage.paths[0].mkdir(parents=True, exist_ok=True)
        async with asyncio.TaskGroup() as tg:
            fleet = tg.create_task(stack.fleet.run())
            try:
                await _until(
                    lambda: (value("vmsd_segments_total", {"camera": "front"}) or 0) >= 1,
                    "a segment from front",
                )
                gone = {"camera": "gone", "reason": "cannot_connect"}
                await _until(
                    lambda: value("vmsd_recorder_restarts_total", gone),
                    "a restart of gone's recorder",
                )
                await api.app[SERVICES].system.sample_now()  # the recorders are children now
                await stack.retention.run_once()
                exposition = await scrape(api)
            finally:
                await stack.fleet.stop()
            await fleet

    done = promtool("check", "metrics", stdin=exposition)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    # The series the alerts join on exist with the labels the rules expect.
    samples = {
        (sample.name, frozenset(sample.labels.items()))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    path = str(stack.holder.current.storage.paths[0])
    for name, labels in (
        ("vmsd_camera_state", {"camera": "front", "state": "online"}),
        ("vmsd_camera_state", {"camera": "gone", "state": "offline"}),
        ("vmsd_recorder_state", {"camera": "front", "state": "stopped"}),
        ("vmsd_last_segment_timestamp_seconds", {"camera": "front"}),
        ("vmsd_recorder_segment_seconds", {"camera": "front"}),
        ("vmsd_recorder_restarts_total", {"camera": "gone", "reason": "cannot_connect"}),
        ("vmsd_storage_free_bytes", {"path": path}),
        ("vmsd_retention_low_watermark_bytes", {"path": path}),
        ("vmsd_child_cpu_usage_ratio", {"process": "recorder", "camera": "front"}),
        ("vmsd_child_proportional_memory_bytes", {"process": "recorder", "camera": "front"}),
        ("vmsd_child_unique_memory_bytes", {"process": "recorder", "camera": "front"}),
        ("vmsd_retention_last_pass_timestamp_seconds", {}),
        ("vmsd_retention_interval_seconds", {}),
        ("vmsd_journal_pending_segments", {}),
    ):
        assert (name, frozenset(labels.items())) in samples, (name, labels)


def test_alert_rules_pass_promtool_check_rules() -> None:
    done = promtool("check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in done.stdout


def test_alert_rules_pass_their_unit_tests() -> None:
    done = promtool("test", "rules", str(ALERT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_check_metrics_finds_a_bad_exposition() -> None:
    """The lint the live test relies on does reject what it should."""
    bad = "# HELP x_milliseconds x\n# TYPE x_milliseconds counter\nx_milliseconds 1\n"
    done = promtool("check", "metrics", stdin=bad)
    assert done.returncode != 0 and "_total" in done.stdout + done.stderr


# --- what the rules and the dashboard query -------------------------------------------------


def test_label_values_the_rules_match_are_the_ones_the_code_sets() -> None:
    """A renamed state or component would silently disarm a rule."""
    rules = ALERTS.read_text()
    assert f'component="{DATABASE_COMPONENT}"' in rules
    assert f'state="{CameraState.OFFLINE.value}"' in rules
    assert f'state="{RecorderState.STOPPED.value}"' in rules
    assert 'reason!="requested"' in rules
    assert re.search(r'_count_restart\("requested"\)', RECORDER_SOURCE.read_text())


def test_the_alerts_the_issue_asks_for_each_fire_and_stay_quiet_in_a_unit_test() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} == ALERT_NAMES
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    for name in ALERT_NAMES:
        own = [c for c in checks if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in own), f"{name}: no test where it fires"
        assert any(not c["exp_alerts"] for c in own), f"{name}: no test where it stays quiet"


async def test_every_metric_the_alerts_and_the_dashboard_query_is_exposed(api: Api) -> None:
    exposed = queryable(await scrape(api))
    queries = [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()] + dashboard_queries()
    missing = sorted(
        f"{where}: {name}"
        for where, expr in queries
        for name in metric_names(expr)
        if name not in exposed
    )
    assert not missing, "queried but not in /metrics:\n" + "\n".join(missing)


def test_query_names_are_read_from_the_parsed_query() -> None:
    """The extraction the check above relies on: names, never functions, labels or keywords."""
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{instance=~"$instance"}'
        "[$__rate_interval]))) > on (instance) group_left (name) b_info"
        ' unless c_total offset 5m and time() - d{e="f"}'
    )
    assert metric_names(expr) == {"a_bucket", "b_info", "c_total", "d"}
    with pytest.raises(ValueError):
        metric_names("sum(rate(x[5m])")


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and board["title"] and board["id"] is None
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    camera = variables["camera"]
    assert camera["type"] == "query" and camera["multi"] and camera["includeAll"]
    assert camera["query"]["query"].startswith("label_values(")
    ids = [p["id"] for p in dashboard_panels()]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard_panels():
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        columns = range(pos["x"], pos["x"] + pos["w"])
        mine = {(x, y) for x in columns for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, f"{panel['title']!r} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["refId"]
            for selector in selectors(target["expr"]):
                # One dashboard for many boxes: every selector follows the instance variable.
                assert any(
                    m.name == "instance" and m.value == "$instance"
                    for m in selector.matchers.matchers
                ), f"{panel['title']!r}: {selector.name} ignores $instance"


def test_dashboard_covers_what_an_operator_watches() -> None:
    queried = {name for _, expr in dashboard_queries() for name in metric_names(expr)}
    for name in (
        "vmsd_camera_state",
        "vmsd_recorder_state",
        "vmsd_recorder_bytes_per_second",
        "vmsd_recorder_fps",
        "vmsd_recorder_restarts_total",
        "vmsd_segments_total",
        "vmsd_index_lag_seconds_bucket",
        "vmsd_journal_pending_segments",
        "vmsd_storage_free_bytes",
        "vmsd_retention_low_watermark_bytes",
        "vmsd_retention_deleted_bytes_total",
        "vmsd_system_cpu_usage_ratio",
        "vmsd_system_memory_used_bytes",
        "vmsd_system_load1",
        "vmsd_system_network_receive_bytes_total",
        "vmsd_child_cpu_usage_ratio",
        "vmsd_gpu_utilization_ratio",
        "vmsd_gpu_encoder_utilization_ratio",
        "vmsd_auth_requests_total",
        "vmsd_http_requests_total",
    ):
        assert name in queried, name


# --- README ---------------------------------------------------------------------------------


async def test_readme_lists_every_metric_and_only_those(api: Api) -> None:
    live = families(await scrape(api))
    listed = readme_catalogue()
    assert sorted(set(live) - set(listed)) == [], "in /metrics, missing from README"
    assert sorted(set(listed) - set(live)) == [], "in README, not in /metrics"
    wrong = {n: (t, live[n]) for n, t in listed.items() if live[n] != t}
    assert not wrong, f"README type differs from /metrics: {wrong}"
