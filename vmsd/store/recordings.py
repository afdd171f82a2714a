"""SQL for the segment index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from vmsd.store.db import bounded_connection


class EndReason(StrEnum):
    SEGMENT_COMPLETE = "segment_complete"
    RECORDER_STOPPED = "recorder_stopped"
    RECORDER_CRASHED = "recorder_crashed"
    SOURCE_LOST = "source_lost"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    camera: str
    path: str
    start: datetime
    end: datetime
    duration_s: float
    bytes: int
    end_reason: EndReason

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        data["end_reason"] = self.end_reason.value
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> SegmentRecord:
        data = json.loads(line)
        return cls(
            camera=data["camera"],
            path=data["path"],
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            duration_s=float(data["duration_s"]),
            bytes=int(data["bytes"]),
            end_reason=EndReason(data["end_reason"]),
        )


_INSERT = """INSERT INTO recordings
    (camera, path, start_time, end_time, duration_s, bytes, end_reason)
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (path) DO NOTHING"""


class InsertResult(StrEnum):
    INSERTED = "inserted"
    EXISTS = "exists"  # the path is indexed already
    OVERLAPS = "overlaps"  # another row of the camera covers part of its time


# Segments are at most 600 s long (recording.segment_seconds): a range query may bound
# start_time from below, which lets the (camera, start_time) index do the work.
MAX_SEGMENT_S = 600
_INSERT_UNLESS_OVERLAPPING = f"""INSERT INTO recordings
    (camera, path, start_time, end_time, duration_s, bytes, end_reason)
    SELECT $1::text, $2::text, $3::timestamptz, $4::timestamptz, $5::float8, $6::bigint,
           $7::text
    WHERE NOT EXISTS (
        SELECT 1 FROM recordings
        WHERE camera = $1 AND deleting_since IS NULL AND start_time < $4 AND end_time > $3
          AND start_time >= $3::timestamptz - make_interval(secs => {MAX_SEGMENT_S}))
    ON CONFLICT (path) DO NOTHING RETURNING id"""  # noqa: S608 - constants only


def _args(r: SegmentRecord) -> tuple[Any, ...]:
    return (r.camera, r.path, r.start, r.end, r.duration_s, r.bytes, r.end_reason.value)


# An insert of a few rows takes milliseconds; this bounds one that does not come back (a hung
# server) separately from database.connect_timeout_seconds, which is also the pool's command
# timeout and is sized for connecting, not for the index's hot path.
INSERT_TIMEOUT_S = 2.0


class RecordingStore:
    def __init__(self, pool: asyncpg.Pool, *, insert_timeout_s: float = INSERT_TIMEOUT_S) -> None:
        self._pool = pool
        self._insert_timeout_s = insert_timeout_s

    async def insert(self, records: Sequence[SegmentRecord]) -> None:
        """Idempotent: a path already indexed is left as it is (a journal replayed twice).
        Atomic (asyncpg's executemany is). TimeoutError after the insert timeout, whatever the
        server does."""
        async with bounded_connection(self._pool, self._insert_timeout_s) as conn:
            await conn.executemany(_INSERT, [_args(r) for r in records])

    async def neighbours(
        self, camera: str, start: datetime
    ) -> tuple[datetime | None, datetime | None]:
        """(the latest end of the camera's rows starting at or before `start`, the earliest
        start of its rows starting after it): the gap a recovered segment may go in."""
        row = await self._pool.fetchrow(
            f"""SELECT
                  (SELECT max(end_time) FROM recordings
                   WHERE camera = $1 AND deleting_since IS NULL AND start_time <= $2
                     AND start_time >= $2 - make_interval(secs => {MAX_SEGMENT_S})) AS before,
                  (SELECT min(start_time) FROM recordings
                   WHERE camera = $1 AND deleting_since IS NULL AND start_time > $2) AS after""",  # noqa: S608 - constants only
            camera,
            start,
        )
        assert row is not None
        return row["before"], row["after"]

    async def insert_unless_overlapping(self, record: SegmentRecord) -> InsertResult:
        """One row, only if it overlaps no row of its camera (checked in the insert itself)."""
        async with bounded_connection(self._pool, self._insert_timeout_s) as conn:
            inserted = await conn.fetchval(_INSERT_UNLESS_OVERLAPPING, *_args(record))
            if inserted is not None:
                return InsertResult.INSERTED
            known = await conn.fetchval("SELECT 1 FROM recordings WHERE path = $1", record.path)
            return InsertResult.EXISTS if known is not None else InsertResult.OVERLAPS

    async def paths(self, camera: str | None = None) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT path FROM recordings WHERE $1::text IS NULL OR camera = $1", camera
        )
        return {r["path"] for r in rows}

    async def mark_deleting(self, ids: Sequence[int]) -> list[tuple[int, str, str, int]]:
        """Step 1 of a deletion: (id, camera, path, bytes) of the rows now marked. A row already
        gone or marked by someone else is not returned."""
        rows = await self._pool.fetch(
            """UPDATE recordings SET deleting_since = now()
               WHERE id = ANY($1::bigint[]) AND deleting_since IS NULL
               RETURNING id, camera, path, bytes""",
            list(ids),
        )
        return [(r["id"], r["camera"], r["path"], r["bytes"]) for r in rows]

    async def marked_deleting(self) -> list[tuple[int, str, str, int]]:
        rows = await self._pool.fetch(
            """SELECT id, camera, path, bytes FROM recordings
               WHERE deleting_since IS NOT NULL ORDER BY id"""
        )
        return [(r["id"], r["camera"], r["path"], r["bytes"]) for r in rows]

    async def unmark_deleting(self, ids: Sequence[int]) -> None:
        """A deletion that could not remove its file: the row stays, visible again."""
        await self._pool.execute(
            "UPDATE recordings SET deleting_since = NULL WHERE id = ANY($1::bigint[])", list(ids)
        )

    async def delete_ids(self, ids: Sequence[int]) -> None:
        """The last step of a deletion, once the files are gone."""
        await self._pool.execute("DELETE FROM recordings WHERE id = ANY($1::bigint[])", list(ids))

    async def delete_paths(self, paths: Sequence[str]) -> int:
        status = await self._pool.execute(
            "DELETE FROM recordings WHERE path = ANY($1::text[])", list(paths)
        )
        return int(status.split()[-1])

    async def camera_totals(self) -> list[CameraTotals]:
        rows = await self._pool.fetch(
            """SELECT camera, count(*) AS n, coalesce(sum(bytes), 0)::bigint AS b,
                      min(start_time) AS oldest, max(end_time) AS newest
               FROM recordings WHERE deleting_since IS NULL GROUP BY camera ORDER BY camera"""
        )
        return [CameraTotals(r["camera"], r["n"], r["b"], r["oldest"], r["newest"]) for r in rows]

    async def oldest_segments(self, camera: str, limit: int) -> list[OldSegment]:
        rows = await self._pool.fetch(
            """SELECT id, camera, path, start_time, end_time, bytes FROM recordings
               WHERE camera = $1 AND deleting_since IS NULL
               ORDER BY start_time, id LIMIT $2""",
            camera,
            limit,
        )
        return [
            OldSegment(r["id"], r["camera"], r["path"], r["start_time"], r["end_time"], r["bytes"])
            for r in rows
        ]

    async def for_camera(self, camera: str) -> list[SegmentRecord]:
        rows = await self._pool.fetch(
            """SELECT camera, path, start_time, end_time, duration_s, bytes, end_reason
               FROM recordings WHERE camera = $1 AND deleting_since IS NULL
               ORDER BY start_time, path""",
            camera,
        )
        return [
            SegmentRecord(
                r["camera"],
                r["path"],
                r["start_time"],
                r["end_time"],
                r["duration_s"],
                r["bytes"],
                EndReason(r["end_reason"]),
            )
            for r in rows
        ]


@dataclass(frozen=True, slots=True)
class CameraTotals:
    camera: str
    segments: int
    bytes: int
    oldest_start: datetime
    newest_end: datetime


@dataclass(frozen=True, slots=True)
class OldSegment:
    id: int
    camera: str
    path: str
    start: datetime
    end: datetime
    bytes: int


@dataclass(frozen=True, slots=True)
class RecordingRow:
    id: int
    camera: str
    path: str
    start: datetime
    end: datetime
    duration_s: float
    bytes: int
    end_reason: EndReason


_ROW_COLUMNS = "id, camera, path, start_time, end_time, duration_s, bytes, end_reason"


@dataclass(frozen=True, slots=True)
class RecordingWindow:
    """Which segments a listing reads: those of `cameras` (None: all) overlapping
    [start, end), either bound open when None, newest first or oldest first."""

    cameras: Sequence[str] | None
    start: datetime | None
    end: datetime | None
    newest_first: bool = False


def build_page_query(
    window: RecordingWindow, limit: int, after: tuple[datetime, int] | None
) -> tuple[str, list[Any]]:
    """Pure: the SQL and arguments of one page. Only the conditions a request has are in the
    statement (no `$n IS NULL OR ...`), so each shape is its own prepared statement whose
    generic plan still bounds the (camera, start_time, id) index scan."""
    args: list[Any] = []

    def arg(value: Any, cast: str) -> str:
        args.append(value)
        return f"${len(args)}::{cast}"

    where = ["deleting_since IS NULL"]
    if window.cameras:
        where.append(f"camera = ANY({arg(list(window.cameras), 'text[]')})")
    if window.start is not None:
        start = arg(window.start, "timestamptz")
        where.append(f"end_time > {start}")
        # A segment is at most MAX_SEGMENT_S long: a lower bound the index can use.
        where.append(f"start_time >= {start} - make_interval(secs => {MAX_SEGMENT_S})")
    if window.end is not None:
        where.append(f"start_time < {arg(window.end, 'timestamptz')}")
    if after is not None:
        past = "<" if window.newest_first else ">"
        after_start, after_id = arg(after[0], "timestamptz"), arg(after[1], "bigint")
        where.append(f"(start_time, id) {past} ({after_start}, {after_id})")
    order = "start_time DESC, id DESC" if window.newest_first else "start_time, id"
    sql = (
        f"SELECT {_ROW_COLUMNS} FROM recordings WHERE {' AND '.join(where)} "  # noqa: S608 - constants only
        f"ORDER BY {order} LIMIT {arg(limit, 'bigint')}"
    )
    return sql, args


def _recording_row(r: asyncpg.Record) -> RecordingRow:
    return RecordingRow(
        r["id"],
        r["camera"],
        r["path"],
        r["start_time"],
        r["end_time"],
        r["duration_s"],
        r["bytes"],
        EndReason(r["end_reason"]),
    )


class RecordingQueries:
    """Reads for the recordings API: overlap queries with keyset pagination."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def overlapping(
        self,
        cameras: Sequence[str] | None,
        start: datetime,
        end: datetime,
        limit: int,
        after: tuple[datetime, int] | None = None,
    ) -> list[RecordingRow]:
        """Segments overlapping [start, end), oldest first."""
        return await self.page(RecordingWindow(cameras, start, end), limit, after)

    async def page(
        self,
        window: RecordingWindow,
        limit: int,
        after: tuple[datetime, int] | None = None,
    ) -> list[RecordingRow]:
        """One page of the window's segments in its order, after the keyset `after`
        ((start, id) of the previous page's last row)."""
        sql, args = build_page_query(window, limit, after)
        return [_recording_row(r) for r in await self._pool.fetch(sql, *args)]

    async def get(self, recording_id: int) -> RecordingRow | None:
        row = await self._pool.fetchrow(
            f"SELECT {_ROW_COLUMNS} FROM recordings WHERE id = $1 AND deleting_since IS NULL",  # noqa: S608
            recording_id,
        )
        return _recording_row(row) if row is not None else None

    async def ids_in_range(
        self, cameras: Sequence[str] | None, start: datetime, end: datetime
    ) -> list[int]:
        rows = await self._pool.fetch(
            """SELECT id FROM recordings
               WHERE deleting_since IS NULL
                 AND ($1::text[] IS NULL OR camera = ANY($1::text[]))
                 AND start_time >= $2 AND end_time <= $3""",
            list(cameras) if cameras else None,
            start,
            end,
        )
        return [r["id"] for r in rows]

    async def spans(
        self, camera: str, start: datetime, end: datetime, merge_gap_s: float
    ) -> list[tuple[datetime, datetime, int, str]]:
        """(start, end, segments, end_reason of the last segment) of each recorded span: runs of
        segments less than `merge_gap_s` apart, merged in the database (a day of 10 s segments
        is 8,640 rows; one span is one row)."""
        rows = await self._pool.fetch(
            f"""WITH segments AS (
                    SELECT id, start_time, end_time, end_reason,
                           CASE WHEN start_time - lag(end_time) OVER w
                                     <= make_interval(secs => $4) THEN 0 ELSE 1 END AS opens
                    FROM recordings
                    WHERE camera = $1 AND deleting_since IS NULL
                      AND start_time < $3 AND end_time > $2
                      AND start_time >= $2 - make_interval(secs => {MAX_SEGMENT_S})
                    WINDOW w AS (ORDER BY start_time, id)
                ), numbered AS (
                    SELECT *, sum(opens) OVER (ORDER BY start_time, id) AS span FROM segments
                )
                SELECT min(start_time) AS start_time, max(end_time) AS end_time,
                       count(*) AS segments,
                       (array_agg(end_reason ORDER BY start_time DESC, id DESC))[1] AS end_reason
                FROM numbered GROUP BY span ORDER BY span""",  # noqa: S608 - constants only
            camera,
            start,
            end,
            merge_gap_s,
        )
        return [(r["start_time"], r["end_time"], r["segments"], r["end_reason"]) for r in rows]
