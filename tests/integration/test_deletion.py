"""Crash-consistent deletion of recordings: the per-test database and real files (their content
need not be media), each crash point reproduced by doing the deleter's first steps by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import structlog

from vmsd.recordings.deletion import Deleted, SegmentDeleter
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

PAST_DAY = "2020-01-05"


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")


class Segments:
    """Files under `<root>/<camera>/<day>/<HH-MM-SS>.mp4` and their rows, inserted with the
    store's own insert."""

    def __init__(self, pool: asyncpg.Pool, root: Path) -> None:
        self.pool = pool
        self.store = RecordingStore(pool)
        self.root = root

    async def add(
        self, camera: str, day: str, time: str, size: int = 1000, *, index: bool = True
    ) -> Path:
        path = self.root / camera / day / f"{time}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00" * size)
        start = datetime.strptime(f"{day} {time}", "%Y-%m-%d %H-%M-%S").replace(tzinfo=UTC)
        if index:
            await self.store.insert(
                [
                    SegmentRecord(
                        camera=camera,
                        path=str(path),
                        start=start,
                        end=start + timedelta(seconds=2),
                        duration_s=2.0,
                        bytes=size,
                        end_reason=EndReason.SEGMENT_COMPLETE,
                    )
                ]
            )
        return path

    async def id_of(self, path: Path) -> int:
        found = await self.pool.fetchval("SELECT id FROM recordings WHERE path = $1", str(path))
        assert found is not None, path
        return int(found)

    async def rows(self) -> dict[str, datetime | None]:
        """Every row's path -> deleting_since (marked or not)."""
        rows = await self.pool.fetch("SELECT path, deleting_since FROM recordings")
        return {r["path"]: r["deleting_since"] for r in rows}

    def files(self) -> set[str]:
        return {str(p) for p in self.root.glob("*/*/*.mp4")}


@pytest.fixture
def segments(db_pool: asyncpg.Pool, tmp_path: Path) -> Segments:
    return Segments(db_pool, tmp_path / "recordings")


async def test_delete_removes_files_and_rows(segments: Segments) -> None:
    old = await segments.add("cam1", PAST_DAY, "10-00-00", 1111)
    old2 = await segments.add("cam1", PAST_DAY, "10-00-02", 2222)
    other = await segments.add("cam-2", PAST_DAY, "10-00-00", 3333)
    kept = await segments.add("cam1", _today(), "00-00-00")
    ids = [await segments.id_of(p) for p in (old, old2, other)]

    deleted = await SegmentDeleter(segments.store).delete(ids)

    assert sorted(deleted, key=lambda d: d.id) == [
        Deleted(ids[0], "cam1", str(old), 1111),
        Deleted(ids[1], "cam1", str(old2), 2222),
        Deleted(ids[2], "cam-2", str(other), 3333),
    ]
    assert segments.files() == {str(kept)}
    assert await segments.rows() == {str(kept): None}


async def test_empty_past_day_directories_go_today_and_tomorrow_stay(segments: Segments) -> None:
    past = await segments.add("cam1", PAST_DAY, "23-59-58")
    past_shared = await segments.add("cam1", "2020-01-06", "00-00-00")
    survivor = await segments.add("cam1", "2020-01-06", "00-00-02")
    today = await segments.add("cam1", _today(), "00-00-00")
    tomorrow = await segments.add("cam1", _tomorrow(), "00-00-00")
    ids = [await segments.id_of(p) for p in (past, past_shared, today, tomorrow)]

    await SegmentDeleter(segments.store).delete(ids)

    camera_dir = segments.root / "cam1"
    assert not (camera_dir / PAST_DAY).exists()  # emptied: removed
    assert (camera_dir / "2020-01-06").is_dir()  # still holds a segment
    assert survivor.exists()
    # A recorder may be about to write into these (the muxer does not create directories).
    assert (camera_dir / _today()).is_dir()
    assert (camera_dir / _tomorrow()).is_dir()
    assert camera_dir.is_dir()
    assert segments.files() == {str(survivor)}


async def test_ids_already_gone_or_being_deleted_are_skipped(segments: Segments) -> None:
    first = await segments.add("cam1", PAST_DAY, "10-00-00")
    second = await segments.add("cam1", PAST_DAY, "10-00-02")
    elsewhere = await segments.add("cam1", PAST_DAY, "10-00-04")
    first_id, second_id, elsewhere_id = [
        await segments.id_of(p) for p in (first, second, elsewhere)
    ]
    deleter = SegmentDeleter(segments.store)
    assert [d.id for d in await deleter.delete([first_id])] == [first_id]

    # Someone else (another deleter) has marked `elsewhere`: not ours to finish.
    assert [m[0] for m in await segments.store.mark_deleting([elsewhere_id])] == [elsewhere_id]
    deleted = await deleter.delete([first_id, second_id, elsewhere_id, 987_654_321])

    assert [d.id for d in deleted] == [second_id]
    assert await deleter.delete([first_id, second_id]) == []
    assert await deleter.delete([]) == []
    assert elsewhere.exists()
    assert set(await segments.rows()) == {str(elsewhere)}


async def test_crash_between_mark_and_unlink_is_finished_at_startup(segments: Segments) -> None:
    marked = [
        await segments.add("cam1", PAST_DAY, "10-00-00", 500),
        await segments.add("cam-2", PAST_DAY, "10-00-00", 700),
    ]
    untouched = await segments.add("cam1", PAST_DAY, "10-00-02")
    marked_ids = [await segments.id_of(p) for p in marked]
    # The crashed process got as far as marking the rows.
    await segments.store.mark_deleting(marked_ids)
    assert all(p.exists() for p in marked)

    with structlog.testing.capture_logs() as logs:
        finished = await SegmentDeleter(segments.store).finish_interrupted()

    assert sorted(finished, key=lambda d: d.id) == [
        Deleted(marked_ids[0], "cam1", str(marked[0]), 500),
        Deleted(marked_ids[1], "cam-2", str(marked[1]), 700),
    ]
    assert segments.files() == {str(untouched)}
    assert await segments.rows() == {str(untouched): None}
    assert not (segments.root / "cam-2" / PAST_DAY).exists()
    resumed = [e for e in logs if e["event"] == "deletions_resumed"]
    assert len(resumed) == 1
    assert resumed[0]["segments"] == 2
    assert resumed[0]["log_level"] == "warning"


async def test_crash_after_unlink_before_row_delete_is_finished(segments: Segments) -> None:
    gone = await segments.add("cam1", PAST_DAY, "10-00-00")
    still_there = await segments.add("cam1", PAST_DAY, "10-00-02")
    untouched = await segments.add("cam1", _today(), "10-00-04")
    ids = [await segments.id_of(p) for p in (gone, still_there)]
    # Marked, and one of the two files unlinked, then the crash: the row delete never ran.
    await segments.store.mark_deleting(ids)
    gone.unlink()

    finished = await SegmentDeleter(segments.store).finish_interrupted()

    assert sorted(d.id for d in finished) == sorted(ids)
    assert segments.files() == {str(untouched)}
    assert await segments.rows() == {str(untouched): None}
    assert not (segments.root / "cam1" / PAST_DAY).exists()


async def test_finish_interrupted_with_nothing_marked_does_nothing(segments: Segments) -> None:
    kept = await segments.add("cam1", PAST_DAY, "10-00-00")
    with structlog.testing.capture_logs() as logs:
        assert await SegmentDeleter(segments.store).finish_interrupted() == []
    assert logs == []
    assert kept.exists()
    assert await segments.rows() == {str(kept): None}


async def test_rows_being_deleted_are_not_listed_or_counted(segments: Segments) -> None:
    store = segments.store
    old = await segments.add("cam1", PAST_DAY, "10-00-00", 100)
    new = await segments.add("cam1", PAST_DAY, "10-00-02", 200)
    await store.mark_deleting([await segments.id_of(old)])

    assert [r.path for r in await store.for_camera("cam1")] == [str(new)]
    assert [s.path for s in await store.oldest_segments("cam1", 10)] == [str(new)]
    (totals,) = await store.camera_totals()
    assert (totals.camera, totals.segments, totals.bytes) == ("cam1", 1, 200)
    assert [m[2] for m in await store.marked_deleting()] == [str(old)]
    # Until the deletion is finished, the path stays known (recovery must not re-index it).
    assert await store.paths("cam1") == {str(old), str(new)}


async def _undeletable(segments: Segments, camera: str, day: str, time: str) -> Path:
    """An indexed segment whose unlink fails (EISDIR: something made a directory of its path).
    Stands in for any file the daemon cannot unlink: a root-owned day directory, an immutable
    file, a read-only remount."""
    path = await segments.add(camera, day, time)
    path.unlink()
    path.mkdir()
    (path / "keep").write_bytes(b"x")
    return path


async def test_a_file_that_cannot_be_unlinked_does_not_strand_the_others(
    segments: Segments,
) -> None:
    good = await segments.add("cam1", PAST_DAY, "10-00-00")
    bad = await _undeletable(segments, "cam1", PAST_DAY, "10-00-02")
    later = await segments.add("cam1", PAST_DAY, "10-00-04")
    ids = [await segments.id_of(p) for p in (good, bad, later)]

    deleted = await SegmentDeleter(segments.store).delete(ids)

    assert sorted(d.path for d in deleted) == sorted([str(good), str(later)])
    assert not good.exists() and not later.exists()
    # The one that could not go is not left marked: it is still a recording, listed and
    # counted, and the next pass may try again.
    assert await segments.rows() == {str(bad): None}


async def test_startup_is_not_blocked_by_a_file_that_cannot_be_unlinked(
    segments: Segments,
) -> None:
    good = await segments.add("cam1", PAST_DAY, "10-00-00")
    bad = await _undeletable(segments, "cam1", PAST_DAY, "10-00-02")
    await segments.store.mark_deleting([await segments.id_of(p) for p in (good, bad)])

    finished = await SegmentDeleter(segments.store).finish_interrupted()

    assert [d.path for d in finished] == [str(good)]
    assert not good.exists()
    assert str(good) not in await segments.rows()
