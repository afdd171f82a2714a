"""The audit trail against the real database and the real API over loopback: one chain under
concurrent appends from two pools (two boxes), every audited route writing its row (the
list derived from the route table), filters, cursors and the CSV and JSON Lines exports, a
reload's rows, and a write that fails leaving the answer as it was."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import yaml
from structlog.testing import capture_logs

from tests.conftest import Api
from vmsd.access.audit import verify
from vmsd.access.audit_log import AuditLog
from vmsd.api.app import all_routes
from vmsd.api.services import SERVICES
from vmsd.config.load import ConfigHolder, load_config
from vmsd.core.metrics import Metrics
from vmsd.events.bus import EventBus
from vmsd.runtime.reload import Reloader
from vmsd.runtime.systemd import SystemdNotifier
from vmsd.store.audit import AuditStore
from vmsd.store.audit_row import AuditEntry, AuditRow
from vmsd.store.events import EventStore

AUDIT = "/api/v1/audit"


def audit_of(api: Api) -> AuditLog:
    return api.app[SERVICES].audit


async def rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM audit_log ORDER BY id")


async def test_two_pools_appending_at_once_keep_one_chain(
    database_dsn: str, db_pool: asyncpg.Pool
) -> None:
    other = await asyncpg.create_pool(database_dsn, min_size=1, max_size=5)
    assert other is not None
    try:
        boxes = [AuditLog(AuditStore(pool), Metrics()) for pool in (db_pool, other)]
        writes = [
            box.record(f"token:box{b}", "camera.update", "ok", target=f"camera:c{n}")
            for n in range(40)
            for b, box in enumerate(boxes)
        ]
        assert all(await asyncio.gather(*writes))
        count, broken = await boxes[1].verify()
        assert (count, broken) == (80, None)
        stored = await rows(db_pool)
        assert Counter(r["principal"] for r in stored) == {"token:box0": 40, "token:box1": 40}
        for before, after in itertools.pairwise(stored):
            assert after["prev_hash"] == before["hash"]
    finally:
        await other.close()


async def test_what_is_stored_is_what_was_hashed(db_pool: asyncpg.Pool) -> None:
    """Text and details that PostgreSQL would change or refuse are cleaned before the hash,
    so every row read back verifies."""
    audit = AuditLog(AuditStore(db_pool), Metrics())
    odd = {
        "nul": "a\x00b",
        "surrogate": "\ud800",
        "float": 1e16,
        "big": 10**30,
        "nested": {"ü": ["é", True, None, {"deep": 1}]},
        "when": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert await audit.record(
        "user:\x00x", "camera.create", "ok", target="camera:\ud800", details=odd
    )
    assert await audit.record("anonymous", "auth.login", "401 unauthorized", details={})
    count, broken = await audit.verify()
    assert (count, broken) == (2, None)


async def test_the_table_refuses_updates_and_deletes(db_pool: asyncpg.Pool) -> None:
    audit = AuditLog(AuditStore(db_pool), Metrics())
    assert await audit.record("system", "config.reload", "ok")
    for statement in ("UPDATE audit_log SET result = 'x'", "DELETE FROM audit_log",
                      "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await db_pool.execute(statement)


def _path(route_path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", route_path)


async def test_every_audited_route_writes_its_row(api: Api, db_pool: asyncpg.Pool) -> None:
    """The routes come from the table the app is built from, so a new route with an action
    is covered without touching this test. Each is called as an admin (most then fail their
    validation or find nothing: a 4xx writes a row too) and without a token (401)."""
    audited = [r for r in all_routes() if r.action is not None]
    assert {"token.create", "camera.delete", "recording.download", "export.download"} <= {
        r.action for r in audited
    }
    for route in audited:
        for who in ("admin", "none"):
            headers = {**api.headers(who), "X-Request-ID": f"{who}-{route.action}"}
            kwargs: dict[str, object] = {"headers": headers}
            if route.method in ("POST", "PATCH", "PUT"):
                kwargs["json"] = {}
            url = api.url + _path(route.path)
            async with api.session.request(route.method, url, **kwargs) as resp:
                status = resp.status
            stored = await db_pool.fetch(
                "SELECT * FROM audit_log WHERE request_id = $1", f"{who}-{route.action}"
            )
            label = f"{route.method} {route.path} as {who} ({status})"
            assert len(stored) == 1, label
            row = stored[0]
            assert row["action"] == route.action, label
            # An open route (a signed link: the token is its credential) reads no bearer token.
            authenticated = who == "admin" and route.role is not None
            assert row["principal"] == ("token:test-admin" if authenticated else "anonymous")
            assert row["client_ip"] == "127.0.0.1"
            if 200 <= status < 300:
                assert row["result"] == "ok", label
            else:
                assert row["result"].startswith(f"{status} "), (label, row["result"])
            if "{token}" in route.path:  # never the link's token: it is the credential
                assert row["target"] == "link", (label, row["target"])
            elif "{" in route.path:
                assert row["target"].endswith(":999999"), (label, row["target"])
    assert await audit_of(api).verify() == (2 * len(audited), None)


async def test_results_targets_and_details(api: Api, db_pool: asyncpg.Pool) -> None:
    admin = api.headers("admin")
    async with api.session.post(
        api.url + "/api/v1/tokens",
        json={"name": "grafana", "role": "viewer", "cameras": ["*"]},
        headers=admin,
    ) as resp:
        assert resp.status == 201
        token_id = (await resp.json())["id"]
    async with api.session.delete(
        api.url + f"/api/v1/tokens/{token_id}", headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 403
    span = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "camera": "a"}
    async with api.session.delete(
        api.url + "/api/v1/recordings", params=span, headers=admin
    ) as resp:
        assert resp.status == 200
    stored = await rows(db_pool)
    created, refused, deleted = stored[-3:]
    assert (created["action"], created["result"]) == ("token.create", "ok")
    assert created["target"] == f"token:{token_id}"
    assert json.loads(created["details"]) == {"name": "grafana", "role": "viewer", "cameras": ["*"]}
    assert (refused["principal"], refused["result"]) == ("token:test-viewer", "403 forbidden")
    assert refused["target"] == f"token:{token_id}"
    assert json.loads(deleted["details"]) == {"query": span}


async def _fill(pool: asyncpg.Pool, start: datetime) -> None:
    clock = iter(start + timedelta(minutes=n) for n in range(100))
    filled = AuditLog(AuditStore(pool), Metrics(), clock=lambda: next(clock))
    for n in range(30):
        who = "user:alice" if n % 3 else "token:ci"
        action = "camera.delete" if n % 2 else "camera.update"
        await filled.record(who, action, "ok", target=f"camera:c{n % 5}", request_id=f"=r{n}")


async def test_filters_and_cursors(api: Api, db_pool: asyncpg.Pool) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    await _fill(db_pool, start)
    admin = api.headers("admin")

    async def page(**params: str) -> dict[str, object]:
        async with api.session.get(api.url + AUDIT, params=params, headers=admin) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()  # type: ignore[no-any-return]

    seen: list[int] = []
    params = {"limit": "7"}
    while True:
        body = await page(**params)
        seen += [item["id"] for item in body["items"]]  # type: ignore[index, union-attr]
        if body["next_cursor"] is None:
            break
        params = {"limit": "7", "cursor": str(body["next_cursor"])}
    assert seen == sorted(seen, reverse=True) and len(seen) == 30 == len(set(seen))

    alice = await page(principal="user:alice", action="camera.delete", limit="100")
    items = alice["items"]
    assert isinstance(items, list) and len(items) == 10
    assert {(i["principal"], i["action"]) for i in items} == {("user:alice", "camera.delete")}
    target = (await page(target="camera:c0"))["items"]
    assert isinstance(target, list) and {i["target"] for i in target} == {"camera:c0"}
    window = await page(
        start=(start + timedelta(minutes=10)).isoformat(),
        end=(start + timedelta(minutes=20)).isoformat(),
    )
    times = [datetime.fromisoformat(i["time"]) for i in window["items"]]  # type: ignore[union-attr]
    assert len(times) == 10
    assert min(times) == start + timedelta(minutes=10)
    assert max(times) < start + timedelta(minutes=20)

    for bad in ({"cursor": "bm90LWEtY3Vyc29y"}, {"start": "yesterday"}, {"format": "xml"},
                {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}):
        async with api.session.get(api.url + AUDIT, params=bad, headers=admin) as resp:
            assert resp.status == 422, bad
    async with api.session.get(api.url + AUDIT, headers=api.headers("operator")) as resp:
        assert resp.status == 403


async def test_csv_and_jsonl_exports(api: Api, db_pool: asyncpg.Pool) -> None:
    await _fill(db_pool, datetime(2026, 12, 1, tzinfo=UTC))
    admin = api.headers("admin")
    params = {"format": "jsonl", "limit": "1", "principal": "token:ci"}
    async with api.session.get(api.url + AUDIT, params=params, headers=admin) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/x-ndjson"
        assert re.fullmatch(
            r'attachment; filename="vmsd-audit-\d{8}-\d{6}\.jsonl"',
            resp.headers["Content-Disposition"],
        )
        assert resp.headers["X-Request-ID"]
        lines = (await resp.text()).splitlines()
    exported = [json.loads(line) for line in lines]
    assert len(exported) == 10  # every match, limit notwithstanding
    assert [e["id"] for e in exported] == sorted(e["id"] for e in exported)
    assert {e["principal"] for e in exported} == {"token:ci"}

    async with api.session.get(api.url + AUDIT, params={"format": "csv"}, headers=admin) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/csv"
        assert resp.headers["Content-Disposition"].endswith('.csv"')
        table = list(csv.DictReader(io.StringIO(await resp.text())))
    assert len(table) == 30
    assert list(table[0]) == ["id", "time", "principal", "client_ip", "action", "target",
                              "result", "request_id", "details", "prev_hash", "hash"]
    assert table[0]["request_id"] == "'=r0"  # a formula-like cell is defused
    assert table[5]["details"] == "{}"


async def test_an_exported_copy_verifies_by_itself(
    api: Api, db_pool: asyncpg.Pool
) -> None:
    """A JSON Lines export has everything verify needs: the copy is checked offline."""
    await _fill(db_pool, datetime(2026, 12, 1, tzinfo=UTC))
    async with api.session.get(
        api.url + AUDIT, params={"format": "jsonl"}, headers=api.headers("admin")
    ) as resp:
        exported = [json.loads(line) for line in (await resp.text()).splitlines()]
    links = [
        AuditRow(
            e["id"],
            AuditEntry(
                datetime.fromisoformat(e["time"]), e["principal"], e["client_ip"], e["action"],
                e["target"], e["result"], e["request_id"], e["details"],
            ),
            bytes.fromhex(e["prev_hash"]),
            bytes.fromhex(e["hash"]),
        )
        for e in exported
    ]
    assert verify(links) is None
    del links[3]
    broken = verify(links)
    assert broken is not None and broken.id == exported[4]["id"]


async def test_a_failed_write_is_logged_and_counted_and_the_answer_stands(
    api: Api, db_pool: asyncpg.Pool
) -> None:
    await db_pool.execute(
        """CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'disk full'; END; $$;
           CREATE TRIGGER refuse BEFORE INSERT ON audit_log EXECUTE FUNCTION refuse();"""
    )
    registry = api.app[SERVICES].metrics.registry
    name = "vmsd_audit_write_failures_total"
    before = registry.get_sample_value(name)
    with capture_logs() as logs:
        async with api.session.post(
            api.url + "/api/v1/tokens", json={"name": "kept", "role": "viewer"},
            headers=api.headers("admin"),
        ) as resp:
            assert resp.status == 201
    assert registry.get_sample_value(name) == (before or 0) + 1
    failed = [e for e in logs if e["event"] == "audit_write_failed"]
    assert len(failed) == 1
    assert failed[0]["audit_action"] == "token.create" and failed[0]["result"] == "ok"
    assert await db_pool.fetchval("SELECT count(*) FROM api_tokens WHERE name = 'kept'") == 1


async def test_every_reload_is_a_row(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}))
    metrics = Metrics()
    audit = AuditLog(AuditStore(db_pool), metrics)
    events = EventBus(EventStore(db_pool), tmp_path / "journal.jsonl", metrics)
    reloader = Reloader(ConfigHolder(load_config(path), path), SystemdNotifier({}), metrics)
    await reloader.reload(events, audit)
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "nonsense": 1}))
    await reloader.reload(events, audit)
    ok, failed = await rows(db_pool)
    assert (ok["principal"], ok["action"], ok["result"]) == ("system", "config.reload", "ok")
    assert (failed["action"], failed["result"]) == ("config.reload", "failed")
    assert any("nonsense" in p for p in json.loads(failed["details"])["problems"])
