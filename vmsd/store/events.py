"""SQL for the events table: every state change an operator may want to look back on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class NewEvent:
    time: datetime
    type: str
    camera: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    time: datetime
    type: str
    camera: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventFilter:
    cameras: tuple[str, ...] | None = None  # None: any camera or none; (): no event at all
    types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


_INSERT = """
INSERT INTO events (time, type, camera, data)
SELECT t, ty, c, d FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::jsonb[])
    WITH ORDINALITY AS e(t, ty, c, d, n)
ORDER BY n
RETURNING id
"""


class EventStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(self, events: Sequence[NewEvent]) -> list[int]:
        """Stores the events in one statement; returns their ids in the order given (identity
        values are drawn in the ORDER BY order, so sorting the returned ids restores it)."""
        rows = await self._pool.fetch(
            _INSERT,
            [e.time for e in events],
            [e.type for e in events],
            [e.camera for e in events],
            [json.dumps(e.data, default=str) for e in events],
        )
        return sorted(int(r["id"]) for r in rows)

    async def search(
        self, where: EventFilter, limit: int, after_id: int | None, newest_first: bool
    ) -> list[EventRow]:
        """One page of events matching `where`, keyset-paginated by id."""
        order = "DESC" if newest_first else "ASC"
        cmp = "<" if newest_first else ">"
        rows = await self._pool.fetch(
            f"""
            SELECT id, time, type, camera, data::text AS data FROM events
            WHERE ($1::text[] IS NULL OR camera = ANY($1::text[]))
              AND (cardinality($2::text[]) = 0 OR type = ANY($2::text[]))
              AND ($3::timestamptz IS NULL OR time >= $3)
              AND ($4::timestamptz IS NULL OR time < $4)
              AND ($5::bigint IS NULL OR id {cmp} $5)
            ORDER BY id {order}
            LIMIT $6
            """,  # noqa: S608 - only the fixed order/comparison words are formatted in
            list(where.cameras) if where.cameras is not None else None,
            list(where.types),
            where.since,
            where.until,
            after_id,
            limit,
        )
        return [_row(r) for r in rows]

    async def last_id(self) -> int:
        """The newest event's id (0 for an empty table)."""
        value = await self._pool.fetchval("SELECT coalesce(max(id), 0) FROM events")
        return int(value)

    async def delete_older_than(self, cutoff: datetime, batch: int) -> int:
        """Deletes up to `batch` of the oldest events before `cutoff`; returns how many."""
        result = await self._pool.execute(
            """
            DELETE FROM events WHERE id IN (
                SELECT id FROM events WHERE time < $1 ORDER BY time LIMIT $2
            )
            """,
            cutoff,
            batch,
        )
        return int(result.split()[-1])


def _row(record: asyncpg.Record) -> EventRow:
    return EventRow(
        id=record["id"],
        time=record["time"],
        type=record["type"],
        camera=record["camera"],
        data=json.loads(record["data"]),
    )
