"""One camera's storage, pid-file or fsync failure is that camera's alone: classified (disk_full,
storage_unavailable, cannot_start), backed off and retried, never a crash of the fleet and never
an FFmpeg left recording untracked. Pure classification first, then FfmpegRun with the real
FFmpeg, then the fleet in-process (real FFmpeg, real database) on real filesystems: a storage
root removed under a running recorder, a pid dir that cannot be written, and a tmpfs that fills
up (mounted by the test, as root)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil
import pytest

from tests.conftest import ffmpeg_binary
from tests.faults import MountError, fill_until_enospc, tmpfs
from tests.recording_harness import Recording, recording
from vmsd.cameras.state import CameraState
from vmsd.config.cameras import CameraConfig
from vmsd.config.recording import SegmentFormat
from vmsd.recorder.ffmpeg import RecorderInput, SegmentSpec, build_recorder_argv
from vmsd.recorder.fleet import PID_DIR_NAME
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.model import RecorderState
from vmsd.recorder.run import ClosedSegment, FfmpegRun
from vmsd.recorder.storage import (
    DISK_FULL,
    MIN_RESUME_FREE_BYTES,
    STORAGE_UNAVAILABLE,
    PidFileError,
    StorageError,
    StorageFault,
    ensure_date_dirs,
    has_space,
    resume_free_bytes,
    storage_fault,
    storage_ready,
)
from vmsd.retention.metrics import RetentionMetrics

SYNTHETIC = "test://?size=320x240&fps=10"
GUARD_S = 20.0  # a bound on waits for what must happen, not a measured time


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


# --- classification (pure) ------------------------------------------------------------------

SEG = Path("/srv/a/cam/2026-01-01/10-00-00.mp4")
PIDS = Path("/var/lib/vmsd/recorders")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (StorageError(SEG, _os_error(errno.ENOSPC)), DISK_FULL),
        (StorageError(SEG, _os_error(errno.EDQUOT)), DISK_FULL),
        (StorageError(SEG, _os_error(errno.EIO)), STORAGE_UNAVAILABLE),
        (StorageError(SEG, _os_error(errno.ENOENT)), STORAGE_UNAVAILABLE),
        # Inside a run's TaskGroup, wrapped once or twice.
        (ExceptionGroup("run", [StorageError(SEG, _os_error(errno.EIO))]), STORAGE_UNAVAILABLE),
        (
            ExceptionGroup("run", [ExceptionGroup("g", [StorageError(SEG, _os_error(28))])]),
            DISK_FULL,
        ),
        # A full disk wins over the other faults of the same failure.
        (
            ExceptionGroup(
                "run",
                [
                    StorageError(SEG, _os_error(errno.ENOENT)),
                    StorageError(SEG, _os_error(errno.ENOSPC)),
                ],
            ),
            DISK_FULL,
        ),
        (PidFileError(PIDS, _os_error(errno.ENOSPC)), DISK_FULL),
        # Not storage faults: a pid dir that is a file, a spawn failure, a bug.
        (PidFileError(PIDS, _os_error(errno.EEXIST)), None),
        (_os_error(errno.ENOSPC), None),
        (ExceptionGroup("run", [ValueError("bug")]), None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_storage_fault_of_an_error(error: Exception, expected: str | None) -> None:
    fault = storage_fault(error)
    assert (fault.reason if fault else None) == expected


def test_storage_fault_names_the_path() -> None:
    fault = storage_fault(ExceptionGroup("run", [PidFileError(PIDS, _os_error(errno.ENOSPC))]))
    assert fault == StorageFault(DISK_FULL, PIDS, f"{PIDS}: {os.strerror(errno.ENOSPC)}")


@pytest.mark.parametrize(
    ("bytes_per_s", "segment_s", "expected"),
    [
        (None, 60, MIN_RESUME_FREE_BYTES),
        (1000.0, 2, MIN_RESUME_FREE_BYTES),
        (550_000.0, 2, 2_200_000),
        (2_000_000.0, 60, 240_000_000),
    ],
)
def test_resume_waits_for_two_segments_of_space(
    bytes_per_s: float | None, segment_s: int, expected: int
) -> None:
    assert resume_free_bytes(bytes_per_s, segment_s) == expected


def test_date_dirs_are_made_below_the_root_never_the_root(tmp_path: Path) -> None:
    camera_dir = tmp_path / "root" / "cam"
    with pytest.raises(StorageError) as caught:
        ensure_date_dirs(camera_dir)
    assert caught.value.error.errno == errno.ENOENT
    assert not (tmp_path / "root").exists()
    assert not storage_ready(camera_dir)
    (tmp_path / "root").mkdir()
    assert storage_ready(camera_dir)
    ensure_date_dirs(camera_dir)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert (camera_dir / today).is_dir()
    # The root turned into a file: not ready, and mkdir says so as a StorageError.
    shutil.rmtree(tmp_path / "root")
    (tmp_path / "root").write_text("not a directory")
    assert not storage_ready(camera_dir)
    with pytest.raises(StorageError):
        ensure_date_dirs(camera_dir)


def test_has_space_looks_at_the_nearest_existing_directory(tmp_path: Path) -> None:
    assert has_space(tmp_path / "gone" / "cam" / "x.mp4", 1)
    assert not has_space(tmp_path, 1 << 62)


# --- FfmpegRun with the real FFmpeg -----------------------------------------------------------


def _run(directory: Path, **callbacks: object) -> FfmpegRun:
    spec = SegmentSpec(directory, 2, SegmentFormat.MP4, audio=False)

    async def on_segment(_segment: ClosedSegment) -> None:
        return None

    async def on_recording() -> None:
        return None

    options: dict[str, object] = {
        "on_segment": on_segment,
        "on_progress": lambda _p: None,
        "on_recording": on_recording,
    }
    options.update(callbacks)
    return FfmpegRun(
        lambda fd: build_recorder_argv(
            ffmpeg_binary(), RecorderInput(SYNTHETIC), spec, fd, description=None
        ),
        stall_s=10.0,
        **options,  # type: ignore[arg-type]
    )


def _gone(pid: int) -> bool:
    """Reaped: no such process (not even a zombie)."""
    return not psutil.pid_exists(pid)


async def test_pid_file_failure_kills_and_reaps_the_ffmpeg_it_started(tmp_path: Path) -> None:
    directory = tmp_path / "root" / "cam"
    (tmp_path / "root").mkdir()
    ensure_date_dirs(directory)
    started: list[int] = []

    def on_started(pid: int) -> None:
        started.append(pid)
        raise PidFileError(tmp_path / "pids", _os_error(errno.EEXIST))

    run = _run(directory, on_started=on_started)
    with pytest.raises(PidFileError):
        await asyncio.wait_for(run.run(), GUARD_S)
    assert len(started) == 1
    assert _gone(started[0]), "FFmpeg must not outlive a pid file that could not be written"
    outcome = run.outcome_after_failure()
    assert outcome is not None and outcome.exit_code is not None


async def test_error_inside_the_run_arrives_as_a_group_and_ffmpeg_is_reaped(
    tmp_path: Path,
) -> None:
    """A callback failing inside the run's TaskGroup (a segment's fsync, say) ends the run with
    an ExceptionGroup, FFmpeg killed and reaped; the file it had open is still reported."""
    directory = tmp_path / "root" / "cam"
    (tmp_path / "root").mkdir()
    ensure_date_dirs(directory)

    async def on_segment(segment: ClosedSegment) -> None:
        raise StorageError(segment.path, _os_error(errno.EIO))

    run = _run(directory, on_segment=on_segment)
    with pytest.raises(ExceptionGroup) as caught:
        await asyncio.wait_for(run.run(), GUARD_S)
    fault = storage_fault(caught.value)
    assert fault is not None and fault.reason == STORAGE_UNAVAILABLE
    assert run.pid is not None and _gone(run.pid)
    outcome = run.outcome_after_failure()
    assert outcome is not None and outcome.unlisted, "the segment it was writing when killed"


# --- the fleet: helpers -----------------------------------------------------------------------


def _names_on_two_roots() -> tuple[str, str]:
    """Two camera names the fleet puts on different roots of two (crc32 % 2, fleet.py)."""
    by_root: dict[int, str] = {}
    for n in range(100):
        by_root.setdefault(zlib.crc32(f"cam-{n}".encode()) % 2, f"cam-{n}")
    return by_root[0], by_root[1]


def _recorders_of(needle: str) -> list[psutil.Process]:
    """Live FFmpeg processes writing under `needle` (zombies are not recording)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(needle in a for a in cmdline):
            found.append(proc)
    return found


def _state(rec: Recording, camera: str) -> RecorderState | None:
    status = rec.fleet.status(camera)
    return status.state if status is not None else None


def _restarts(rec: Recording, camera: str, reason: str) -> float:
    value: float = (
        rec.metrics.group(RecorderMetrics)
        .recorder_restarts.labels(camera=camera, reason=reason)
        ._value.get()
    )
    return value


async def _segments_after(rec: Recording, camera: str, count: int) -> None:
    """`count` more finished segments of `camera` from now."""
    before = rec.metrics.group(RecorderMetrics).segments.labels(camera=camera)._value.get()
    await rec.wait_for(
        lambda: (
            rec.metrics.group(RecorderMetrics).segments.labels(camera=camera)._value.get()
            >= before + count
        ),
        GUARD_S,
    )


# --- the fleet: a storage root vanishes --------------------------------------------------------


@pytest.mark.slow
async def test_vanished_storage_root_degrades_its_camera_alone(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    hit, other = _names_on_two_roots()
    roots = [tmp_path / "disk0", tmp_path / "disk1"]
    hit_root = roots[zlib.crc32(hit.encode()) % 2]
    cameras = [CameraConfig(name=n, source=SYNTHETIC) for n in (hit, other)]
    async with recording(db_pool, tmp_path, cameras, roots=roots, segment_seconds=2) as rec:
        await rec.wait_for(
            lambda: all(_state(rec, n) is RecorderState.RECORDING for n in (hit, other))
        )
        await _segments_after(rec, hit, 1)
        other_status = rec.fleet.status(other)
        assert other_status is not None and other_status.pid is not None

        shutil.rmtree(hit_root)  # under the running FFmpeg
        await rec.wait_for(lambda: _state(rec, hit) is RecorderState.STORAGE_UNAVAILABLE)
        assert not hit_root.exists(), "a vanished root is never recreated by the recorder"
        hit_root.write_text("a file where the root was")  # still no storage
        await asyncio.sleep(3)
        assert _state(rec, hit) is RecorderState.STORAGE_UNAVAILABLE
        assert hit_root.is_file()
        await _segments_after(rec, other, 1)  # the other camera never noticed

        hit_root.unlink()
        hit_root.mkdir()
        back = time.monotonic()
        resumed = await rec.wait_event("recording_resumed", hit, after=back, timeout=GUARD_S)
        assert resumed - back < 5.0, "resumes within a poll or two of the root's return"
        await _segments_after(rec, hit, 1)

        status = rec.fleet.status(other)
        assert status is not None and status.pid == other_status.pid
        assert status.restarts_total == 0
    assert _restarts(rec, hit, STORAGE_UNAVAILABLE) >= 1
    assert _restarts(rec, hit, "crashed") == 0
    assert rec.live.get(hit).state is CameraState.ONLINE, "storage is not the camera's fault"
    assert "camera_offline" not in rec.event_names(hit)
    failed = rec.named("recorder_failed")
    assert failed and {f["reason"] for f in failed} == {STORAGE_UNAVAILABLE}
    assert {f["camera"] for f in failed} == {hit}
    assert rec.event_names(other).count("recorder_started") == 1


@pytest.mark.slow
async def test_unmounted_then_remounted_root_loses_no_segment(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """An unmount, as a rename: FFmpeg finishes the open segment through its descriptor, in
    the directory that went away; once the root is back, that segment is indexed like the
    others (its fsync failed while the path was gone), and every file has its row."""
    hit, other = _names_on_two_roots()
    roots = [tmp_path / "disk0", tmp_path / "disk1"]
    hit_root = roots[zlib.crc32(hit.encode()) % 2]
    away = hit_root.with_name(hit_root.name + ".away")
    cameras = [CameraConfig(name=n, source=SYNTHETIC) for n in (hit, other)]
    async with recording(db_pool, tmp_path, cameras, roots=roots, segment_seconds=2) as rec:
        await rec.wait_for(
            lambda: all(_state(rec, n) is RecorderState.RECORDING for n in (hit, other))
        )
        await _segments_after(rec, hit, 1)
        hit_root.rename(away)
        await rec.wait_for(lambda: _state(rec, hit) is RecorderState.STORAGE_UNAVAILABLE)
        await asyncio.sleep(1)
        away.rename(hit_root)
        back = time.monotonic()
        await rec.wait_event("recording_resumed", hit, after=back, timeout=GUARD_S)
        await _segments_after(rec, hit, 1)
    rows = {r.path for r in await rec.store.for_camera(hit)}
    files = {str(f) for f in (hit_root / hit).glob("*/*.mp4")}
    assert files - rows == set(), "every file the camera wrote has its row"
    assert rows - files == set()


# --- the fleet: the pid file cannot be written -------------------------------------------------


@pytest.mark.slow
async def test_pid_file_failure_leaves_no_orphan_ffmpeg(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    pid_dir = tmp_path / "state" / PID_DIR_NAME
    pid_dir.parent.mkdir(parents=True)
    pid_dir.write_text("a file where the pid directory should be")
    cameras = [CameraConfig(name="cam", source=SYNTHETIC)]
    async with recording(
        db_pool, tmp_path, cameras, root=root, segment_seconds=2, retry_max_seconds=2.0
    ) as rec:
        # Several failed starts: each FFmpeg is gone at once, none keeps recording.
        seen: dict[int, float] = {}
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            for proc in _recorders_of(str(root / "cam")):
                seen.setdefault(proc.pid, now)
                assert now - seen[proc.pid] < 1.0, f"FFmpeg {proc.pid} outlived its pid file"
            await asyncio.sleep(0.05)
        assert _restarts(rec, "cam", "cannot_start") >= 2
        assert _state(rec, "cam") is not RecorderState.RECORDING
        failed = rec.named("recorder_failed")
        assert failed and {f["reason"] for f in failed} == {"cannot_start"}

        pid_dir.unlink()  # the state dir is fixed: recording starts on the next try
        await rec.wait_event("recording_resumed", "cam", timeout=GUARD_S)
        status = rec.fleet.status("cam")
        assert status is not None and status.pid is not None
        assert (pid_dir / "cam.pid").read_text().split()[0] == str(status.pid)
        assert [p.pid for p in _recorders_of(str(root / "cam"))] == [status.pid]
    assert _recorders_of(str(root / "cam")) == []
    assert not (pid_dir / "cam.pid").exists()


# --- the fleet: a disk that fills up -----------------------------------------------------------

DISK_MB = 12
SOURCE_720P = "test://?size=1280x720&fps=15"  # about 0.55 MB/s with libx264 ultrafast


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of DISK_MB MB: a tmpfs (we run as root). Skipped where mounting is not
    permitted, except in CI (CI=true), where it must work."""
    stack = contextlib.ExitStack()
    try:
        disk = stack.enter_context(tmpfs(tmp_path / "disk", DISK_MB))
    except MountError as err:
        reason = f"cannot mount a tmpfs: {err}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: required, not skipped)", pytrace=False)
        pytest.skip(reason)
    with stack:
        yield disk


@pytest.mark.slow
async def test_full_disk_is_disk_full_not_a_crash_and_recording_resumes(
    db_pool: asyncpg.Pool, tmp_path: Path, small_disk: Path
) -> None:
    """Something else fills the disk: the recorder is disk_full (not crashed, the camera not
    offline), retention runs at once and frees space by min_free, and recording resumes."""
    cameras = [CameraConfig(name="cam", source=SOURCE_720P)]
    async with recording(
        db_pool,
        tmp_path,
        cameras,
        root=small_disk,
        segment_seconds=2,
        stall_seconds=6.0,
        # Only a kick runs a pass in this test's time (the interval is an hour); a pass deletes
        # the oldest segments until 35 % is free once free space is under 10 %.
        retention={
            "min_free_percent": 10.0,
            "target_free_percent": 35.0,
            "interval_seconds": 3600,
        },
    ) as rec:
        await rec.wait_for(
            lambda: (
                rec.metrics.group(RecorderMetrics).recorded_bytes.labels(camera="cam")._value.get()
                > 5.5e6
            ),
            40,
        )
        states: set[RecorderState] = set()
        filled = time.monotonic()
        await asyncio.to_thread(fill_until_enospc, small_disk / "filler.bin")
        assert shutil.disk_usage(small_disk).free < MIN_RESUME_FREE_BYTES
        while not rec.event_names("cam").count("recorder_disk_full"):
            assert time.monotonic() - filled < GUARD_S, "no recorder_disk_full"
            if (state := _state(rec, "cam")) is not None:
                states.add(state)
            await asyncio.sleep(0.05)
        full_at = await rec.wait_event("recorder_disk_full", "cam", after=filled)
        while not any(
            n == "recording_resumed" and t >= full_at
            for t, n, d in rec.events
            if d.get("camera") == "cam"
        ):
            assert time.monotonic() - full_at < GUARD_S, "recording did not resume"
            if (state := _state(rec, "cam")) is not None:
                states.add(state)
            await asyncio.sleep(0.05)
        await _segments_after(rec, "cam", 2)
    assert RecorderState.DISK_FULL in states
    assert _restarts(rec, "cam", DISK_FULL) >= 1
    assert _restarts(rec, "cam", "crashed") == 0
    assert "camera_offline" not in rec.event_names("cam")
    assert "recorder_failed" not in rec.event_names("cam")
    assert rec.live.get("cam").state is CameraState.ONLINE
    deleted = rec.metrics.group(RetentionMetrics).retention_deleted_segments.labels(
        camera="cam", rule="min_free"
    )
    assert deleted._value.get() > 0
    assert (small_disk / "filler.bin").exists(), "retention deletes recordings, nothing else"
    # Every row has its file and every file its row.
    assert await rec.store.paths() == rec.all_files()
