"""The served OpenAPI document against the real daemon: schemathesis generates requests from
it (valid and invalid ones) and checks every response with all of its checks -- no server
error, documented status codes, content types and headers, response bodies matching their
schemas, valid data accepted and invalid data rejected.

The daemon is the real one (embedded PostgreSQL, two synthetic test-pattern cameras from the
config file, MediaMTX off), with real recordings and a finished export whose ids
schemathesis mixes into the ids it draws, so the operations on one reach their real work
instead of stopping at 404.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from schemathesis.core.warnings import SchemathesisWarning

from tests.conftest import ffmpeg_binary
from tests.daemon_client import until
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.e2e.schemathesis_hooks import API_CAMERA as API_CAMERA_BODY
from tests.e2e.schemathesis_hooks import LINKS_ENV

pytestmark = pytest.mark.slow

# Per operation and phase: enough for the coverage phase's boundary cases and a fuzzing pass
# over each parameter, within a few minutes on a 2-core box.
MAX_EXAMPLES = 30
RUN_TIMEOUT_S = 540
# A new event-stream client is sent only new events: the stream is read this long, then cut.
STREAM_READ_S = 1.0
CAMERAS = ("demo-1", "demo-2")
API_CAMERA = API_CAMERA_BODY["name"]
FAIL_ON_WARNINGS = [
    w.value for w in SchemathesisWarning if w != SchemathesisWarning.VALIDATION_MISMATCH
]
CAMERA_BODIES = (
    "POST /api/v1/cameras",
    "PATCH /api/v1/cameras/{name}",
    "POST /api/v1/probe",  # a source checked by the rules of a camera's
)
# The password rules beyond its length (not containing the name, not a common password).
USER_BODIES = ("POST /api/v1/users", "POST /api/v1/users/{name}/password")
USER = "schemathesis-user"  # has a session; never drawn for a deletion
DOOMED_USER = "schemathesis-doomed"  # the one DELETE /api/v1/users/{name} may remove
# schemathesis' own default for "valid data accepted"
POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


@dataclass
class Fixture:
    daemon: DaemonProcess
    token: str
    recording_ids: list[int]
    export_id: int
    # Shareable links to recordings outside `recording_ids`: no DELETE schemathesis sends
    # with a known id removes them, so a valid token opens a file.
    link_tokens: list[str]
    session_id: int


def _api(daemon: DaemonProcess, token: str, method: str, path: str, body: Any = None) -> Any:
    return daemon.request(method, path, body=body, token=token).ok()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Fixture]:
    config = write_config(
        tmp_path,
        ffmpeg={"binary": ffmpeg_binary()},
        # Short segments: recordings to test within seconds. A snapshot or a probe of a
        # camera that does not answer gives up well inside schemathesis' request timeout.
        recording={
            "segment_seconds": 2,
            "snapshot_timeout_seconds": 3,
            "probe_timeout_seconds": 3,
        },
        cameras=[
            {"name": name, "source": "test://?size=320x240&fps=10", "description": "test"}
            for name in CAMERAS
        ],
        log={"level": "info", "format": "json"},
    )
    token = create_token(config, "schemathesis", "admin")
    daemon = DaemonProcess(config)
    daemon.start().wait_ready()
    try:
        now = datetime.now(UTC)
        hour = timedelta(hours=1)
        span = urlencode({"start": (now - hour).isoformat(), "end": (now + hour).isoformat()})

        def recordings() -> list[dict[str, Any]]:
            items = _api(daemon, token, "GET", f"/api/v1/recordings?{span}")["items"]
            return items if {i["camera"] for i in items} == set(CAMERAS) else []

        items = until("recordings of both cameras", recordings, every_s=0.5)
        first = items[0]
        job = _api(
            daemon,
            token,
            "POST",
            "/api/v1/exports",
            {"camera": first["camera"], "start": first["start"], "end": first["end"]},
        )
        until(
            "a finished export",
            lambda: _api(daemon, token, "GET", f"/api/v1/exports/{job['id']}")["state"] == "done",
            every_s=0.5,
        )
        # One camera that is the API's (the config file's are read-only: 409), not recording,
        # so PATCH and DELETE reach their work.
        _api(daemon, token, "POST", "/api/v1/cameras", API_CAMERA_BODY)
        known = {i["id"] for i in items}
        shared = until(
            "a recording newer than those",
            lambda: [i for i in recordings() if i["id"] not in known],
            every_s=0.5,
        )
        links = [
            _api(daemon, token, "POST", f"/api/v1/recordings/{i['id']}/link", {"expires_in": "1h"})
            for i in shared
        ]
        link_tokens = [link["path"].rsplit("/", 1)[1] for link in links]
        # A user with a session, so the user routes reach their work too.
        password = {"password": "correct horse battery"}
        for name in (USER, DOOMED_USER):
            user = {"name": name, "role": "viewer", **password}
            _api(daemon, token, "POST", "/api/v1/users", user)
        daemon.login(USER, password["password"])
        [session] = _api(daemon, token, "GET", f"/api/v1/users/{USER}/sessions")
        yield Fixture(
            daemon, token, [i["id"] for i in items], job["id"], link_tokens, session["id"]
        )
        assert daemon.stop() == 0, daemon.log_text()[-5000:]
    finally:
        daemon.close()


def _toml(value: Any) -> str:
    return json.dumps(value)  # TOML's basic strings, arrays and numbers are JSON's


def _config(fx: Fixture, report: Path) -> str:
    """schemathesis.toml: every check, stateless phases, ids from the fixture mixed in."""
    lines = [
        f"base-url = {_toml(fx.daemon.url)}",
        "workers = 2",
        "continue-on-failure = true",
        "request-timeout = 10",
        'hooks = "tests.e2e.schemathesis_hooks"',
        # Every warning fails the run but validation_mismatch, which the test itself allows
        # for the camera and user bodies only (see below).
        f'warnings = {{ "fail-on" = {_toml(FAIL_ON_WARNINGS)} }}',
        "[headers]",
        f'Authorization = {_toml("Bearer " + fx.token)}',
        "[checks]",
        "enabled = true",
        "[phases]",
        'examples = { enabled = true }',
        'coverage = { enabled = true }',
        'fuzzing = { enabled = true }',
        'stateful = { enabled = false }',
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "[reports.json]",
        "enabled = true",
        f"path = {_toml(str(report))}",
        "[dictionaries.recordings]",
        f"values = {_toml(fx.recording_ids)}",
        "[dictionaries.exports]",
        f"values = {_toml([fx.export_id])}",
        "[dictionaries.cameras]",
        f"values = {_toml([*CAMERAS, API_CAMERA])}",
        "[dictionaries.users]",
        f"values = {_toml([USER])}",
        "[dictionaries.doomed]",
        f"values = {_toml([DOOMED_USER])}",
        "[dictionaries.sessions]",
        f"values = {_toml([fx.session_id])}",
    ]
    # The user with the session is never deleted, so its session stays there to end.
    user = '"path.name" = { dictionary = "users", probability = 0.5 }'
    for operation, parameters in (
        ("GET /api/v1/users/{name}", user),
        ("PATCH /api/v1/users/{name}", user),
        ("DELETE /api/v1/users/{name}", user.replace('"users"', '"doomed"')),
        ("POST /api/v1/users/{name}/password", user),
        ("GET /api/v1/users/{name}/sessions", user),
        ("DELETE /api/v1/users/{name}/sessions", user),
        (
            "DELETE /api/v1/users/{name}/sessions/{id}",
            f'{user}, "path.id" = {{ dictionary = "sessions", probability = 0.5 }}',
        ),
    ):
        lines += [
            "[[operations]]",
            f"include-name = {_toml(operation)}",
            f"parameters = {{ {parameters} }}",
        ]
    for path_regex, dictionary in (
        ("^/api/v1/recordings/", "recordings"),
        ("^/api/v1/exports/", "exports"),
        ("^/api/v1/cameras/", "cameras"),
    ):
        name = "path.name" if dictionary == "cameras" else "path.id"
        binding = f'{{ dictionary = "{dictionary}", probability = 0.5 }}'
        lines += [
            "[[operations]]",
            f"include-path-regex = {_toml(path_regex)}",
            f"parameters = {{ {_toml(name)} = {binding} }}",
        ]
    lines += [
        "[[operations]]",
        'include-path = "/api/v1/events/stream"',
        f"request-timeout = {STREAM_READ_S}",
        # Revoking a token could revoke this run's own (ids are drawn from 1 up, and it is
        # token 1): every later request would then be a 401 and test nothing. Revocation is
        # tested over HTTP in tests/integration (test_api.py, test_api_integers.py).
        "[[operations]]",
        'include-name = "DELETE /api/v1/tokens/{id}"',
        "enabled = false",
    ]
    lines += [
        # A camera that gives no picture, or none in time, is the documented 503 / 504 of a
        # snapshot: the daemon works, the camera (a publisher with MediaMTX off, a made-up
        # URL) does not. Any other 5xx there is still a failure.
        "[[operations]]",
        'include-name = "GET /api/v1/cameras/{name}/snapshot"',
        "[operations.checks.not_a_server_error]",
        f"expected-statuses = {_toml(['2xx', '3xx', '4xx', '503', '504'])}",
    ]
    # A probe body is a camera's source, username, password...: the same rules, below.
    # A camera body's rules between its fields (credentials either in the source URL or as
    # username/password, both halves or neither, none for test://) and the source URL's own
    # grammar (a host, a port for srt:// and udp+mpegts://, test://'s size and fps) are
    # beyond JSON Schema: the document states a superset (the schemes, no spaces, publisher
    # needs credentials) and a schema-valid camera can be a 422 naming the rule. So for these
    # two, a 422 counts as an answer to valid data and "mostly rejected" is no failure. Every
    # other check -- no server error, invalid data rejected, responses as documented --
    # still applies to them.
    # A user body or a new password likewise (USER_BODIES).
    accepted = [*POSITIVE_ACCEPTED, "422"]
    for operation in (*CAMERA_BODIES, *USER_BODIES):
        lines += [
            "[[operations]]",
            f"include-name = {_toml(operation)}",
            "[operations.checks.positive_data_acceptance]",
            f"expected-statuses = {_toml(accepted)}",
        ]
    return "\n".join(lines) + "\n"


# The run itself is bounded by RUN_TIMEOUT_S; pytest's default 120 s is shorter than a run of
# every operation on a loaded 2-core box (57 operations now).
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_openapi_document_holds_against_the_real_daemon(running: Fixture, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(running, report))
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(config),
            "run", running.daemon.url + "/api/v1/openapi.json",
        ],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
        cwd=Path(__file__).parents[2],  # the hooks module is imported from the repository
        env={**os.environ, LINKS_ENV: json.dumps(running.link_tokens)},
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    run = json.loads(report.read_text())
    served = sum(1 for e in running.daemon.log_events() if e.get("event") == "http_request")
    print(  # the figures, shown with -s
        f"schemathesis: {run['operations']['tested']}/{run['operations']['total']} operations, "
        f"{run['test_cases']['generated']} test cases, {served} requests served, "
        f"{len(run['failures'])} failures, {elapsed:.0f} s"
    )
    tail = output[-20000:]
    assert result.returncode == 0, tail
    assert run["failures"] == [] and run["errors"] == [], tail
    assert run["operations"]["skipped"] == 0 and run["operations"]["errored"] == 0, tail
    # Only the one operation disabled above is left out.
    assert run["operations"]["tested"] == run["operations"]["total"] - 1, tail
    # Unresolvable references, missing test data...: none; validation_mismatch for the
    # camera and user bodies only.
    warned = {name: ops for name, ops in run["warnings"].items() if ops}
    if set(warned.get("validation_mismatch", [])) <= {*CAMERA_BODIES, *USER_BODIES}:
        warned.pop("validation_mismatch", None)
    assert not warned, tail
