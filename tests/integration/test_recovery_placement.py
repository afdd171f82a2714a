"""Where a recovered segment goes on its camera's timeline: sub-second starts from the file's
mtime (checked against the segment list of real recordings), and never over another row."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import ffmpeg_binary
from tests.integration.test_recovery import DAY, EventRecorder, clips  # noqa: F401 - the fixture
from tests.recording_harness import recording
from tests.streams.sources import GST_RTSP, RtspServer, require
from vmsd.config.cameras import CameraConfig
from vmsd.recordings.recovery import QUARANTINE_DIR, estimate_start, place_segment, recover
from vmsd.store.recordings import EndReason, InsertResult, RecordingStore, SegmentRecord

NAMED = datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """10:00:00 + seconds."""
    return NAMED - timedelta(seconds=2) + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("mtime_s", "duration_s", "expected_s"),
    [
        (4.35, 2.0, 2.35),  # closed 2.35 s after its name's second began... minus its length
        (3.35, 1.0, 2.35),  # killed: last fragment written 1 s in
        (4.0, 2.0, 2.0),
        (3.9, 2.0, 2.0),  # a moment before its name (write vs strftime clock): the name
        (5.1, 2.0, 2.999999),  # a moment after its second: the last instant of it
        (3.5, 2.0, 2.0),  # far before its name: not to be believed (copied, touched)
        (9.0, 2.0, 2.0),  # far after its name
    ],
)
def test_estimate_start(mtime_s: float, duration_s: float, expected_s: float) -> None:
    mtime = at(mtime_s).timestamp()
    assert estimate_start(NAMED, mtime, duration_s) == at(expected_s)


@pytest.mark.parametrize(
    ("start_s", "duration_s", "previous_end_s", "next_start_s", "expected"),
    [
        (2.0, 2.0, None, None, (2.0, 4.0)),  # alone
        (2.3, 2.0, 2.3, 4.3, (2.3, 4.3)),  # exactly between its neighbours
        (2.0, 2.0, 2.3, None, (2.3, 4.3)),  # follows the previous: moved, whole length
        (2.25, 2.0, 2.3, 6.0, (2.3, 4.3)),  # an estimate a little early
        (2.35, 2.0, 2.3, 6.0, (2.3, 4.3)),  # a little late: no gap shorter than its error
        (2.6, 2.0, 2.3, 6.0, (2.6, 4.6)),  # a real gap (a restart) stays
        (2.0, 2.0, 1.9, None, (1.9, 3.9)),  # ... before its name, as the segment list may say
        (2.0, 2.0, 2.3, 4.1, (2.3, 4.1)),  # moved, then the end clipped to the next
        (2.0, 2.0, 3.5, None, (3.5, 4.0)),  # overlap past its second: the start clipped
        (2.0, 2.0, 1.0, 3.0, (2.0, 3.0)),  # the end clipped to the next
        (2.0, 2.0, 4.5, None, None),  # covered entirely by the previous
        (2.0, 2.0, 2.3, 2.3, None),  # no room at all
        (2.5, 1.0, None, 2.2, None),  # the next starts before it
    ],
)
def test_place_segment(
    start_s: float,
    duration_s: float,
    previous_end_s: float | None,
    next_start_s: float | None,
    expected: tuple[float, float] | None,
) -> None:
    placed = place_segment(
        NAMED,
        at(start_s),
        duration_s,
        at(previous_end_s) if previous_end_s is not None else None,
        at(next_start_s) if next_start_s is not None else None,
    )
    assert placed == (None if expected is None else (at(expected[0]), at(expected[1])))


def _row(camera: str, path: str, start: float, end: float) -> SegmentRecord:
    return SegmentRecord(
        camera, path, at(start), at(end), end - start, 1000, EndReason.SEGMENT_COMPLETE
    )


def _place_clip(clip: Path, target: Path, mtime: datetime) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, target)
    os.utime(target, (mtime.timestamp(), mtime.timestamp()))
    return target


async def test_recovered_segments_fit_between_rows_or_are_quarantined(
    db_pool: asyncpg.Pool,
    clips: dict[str, Path],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """Real 2 s files (probed: 2.0 s) with mtimes as the recorder leaves them, among rows."""
    store = RecordingStore(db_pool)
    root = tmp_path / "rec"
    cam = root / "cam1" / DAY
    indexed = [
        _row("cam1", str(cam / "10-00-00.mp4"), 0.3, 2.3),
        _row("cam1", str(cam / "10-00-06.mp4"), 6.3, 8.3),
        _row("cam1", str(cam / "10-00-10.mp4"), 10.3, 12.3),
        _row("cam2", str(root / "cam2" / DAY / "10-00-02.mp4"), 0.0, 60.0),  # another camera
    ]
    await store.insert(indexed)
    for row in indexed:
        _place_clip(clips["mp4"], Path(row.path), row.end)
    # Follows 10-00-00: closed at 4.30, so it started at 2.30, the previous row's end.
    follows = _place_clip(clips["mp4"], cam / "10-00-02.mp4", at(4.3))
    # Estimated 4.28, a little early: it follows the one above (4.3) and ends at the next row.
    between = _place_clip(clips["mp4"], cam / "10-00-04.mp4", at(6.28))
    # Named 08 but copied (an mtime of now): its name, 8.0, says less than the row before it,
    # which ends within its name's second: it follows that one, 8.3 to 10.3.
    copied = _place_clip(clips["mp4"], cam / "10-00-08.mp4", datetime.now(UTC))
    # The segment 10.3-12.3 again, in another container (a copy): nowhere to go.
    covered = _place_clip(clips["mkv"], cam / "10-00-10.mkv", at(12.3))

    record = EventRecorder()
    report = await recover([root], store, ffmpeg_binary(), record, exclude=set())

    assert report.recovered == sorted(map(str, [follows, between, copied]))
    assert report.quarantined == [str(covered)]
    assert (root / QUARANTINE_DIR / "cam1" / DAY / "10-00-10.mkv").exists()
    assert (
        "segment_quarantined",
        {
            "camera": "cam1",
            "path": str(covered),
            "reason": "overlaps",
            "to": str(root / QUARANTINE_DIR / "cam1" / DAY / "10-00-10.mkv"),
        },
    ) in record.events
    rows = {r.path: r for r in await store.for_camera("cam1")}
    spans = {p: (rows[str(p)].start, rows[str(p)].end) for p in (follows, between, copied)}
    assert spans[follows] == (at(2.3), at(4.3))
    assert spans[between] == (at(4.3), at(6.3))
    assert spans[copied] == (at(8.3), at(10.3))
    ordered = sorted(rows.values(), key=lambda r: r.start)
    for before, after in itertools.pairwise(ordered):
        assert after.start >= before.end, (before, after)
    for path in (follows, between, copied):
        row = rows[str(path)]
        assert row.end_reason is EndReason.RECOVERED
        assert row.duration_s == pytest.approx((row.end - row.start).total_seconds(), abs=1e-6)


async def test_insert_refuses_an_overlapping_row(db_pool: asyncpg.Pool) -> None:
    store = RecordingStore(db_pool)
    await store.insert([_row("cam1", "/r/cam1/a.mp4", 0.0, 2.0)])
    assert (
        await store.insert_unless_overlapping(_row("cam1", "/r/cam1/b.mp4", 1.9, 3.0))
        is InsertResult.OVERLAPS
    )
    assert (
        await store.insert_unless_overlapping(_row("cam1", "/r/cam1/a.mp4", 5.0, 6.0))
        is InsertResult.EXISTS
    )
    assert (
        await store.insert_unless_overlapping(
            _row("cam1", "/r/cam1/c.mp4", 2.0, 3.0)  # touching is not overlapping
        )
        is InsertResult.INSERTED
    )
    assert (
        await store.insert_unless_overlapping(
            _row("cam2", "/r/cam2/d.mp4", 0.0, 3.0)  # another camera's time is its own
        )
        is InsertResult.INSERTED
    )
    assert await store.paths() == {"/r/cam1/a.mp4", "/r/cam1/c.mp4", "/r/cam2/d.mp4"}


@pytest.mark.slow
async def test_recovered_real_segments_get_their_sub_second_starts_back(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Real recorders, real segments indexed from FFmpeg's segment list; then their rows are
    lost (as at a crash before they were committed) and recovery finds the files: each comes
    back where it was, to within a few milliseconds, and overlapping nothing."""
    require(GST_RTSP)
    with RtspServer(["/a", "/b"], fps=10, gop=10) as rtsp:
        cameras = [CameraConfig(name=n, source=rtsp.url(n)) for n in ("a", "b")]
        async with recording(db_pool, tmp_path, cameras, segment_seconds=2) as rec:
            await rec.wait_for(lambda: all(len(rec.files(c)) >= 6 for c in ("a", "b")), 40)
        store = rec.store
        original = {c: await store.for_camera(c) for c in ("a", "b")}
    lost = [r for c in ("a", "b") for r in original[c][1::2]]  # every other row
    assert any(r.start.microsecond for r in lost), "the segment list gives sub-second starts"
    await store.delete_paths([r.path for r in lost])
    report = await recover([rec.root], store, ffmpeg_binary(), EventRecorder(), exclude=set())
    assert sorted(report.recovered) == sorted(r.path for r in lost)
    assert report.quarantined == []
    for camera in ("a", "b"):
        rows = {r.path: r for r in await store.for_camera(camera)}
        assert set(rows) == {r.path for r in original[camera]}
        for was in original[camera][1::2]:
            now = rows[was.path]
            assert now.end_reason is EndReason.RECOVERED
            assert abs((now.start - was.start).total_seconds()) < 0.05, (was, now)
            assert abs((now.end - was.end).total_seconds()) < 0.15, (was, now)
        ordered = sorted(rows.values(), key=lambda r: r.start)
        for before, after in itertools.pairwise(ordered):
            assert after.start >= before.end, (before, after)
    await asyncio.sleep(0)
