"""Startup reconciliation of the segment index with the files on disk. Nothing is silently
dropped: a file the index does not know is probed and indexed as `recovered`, or moved to a
quarantine folder if nothing in it plays; a row whose file is gone is removed. Each of these
is an event. (Segments waiting in the journal are known: the journal has their real times and
end reasons, and replays them.)

When a recovered segment started. Its name is FFmpeg's strftime of the moment it opened the
file (the first packet of the segment), so it says the start to the second, rounded down. The
files themselves say nothing finer: with `-reset_timestamps 1` every segment's timestamps start
at 0 (ffprobe: format and stream start_time 0), and neither MP4 nor Matroska gets a creation
time. But the recorder writes a segment as it receives it, live: its last write (the file's
mtime) is the arrival of the packet that closed it (the next segment's first, or the next
fragment's, when FFmpeg was killed), so mtime minus the probed duration is the start. Measured
with the real recorder against a 10 fps RTSP camera, closed and SIGKILLed segments alike: within
10 ms of the start the segment list reported. A file whose mtime says otherwise than its name
(copied, touched) falls back to the name.

Placing it among its camera's rows. Rows of segments FFmpeg listed have exact times; a
recovered one must not overlap them, whatever its estimate says. What an operator expects on
the timeline is the recording in one piece, neither doubled nor with gaps made up:
- a previous row ending after the estimated start (or less than the estimate's error before
  it), but no later than the name allows (the name's second): the file follows that segment
  (a segment of a run starts exactly where the one before ended), so it starts at that end,
  with its whole duration. (The last segment of a graceful stop is closed a moment after its
  last packet, so its mtime estimate is up to a frame late: measured 50 ms.);
- a previous row ending later than that: the overlap is real (not an estimate's error); the
  start is clipped to that end, and the row claims less than the file holds;
- an end past the next row's start is clipped to it, likewise;
- nothing left between the neighbours: the file is quarantined (kept, out of the index, an
  event says why), never indexed over another row.
The insert itself checks that the row overlaps none of its camera's rows, so the rule holds in
the database whatever runs meanwhile.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.core.log import get_logger
from vmsd.core.names import is_camera_name
from vmsd.events.bus import RecordEvent
from vmsd.recorder.probe import probe_duration
from vmsd.store.recordings import EndReason, InsertResult, RecordingStore, SegmentRecord

log = get_logger("vmsd.recovery")

QUARANTINE_DIR = ".quarantine"
_SEGMENT_RE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})/(?P<time>\d{2}-\d{2}-\d{2})\.(mp4|mkv)$")
_NAME_RESOLUTION = timedelta(seconds=1)
# How far an mtime-based start may stray from its name's second and still be believed: the
# clocks of the file system and of strftime agree, but a write lands a moment after the packet.
MTIME_TOLERANCE = timedelta(milliseconds=200)


@dataclass
class RecoveryReport:
    recovered: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def segment_start(relative: str) -> datetime | None:
    """`2026-11-23/14-53-47.mp4` -> its UTC start time; None for any other name."""
    match = _SEGMENT_RE.match(relative)
    if match is None:
        return None
    try:
        return datetime.strptime(f"{match['date']} {match['time']}", "%Y-%m-%d %H-%M-%S").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None


def estimate_start(named: datetime, mtime: float, duration_s: float) -> datetime:
    """The start of a segment named `named` (its opening, to the second) whose last write was at
    `mtime` (epoch seconds) after `duration_s` seconds of video: mtime - duration when that
    agrees with the name, else the name."""
    estimate = datetime.fromtimestamp(mtime, UTC) - timedelta(seconds=duration_s)
    if not named - MTIME_TOLERANCE <= estimate < named + _NAME_RESOLUTION + MTIME_TOLERANCE:
        return named
    latest = named + _NAME_RESOLUTION - timedelta(microseconds=1)
    return min(max(estimate, named), latest)


def place_segment(
    named: datetime,
    start: datetime,
    duration_s: float,
    previous_end: datetime | None,
    next_start: datetime | None,
) -> tuple[datetime, datetime] | None:
    """(start, end) of a recovered segment between its camera's neighbouring rows, by the
    rules in the module docstring; None when nothing is left between them."""
    end = start + timedelta(seconds=duration_s)
    if previous_end is not None and previous_end > start - MTIME_TOLERANCE:
        if previous_end < named + _NAME_RESOLUTION:
            start, end = previous_end, previous_end + timedelta(seconds=duration_s)
        else:
            start = previous_end
    if next_start is not None and next_start < end:
        end = next_start
    return (start, end) if end > start else None


def find_segments(roots: Iterable[Path]) -> dict[str, tuple[str, datetime]]:
    """Blocking (in a thread): every segment file under the storage roots -> (camera, start)."""
    found: dict[str, tuple[str, datetime]] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for camera_dir in root.iterdir():
            if not camera_dir.is_dir() or not is_camera_name(camera_dir.name):
                continue
            for path in camera_dir.glob("*/*"):
                start = segment_start(f"{path.parent.name}/{path.name}")
                if start is not None and path.is_file():
                    found[str(path)] = (camera_dir.name, start)
    return found


async def recover(
    roots: Iterable[Path],
    store: RecordingStore,
    ffmpeg: str,
    record_event: RecordEvent,
    *,
    exclude: set[str],
) -> RecoveryReport:
    """`exclude`: paths still waiting in the segment journal (known, just not in the DB yet)."""
    roots = list(roots)
    on_disk = await asyncio.to_thread(find_segments, roots)
    indexed = await store.paths()
    report = RecoveryReport()
    # A root that is not there (an unmounted disk) says nothing about its files: its rows stay.
    present = [r for r in roots if await asyncio.to_thread(r.is_dir)]
    for root in set(roots) - set(present):
        log.warning("storage_root_missing", root=str(root))
    under_roots = {p for p in indexed if any(Path(p).is_relative_to(r) for r in present)}
    for path in sorted(under_roots - on_disk.keys()):
        report.missing.append(path)
    if report.missing:
        await store.delete_paths(report.missing)
        for path in report.missing:
            log.warning("segment_missing", path=path)
            await record_event("segment_missing", path=path)
    for path in sorted(on_disk.keys() - indexed - exclude):
        camera, start = on_disk[path]
        await _recover_file(Path(path), camera, start, store, ffmpeg, record_event, report)
    if report.recovered or report.quarantined or report.missing:
        log.info(
            "recovery_done",
            recovered=len(report.recovered),
            quarantined=len(report.quarantined),
            missing=len(report.missing),
        )
    return report


async def _recover_file(
    path: Path,
    camera: str,
    named: datetime,
    store: RecordingStore,
    ffmpeg: str,
    record_event: RecordEvent,
    report: RecoveryReport,
) -> None:
    info = await asyncio.to_thread(path.stat)
    duration = await probe_duration(ffmpeg, path)
    if duration is None:
        await _quarantine(path, camera, "unplayable", record_event, report)
        return
    estimate = estimate_start(named, info.st_mtime, duration)
    for _ in range(2):  # a row inserted meanwhile (another box): place it again, once
        previous_end, next_start = await store.neighbours(camera, estimate)
        placed = place_segment(named, estimate, duration, previous_end, next_start)
        if placed is None:
            break
        start, end = placed
        record = SegmentRecord(
            camera=camera,
            path=str(path),
            start=start,
            end=end,
            duration_s=(end - start).total_seconds(),
            bytes=info.st_size,
            end_reason=EndReason.RECOVERED,
        )
        result = await store.insert_unless_overlapping(record)
        if result is InsertResult.EXISTS:
            return
        if result is InsertResult.INSERTED:
            report.recovered.append(str(path))
            log.info(
                "segment_recovered",
                camera=camera,
                path=str(path),
                start=start.isoformat(),
                duration_s=record.duration_s,
                probed_s=duration,
            )
            await record_event("segment_recovered", camera=camera, path=str(path))
            return
    await _quarantine(path, camera, "overlaps", record_event, report)


async def _quarantine(
    path: Path, camera: str, why: str, record_event: RecordEvent, report: RecoveryReport
) -> None:
    try:
        target = await asyncio.to_thread(quarantine_file, path)
    except OSError as err:  # one file the disk will not move must not stop the start
        log.error("segment_quarantine_failed", camera=camera, path=str(path), error=str(err))
        return
    report.quarantined.append(str(path))
    log.warning(
        "segment_quarantined", camera=camera, path=str(path), moved_to=str(target), reason=why
    )
    await record_event(
        "segment_quarantined", camera=camera, path=str(path), to=str(target), reason=why
    )


def quarantine_file(path: Path) -> Path:
    """<root>/<camera>/<date>/<file> -> <root>/.quarantine/<camera>/<date>/<file>."""
    root = path.parent.parent.parent
    if not path.exists() or not root.is_dir():
        # Never recreate a vanished storage root (an unmounted disk): the mount point would
        # then fill the system disk.
        raise FileNotFoundError(f"{path} is gone with its storage")
    target = root / QUARANTINE_DIR / path.parent.parent.name / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = target, 1
    while candidate.exists():  # never overwrite an earlier quarantined file
        candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
        n += 1
    path.replace(candidate)
    return candidate
