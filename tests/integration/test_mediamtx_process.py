"""MediaMTX supervision, driven by a small child program that prints MediaMTX-style lines.

No MediaMTX binary is needed: the child (`fake-mtx`, a Python script) reads a JSON spec from
the "config path" it is given: the lines to print, then exit with a code, or run until SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from vmsd.cameras.live import LiveCameras
from vmsd.cameras.model import camera_from_config
from vmsd.cameras.state import CameraState, CameraStates
from vmsd.config.schema import CameraConfig
from vmsd.core.backoff import Backoff
from vmsd.core.metrics import Metrics
from vmsd.mediamtx.process import (
    MediaMtxProcess,
    mediamtx_version,
    parse_mediamtx_log_line,
    resolve_mediamtx_binary,
)
from vmsd.mediamtx.source_log import SOURCE_READY, SourceReports

FAKE_MTX = """\
#!{python} -S
import json, os, signal, subprocess, sys, time

spec = json.load(open(sys.argv[1]))

def on_sigint(_signum, _frame):
    print("2025/01/31 12:00:09 INF [core] waiting for running hooks", flush=True)
    sys.exit(0)

signal.signal(signal.SIGINT, on_sigint)
for line in spec.get("lines", []):
    print(line, flush=True)
for line in spec.get("stderr", []):
    print(line, file=sys.stderr, flush=True)
for i, batch in enumerate(spec.get("batches", [])):  # each once the test creates <config>.<i>
    while not os.path.exists(f"{{sys.argv[1]}}.{{i}}"):
        time.sleep(0.01)
    for line in batch:
        print(line, flush=True)
if spec.get("hook"):
    # like a runOn* hook: own process group, MediaMTX's stdout inherited, outlives MediaMTX
    hook = subprocess.Popen(
        [sys.executable, "-S", "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    print(f"hook pid {{hook.pid}}", flush=True)
if "exit" in spec:
    sys.exit(spec["exit"])
print("2025/01/31 12:00:00 INF [RTSP] listener opened on :8554 (TCP)", flush=True)
while True:
    time.sleep(1)
"""

NO_JITTER = Backoff(initial_s=1.0, max_s=8.0, factor=2.0, jitter=0.0, reset_after_s=60.0)


def write_script(path: Path, body: str) -> Path:
    path.write_text(body.format(python=sys.executable))
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_mtx(tmp_path: Path) -> Path:
    return write_script(tmp_path / "fake-mtx", FAKE_MTX)


def spec_file(tmp_path: Path, **spec: Any) -> Path:
    path = tmp_path / "mediamtx.yml"
    path.write_text(json.dumps(spec))
    return path


class FakeSleep:
    """Records each backoff delay and returns at once; from the `block_at`-th wait on it
    waits until cancelled (or until kick() ends the wait)."""

    def __init__(self, block_at: int) -> None:
        self.delays: list[float] = []
        self.block_at = block_at
        self.blocked = asyncio.Event()

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        if len(self.delays) >= self.block_at:
            self.blocked.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)


class Events:
    def __init__(self) -> None:
        self.ups: list[bool] = []
        self.restarts: list[int | None] = []


def make(
    binary: Path | str, config: Path, sleep: FakeSleep, **kwargs: Any
) -> tuple[MediaMtxProcess, Events]:
    events = Events()
    mtx = MediaMtxProcess(
        str(binary),
        config,
        backoff=kwargs.pop("backoff", NO_JITTER),
        on_up=events.ups.append,
        on_restart=events.restarts.append,
        sleep=sleep,
        **kwargs,
    )
    return mtx, events


@contextlib.asynccontextmanager
async def running(mtx: MediaMtxProcess) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(mtx.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled():
            task.result()  # run() must only ever end by cancellation


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def forwarded(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "mediamtx_log"]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "2025/01/31 12:00:00 INF [RTSP] listener opened on :8554 (TCP)",
            ("INF", "RTSP", "listener opened on :8554 (TCP)"),
        ),
        (
            "2025/01/31 12:00:00 WAR [path cam1] [RTSP source] EOF",
            ("WAR", "path cam1", "[RTSP source] EOF"),
        ),
        ("2025/01/31 12:00:00 ERR [conf] bad key", ("ERR", "conf", "bad key")),
        ("2025/01/31 12:00:00 DEB [HLS] [muxer cam1] x", ("DEB", "HLS", "[muxer cam1] x")),
        ("2025/01/31 12:00:00 INF MediaMTX v1.20.1", ("INF", "", "MediaMTX v1.20.1")),
        ("2025/01/31 12:00:00.123456 INF [API] up", ("INF", "API", "up")),
        ("panic: runtime error: index out of range", None),
        ("2025/01/31 12:00:00 XYZ [RTSP] what", None),
        ("", None),
    ],
)
def test_parse_mediamtx_log_line(line: str, expected: tuple[str, str, str] | None) -> None:
    assert parse_mediamtx_log_line(line) == expected


async def test_log_lines_forwarded_with_level_and_component(tmp_path: Path, fake_mtx: Path) -> None:
    config = spec_file(
        tmp_path,
        lines=[
            "2025/01/31 12:00:00 DEB [HLS] muxer created",
            "2025/01/31 12:00:00 INF [RTSP] listener opened on :8554 (TCP)",
            "2025/01/31 12:00:00 WAR [path cam1] [RTSP source] EOF",
            "2025/01/31 12:00:00 ERR [conf] invalid key",
            "goroutine 1 [running]:",
        ],
        stderr=["2025/01/31 12:00:00 INF [API] from stderr"],
        exit=1,
    )
    mtx, events = make(fake_mtx, config, FakeSleep(block_at=1))
    with structlog.testing.capture_logs() as logs:
        async with running(mtx):
            await until(lambda: events.restarts == [1])
    got = [
        (e["log_level"], e.get("mediamtx_level"), e.get("component"), e["message"])
        for e in forwarded(logs)
    ]
    assert got == [
        ("debug", "DEB", "HLS", "muxer created"),
        ("info", "INF", "RTSP", "listener opened on :8554 (TCP)"),
        ("warning", "WAR", "path cam1", "[RTSP source] EOF"),
        ("error", "ERR", "conf", "invalid key"),
        ("info", None, None, "goroutine 1 [running]:"),
        ("info", "INF", "API", "from stderr"),
    ]
    (exited,) = [e for e in logs if e["event"] == "mediamtx_exited"]
    assert exited["log_level"] == "warning"
    assert exited["exit_code"] == 1
    assert exited["tail"][-1] == "2025/01/31 12:00:00 INF [API] from stderr"
    assert len(exited["tail"]) == 6
    assert events.ups == [True, False]


@pytest.mark.parametrize("code", [0, 1])
async def test_restarts_after_any_exit_with_backoff(
    tmp_path: Path, fake_mtx: Path, code: int
) -> None:
    config = spec_file(tmp_path, lines=["2025/01/31 12:00:00 ERR [conf] bad"], exit=code)
    sleep = FakeSleep(block_at=4)
    mtx, events = make(fake_mtx, config, sleep)
    with structlog.testing.capture_logs() as logs:
        async with running(mtx):
            await asyncio.wait_for(sleep.blocked.wait(), 10)
            assert mtx.pid is None
    assert sleep.delays == [1.0, 2.0, 4.0, 8.0]
    assert events.restarts == [code] * 4
    assert mtx.restarts == 4
    assert events.ups == [True, False] * 4
    exited = [e for e in logs if e["event"] == "mediamtx_exited"]
    assert [e["exit_code"] for e in exited] == [code] * 4
    assert [e["retry_in_s"] for e in exited] == [1.0, 2.0, 4.0, 8.0]
    assert all(e["tail"] == ["2025/01/31 12:00:00 ERR [conf] bad"] for e in exited)


async def test_healthy_run_resets_backoff(tmp_path: Path, fake_mtx: Path) -> None:
    # clock() is read at each start and each exit: two short runs, then one of 100 s, then a
    # short one again: the healthy run starts a new series (1 s), the next failure doubles
    ticks = iter([0.0, 0.0, 0.0, 0.0, 0.0, 100.0, 100.0, 100.0])
    sleep = FakeSleep(block_at=4)
    mtx, _ = make(fake_mtx, spec_file(tmp_path, exit=1), sleep, clock=lambda: next(ticks))
    async with running(mtx):
        await asyncio.wait_for(sleep.blocked.wait(), 10)
    assert sleep.delays == [1.0, 2.0, 1.0, 2.0]


async def test_kick_skips_the_backoff_wait(tmp_path: Path, fake_mtx: Path) -> None:
    sleep = FakeSleep(block_at=1)  # the first wait would last forever
    mtx, events = make(fake_mtx, spec_file(tmp_path, exit=0), sleep)
    async with running(mtx):
        await asyncio.wait_for(sleep.blocked.wait(), 10)
        assert events.ups == [True, False]
        mtx.kick()
        await until(lambda: events.ups.count(True) >= 2)
        # later waits are not skipped: a kick counts once
        await until(lambda: len(sleep.delays) == 2)
        await asyncio.sleep(0.2)
        assert len(sleep.delays) == 2


async def test_cancellation_stops_and_reaps_the_child(tmp_path: Path, fake_mtx: Path) -> None:
    mtx, events = make(fake_mtx, spec_file(tmp_path), FakeSleep(block_at=1))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(mtx.run())
        await until(lambda: any(e.get("component") == "RTSP" for e in forwarded(logs)))
        pid = mtx.pid
        assert pid is not None
        assert not gone(pid)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert gone(pid)  # stopped and reaped, not a zombie
    assert mtx.pid is None
    (stopped,) = [e for e in logs if e["event"] == "mediamtx_stopped"]
    assert stopped["exit_code"] == 0  # SIGINT: a clean stop
    # the output written while stopping was still forwarded before run() returned
    assert forwarded(logs)[-1]["message"] == "waiting for running hooks"
    assert events.ups == [True]
    assert events.restarts == []


async def test_leftover_hook_holding_the_pipe_does_not_stall_restart(
    tmp_path: Path, fake_mtx: Path
) -> None:
    mtx, events = make(fake_mtx, spec_file(tmp_path, hook=True, exit=1), FakeSleep(block_at=1))
    hook_pids: list[int] = []
    try:
        with structlog.testing.capture_logs() as logs:
            async with running(mtx):
                await until(lambda: events.restarts == [1])
        hook_pids = [
            int(e["message"].split()[-1])
            for e in forwarded(logs)
            if e["message"].startswith("hook pid")
        ]
        assert len(hook_pids) == 1
        assert not gone(hook_pids[0])  # it still holds the pipe; we did not wait for it
    finally:
        for pid in hook_pids:
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("executable", [False, True])
async def test_start_failure_is_retried_not_raised(tmp_path: Path, executable: bool) -> None:
    binary = tmp_path / "missing-mtx"
    if executable:  # exists but cannot be executed: no interpreter behind its shebang
        write_script(binary, "#!/nonexistent/interpreter\n")
    sleep = FakeSleep(block_at=3)
    mtx, events = make(binary, tmp_path / "mediamtx.yml", sleep)
    with structlog.testing.capture_logs() as logs:
        async with running(mtx) as task:
            await asyncio.wait_for(sleep.blocked.wait(), 10)
            assert not task.done()
    failed = [e for e in logs if e["event"] == "mediamtx_start_failed"]
    assert len(failed) == 3
    assert all(e["log_level"] == "error" for e in failed)
    assert events.restarts == [None] * 3
    assert True not in events.ups
    assert sleep.delays == [1.0, 2.0, 4.0]


async def test_camera_passwords_are_redacted(tmp_path: Path, fake_mtx: Path) -> None:
    config = spec_file(
        tmp_path,
        lines=[
            "2025/01/31 12:00:00 WAR [path cam1] [RTSP source] rtsp://admin:hunter2@10.0.0.5/s1",
            "dial rtsp://viewer:hunter2@10.0.0.6:554/x: refused",
        ],
        exit=1,
    )
    mtx, events = make(fake_mtx, config, FakeSleep(block_at=1))
    with structlog.testing.capture_logs() as logs:
        async with running(mtx):
            await until(lambda: events.restarts == [1])
    assert "hunter2" not in repr(logs)
    messages = [e["message"] for e in forwarded(logs)]
    assert messages == [
        "[RTSP source] rtsp://admin:***@10.0.0.5/s1",
        "dial rtsp://viewer:***@10.0.0.6:554/x: refused",
    ]


# MediaMTX's lines for a camera it pulls (formats: vmsd/mediamtx/pathlog.py's sources): two
# tries refused with a 401 (retried every 5 s), the source ready, then the port refused.
SOURCE_BATCHES = [
    [
        "2025/01/31 12:00:01 INF [path cam1] [RTSP source] started",
        "2025/01/31 12:00:01 ERR [path cam1] [RTSP source] bad status code: 401 (Unauthorized)",
    ],
    ["2025/01/31 12:00:06 ERR [path cam1] [RTSP source] bad status code: 401 (Unauthorized)"],
    ["2025/01/31 12:00:11 INF [path cam1] stream is available and online, 1 track (H264)"],
    [
        "2025/01/31 12:01:00 ERR [path cam1] [RTSP source] dial tcp 10.0.0.5:554: connect: "
        "connection refused"
    ],
]


async def test_a_source_failure_in_the_log_becomes_the_camera_s_class(
    tmp_path: Path, fake_mtx: Path
) -> None:
    async def record(_type: str, **_data: Any) -> None:
        return None

    live = LiveCameras(CameraStates(), Metrics(), record)
    source = CameraConfig(name="cam1", source="rtsp://admin:hunter2@10.0.0.5/s1")
    await live.sync({"cam1": camera_from_config(source, "config")})
    reports = SourceReports(live)
    config = spec_file(tmp_path, batches=SOURCE_BATCHES)
    mtx, _ = make(fake_mtx, config, FakeSleep(block_at=1), on_source=reports.put)

    def error() -> tuple[str, int] | None:
        last = live.get("cam1").last_error
        return (last.failure, last.repeats) if last is not None else None

    def step(i: int) -> None:
        Path(f"{config}.{i}").touch()

    applier = asyncio.create_task(reports.run())
    try:
        async with running(mtx):
            step(0)
            await until(lambda: error() == ("unauthorized", 1))
            state = live.get("cam1")
            assert (state.state, state.reason) == (CameraState.OFFLINE, "unauthorized")
            assert state.last_error is not None
            assert state.last_error.message == "[RTSP source] bad status code: 401 (Unauthorized)"
            step(1)
            await until(lambda: error() == ("unauthorized", 2))
            step(2)
            await until(lambda: live.get("cam1").state is CameraState.ONLINE)
            assert live.get("cam1").reason == SOURCE_READY
            assert error() == ("unauthorized", 2)  # the last failure is kept (README)
            step(3)
            await until(lambda: error() == ("refused", 1))
            assert live.get("cam1").reason == "refused"
    finally:
        applier.cancel()
        await asyncio.wait({applier})


async def test_mediamtx_version(tmp_path: Path) -> None:
    ok = write_script(tmp_path / "ok", "#!{python} -S\nprint('v1.20.1')\n")
    failing = write_script(
        tmp_path / "failing", "#!{python} -S\nimport sys\nprint('v1.20.1')\nsys.exit(2)\n"
    )
    silent = write_script(tmp_path / "silent", "#!{python} -S\n")
    assert await mediamtx_version(str(ok)) == "v1.20.1"
    assert await mediamtx_version(str(failing)) is None
    assert await mediamtx_version(str(silent)) is None
    assert await mediamtx_version(str(tmp_path / "missing")) is None


async def test_mediamtx_version_timeout_kills_and_reaps(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    hang = write_script(
        tmp_path / "hang",
        "#!{python} -S\nimport os, sys, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "sys.stdout.flush()\ntime.sleep(30)\n",
    )
    assert await mediamtx_version(str(hang), timeout_s=0.5) is None
    assert gone(int(pid_file.read_text()))


def test_resolve_mediamtx_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = write_script(tmp_path / "mtx-exe", "#!/bin/sh\n")
    plain = tmp_path / "mtx-plain"
    plain.write_text("not executable")
    assert resolve_mediamtx_binary(str(exe)) == exe
    assert resolve_mediamtx_binary(str(plain)) is None
    assert resolve_mediamtx_binary(str(tmp_path)) is None  # a directory
    assert resolve_mediamtx_binary(str(tmp_path / "absent")) is None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resolve_mediamtx_binary("mtx-exe") == exe
    assert resolve_mediamtx_binary("mtx-plain") is None
    assert resolve_mediamtx_binary("absent") is None
