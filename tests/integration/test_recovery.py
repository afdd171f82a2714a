"""Startup reconciliation of the segment index with the files on disk: real segment files made
by the real FFmpeg, the per-test database, an event recorder fake."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog

from tests.conftest import ffmpeg_binary
from vmsd.recordings.recovery import (
    QUARANTINE_DIR,
    RecoveryReport,
    find_segments,
    recover,
    segment_start,
)
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

DAY = "2026-11-23"


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("2026-11-23/14-53-47.mp4", datetime(2026, 11, 23, 14, 53, 47, tzinfo=UTC)),
        ("2026-11-23/00-00-00.mkv", datetime(2026, 11, 23, 0, 0, 0, tzinfo=UTC)),
        ("2024-02-29/23-59-59.mp4", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        ("2025-02-29/10-00-00.mp4", None),  # not a leap year
        ("2026-13-01/10-00-00.mp4", None),
        ("2026-11-23/24-00-00.mp4", None),
        ("2026-11-23/14-53-47.ts", None),
        ("2026-11-23/14-53-47.MP4", None),
        ("2026-11-23/14-53-47.mp4.tmp", None),
        ("2026-11-23/14-53.mp4", None),
        ("2026-11-23/14:53:47.mp4", None),
        ("26-11-23/14-53-47.mp4", None),
        ("14-53-47.mp4", None),
        ("cam1/2026-11-23/14-53-47.mp4", None),
        ("2026-11-23/x/14-53-47.mp4", None),
        ("", None),
    ],
)
def test_segment_start(relative: str, expected: datetime | None) -> None:
    assert segment_start(relative) == expected


async def _ffmpeg(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_binary(),
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


@pytest.fixture(scope="module")
async def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2 s mp4 and a 2 s mkv, made once and copied where each test wants them."""
    directory = tmp_path_factory.mktemp("clips")
    source = ("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "2")
    encode = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10")
    out = {"mp4": directory / "clip.mp4", "mkv": directory / "clip.mkv"}
    await asyncio.gather(*(_ffmpeg(*source, *encode, str(path)) for path in out.values()))
    return out


@dataclass
class EventRecorder:
    """Stands in for the daemon's record_event (an injected async callable)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, kind: str, **fields: Any) -> None:
        self.events.append((kind, fields))


def _record(path: Path, camera: str, start: datetime, reason: EndReason) -> SegmentRecord:
    return SegmentRecord(
        camera=camera,
        path=str(path),
        start=start,
        end=start + timedelta(seconds=2),
        duration_s=2.0,
        bytes=1000,
        end_reason=reason,
    )


def _place(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _write(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


async def _rows(pool: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch("SELECT * FROM recordings")
    return {r["path"]: r for r in rows}


async def test_recover_reconciles_index_and_disk(
    db_pool: asyncpg.Pool, clips: dict[str, Path], tmp_path: Path
) -> None:
    store = RecordingStore(db_pool)
    root, root2 = tmp_path / "rec", tmp_path / "rec2"
    at = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)

    known = _place(clips["mp4"], root / "cam1" / DAY / "10-00-00.mp4")
    unknown_mp4 = _place(clips["mp4"], root / "cam1" / DAY / "10-01-00.mp4")
    unknown_mkv = _place(clips["mkv"], root / "cam-2" / DAY / "10-00-30.mkv")
    unknown_other_root = _place(clips["mkv"], root2 / "cam3" / DAY / "23-59-58.mkv")
    journalled = _place(clips["mp4"], root / "cam1" / DAY / "10-05-00.mp4")
    garbage = _write(root / "cam1" / DAY / "10-02-00.mp4", b"\x00not a video at all\n" * 64)
    empty = _write(root / "cam-2" / DAY / "10-03-00.mkv", b"")
    # Not segments: wrong names, hidden or invalid camera directories, the quarantine itself.
    ignored = [
        _write(root / "cam1" / DAY / "notes.txt", b"hello"),
        _write(root / "cam1" / DAY / "10-04.mp4", b"junk"),
        _write(root / "cam1" / "10-04-00.mp4", b"junk"),
        _write(root / ".hidden" / DAY / "10-00-00.mp4", b"junk"),
        _write(root / "Cam1" / DAY / "10-00-00.mp4", b"junk"),
        _write(root / "cam1" / ".partial" / "10-00-00.mp4", b"junk"),
        _write(root / "cam1" / DAY / ".10-00-00.mp4", b"junk"),
        _write(root / QUARANTINE_DIR / "cam1" / DAY / "09-00-00.mp4", b"junk"),
        _write(root / "stray.mp4", b"junk"),
    ]
    gone = root / "cam1" / "2026-11-22" / "23-59-00.mp4"  # a row, no file
    outside = tmp_path / "elsewhere" / "cam9" / DAY / "10-00-00.mp4"  # under no root
    await store.insert(
        [
            _record(known, "cam1", at, EndReason.SEGMENT_COMPLETE),
            _record(gone, "cam1", at - timedelta(minutes=1), EndReason.SEGMENT_COMPLETE),
            _record(outside, "cam9", at, EndReason.RECORDER_STOPPED),
        ]
    )
    assert find_segments([root, root2, tmp_path / "absent"]) == {
        str(known): ("cam1", at),
        str(unknown_mp4): ("cam1", at + timedelta(minutes=1)),
        str(journalled): ("cam1", at + timedelta(minutes=5)),
        str(garbage): ("cam1", at + timedelta(minutes=2)),
        str(unknown_mkv): ("cam-2", at + timedelta(seconds=30)),
        str(empty): ("cam-2", at + timedelta(minutes=3)),
        str(unknown_other_root): ("cam3", datetime(2026, 11, 23, 23, 59, 58, tzinfo=UTC)),
    }

    record = EventRecorder()
    with structlog.testing.capture_logs() as logs:
        report = await recover(
            [root, root2], store, ffmpeg_binary(), record, exclude={str(journalled)}
        )

    assert report == RecoveryReport(
        recovered=sorted(map(str, [unknown_mp4, unknown_mkv, unknown_other_root])),
        quarantined=sorted(map(str, [garbage, empty])),
        missing=[str(gone)],
    )
    rows = await _rows(db_pool)
    assert set(rows) == {str(p) for p in (known, outside, unknown_mp4, unknown_mkv)} | {
        str(unknown_other_root)
    }
    # Rows that were there are untouched (the one outside every root too).
    assert rows[str(known)]["end_reason"] == "segment_complete"
    assert rows[str(outside)]["end_reason"] == "recorder_stopped"
    # Recovered: start from the name, duration from the probe, size from the file.
    for path, camera, start in [
        (unknown_mp4, "cam1", at + timedelta(minutes=1)),
        (unknown_mkv, "cam-2", at + timedelta(seconds=30)),
        (unknown_other_root, "cam3", datetime(2026, 11, 23, 23, 59, 58, tzinfo=UTC)),
    ]:
        row = rows[str(path)]
        assert row["camera"] == camera
        assert row["end_reason"] == "recovered"
        assert row["start_time"] == start
        assert row["duration_s"] == pytest.approx(2.0, abs=0.15)
        span = (row["end_time"] - row["start_time"]).total_seconds()
        assert span == pytest.approx(row["duration_s"], abs=1e-5)
        assert row["bytes"] == path.stat().st_size > 0

    # Unplayable files moved to <root>/.quarantine/<camera>/<date>/, bytes unchanged.
    assert not garbage.exists() and not empty.exists()
    quarantined_garbage = root / QUARANTINE_DIR / "cam1" / DAY / "10-02-00.mp4"
    quarantined_empty = root / QUARANTINE_DIR / "cam-2" / DAY / "10-03-00.mkv"
    assert quarantined_garbage.read_bytes() == b"\x00not a video at all\n" * 64
    assert quarantined_empty.read_bytes() == b""
    # Everything else on disk is as it was.
    assert all(p.exists() for p in [known, unknown_mp4, unknown_mkv, journalled, *ignored])
    assert str(journalled) not in rows

    assert sorted(record.events, key=lambda e: (e[0], e[1]["path"])) == sorted(
        [
            ("segment_missing", {"path": str(gone)}),
            ("segment_quarantined", _quarantined("cam1", garbage, quarantined_garbage)),
            ("segment_quarantined", _quarantined("cam-2", empty, quarantined_empty)),
            ("segment_recovered", {"camera": "cam1", "path": str(unknown_mp4)}),
            ("segment_recovered", {"camera": "cam-2", "path": str(unknown_mkv)}),
            ("segment_recovered", {"camera": "cam3", "path": str(unknown_other_root)}),
        ],
        key=lambda e: (e[0], e[1]["path"]),
    )
    done = [e for e in logs if e["event"] == "recovery_done"]
    assert done == [
        {
            "event": "recovery_done",
            "log_level": "info",
            "recovered": 3,
            "quarantined": 2,
            "missing": 1,
        }
    ]

    # A second pass finds nothing to do (the journalled file still waits for the journal).
    again = EventRecorder()
    with structlog.testing.capture_logs() as logs:
        second = await recover(
            [root, root2], store, ffmpeg_binary(), again, exclude={str(journalled)}
        )
    assert second == RecoveryReport()
    assert again.events == []
    assert [e for e in logs if e["event"] == "recovery_done"] == []
    assert await _rows(db_pool) == rows


def _quarantined(camera: str, path: Path, target: Path) -> dict[str, str]:
    return {"camera": camera, "path": str(path), "to": str(target), "reason": "unplayable"}


async def test_recover_with_nothing_on_disk_and_no_rows(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    record = EventRecorder()
    report = await recover(
        [tmp_path / "rec"], RecordingStore(db_pool), ffmpeg_binary(), record, exclude=set()
    )
    assert report == RecoveryReport()
    assert record.events == []


async def test_excluded_path_is_not_probed_even_when_unplayable(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A journalled segment is known: never quarantined, whatever it holds right now."""
    root = tmp_path / "rec"
    pending = _write(root / "cam1" / DAY / "10-00-00.mp4", b"")
    record = EventRecorder()
    report = await recover(
        [root], RecordingStore(db_pool), ffmpeg_binary(), record, exclude={str(pending)}
    )
    assert report == RecoveryReport()
    assert pending.exists()
    assert record.events == []


async def test_rows_of_an_absent_storage_root_are_kept(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    store = RecordingStore(db_pool)
    unmounted = tmp_path / "usb-disk"
    at = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
    rows = [
        _record(
            unmounted / "cam1" / DAY / f"10-0{i}-00.mp4", "cam1", at, EndReason.SEGMENT_COMPLETE
        )
        for i in range(3)
    ]
    await store.insert(rows)
    record = EventRecorder()
    report = await recover([unmounted], store, ffmpeg_binary(), record, exclude=set())
    assert report.missing == []
    assert await store.paths() == {r.path for r in rows}
