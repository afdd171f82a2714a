"""Startup reconciliation of the segment index with the files on disk. Nothing is silently
dropped: a file the index does not know is probed and indexed as `recovered`, or moved to a
quarantine folder if nothing in it plays; a row whose file is gone is removed. Each of these
is an event."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.config import CAMERA_NAME_PATTERN
from vmsd.events.bus import RecordEvent
from vmsd.log import get_logger
from vmsd.recorder.probe import probe_duration
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

log = get_logger("vmsd.recovery")

QUARANTINE_DIR = ".quarantine"
_SEGMENT_RE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})/(?P<time>\d{2}-\d{2}-\d{2})\.(mp4|mkv)$")
_CAMERA_RE = re.compile(CAMERA_NAME_PATTERN)


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
        return datetime.strptime(
            f"{match['date']} {match['time']}", "%Y-%m-%d %H-%M-%S"
        ).replace(tzinfo=UTC)
    except ValueError:
        return None


def find_segments(roots: Iterable[Path]) -> dict[str, tuple[str, datetime]]:
    """Blocking (in a thread): every segment file under the storage roots -> (camera, start)."""
    found: dict[str, tuple[str, datetime]] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for camera_dir in root.iterdir():
            if not camera_dir.is_dir() or not _CAMERA_RE.match(camera_dir.name):
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
    start: datetime,
    store: RecordingStore,
    ffmpeg: str,
    record_event: RecordEvent,
    report: RecoveryReport,
) -> None:
    duration = await probe_duration(ffmpeg, path)
    if duration is None:
        target = await asyncio.to_thread(quarantine_file, path)
        report.quarantined.append(str(path))
        log.warning("segment_quarantined", camera=camera, path=str(path), moved_to=str(target))
        await record_event("segment_quarantined", camera=camera, path=str(path), to=str(target))
        return
    size = (await asyncio.to_thread(path.stat)).st_size
    record = SegmentRecord(
        camera=camera,
        path=str(path),
        start=start,
        end=start + timedelta(seconds=duration),
        duration_s=duration,
        bytes=size,
        end_reason=EndReason.RECOVERED,
    )
    await store.insert([record])
    report.recovered.append(str(path))
    log.info("segment_recovered", camera=camera, path=str(path), duration_s=duration)
    await record_event("segment_recovered", camera=camera, path=str(path))


def quarantine_file(path: Path) -> Path:
    """<root>/<camera>/<date>/<file> -> <root>/.quarantine/<camera>/<date>/<file>."""
    root = path.parent.parent.parent
    target = root / QUARANTINE_DIR / path.parent.parent.name / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = target, 1
    while candidate.exists():  # never overwrite an earlier quarantined file
        candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
        n += 1
    path.replace(candidate)
    return candidate
