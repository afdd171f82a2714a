"""SQL for clip export jobs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from vmsd.core.errors import NotFoundError

_COLUMNS = """id, camera, start_time, end_time, state, progress, path, bytes, error, gaps,
    covered_s, created_at, finished_at, expires_at"""


@dataclass(frozen=True, slots=True)
class ExportJob:
    id: int
    camera: str
    start: datetime
    end: datetime
    state: str
    progress: float
    path: str | None
    bytes: int | None
    error: str | None
    gaps: Sequence[dict[str, Any]]
    covered_s: float | None  # recorded time in the range; None until planned
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime


def _job(r: asyncpg.Record) -> ExportJob:
    return ExportJob(
        r["id"],
        r["camera"],
        r["start_time"],
        r["end_time"],
        r["state"],
        r["progress"],
        r["path"],
        r["bytes"],
        r["error"],
        json.loads(r["gaps"]),
        r["covered_s"],
        r["created_at"],
        r["finished_at"],
        r["expires_at"],
    )


class ExportStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, camera: str, start: datetime, end: datetime, expires_at: datetime
    ) -> ExportJob:
        row = await self._pool.fetchrow(
            f"""INSERT INTO exports (camera, start_time, end_time, expires_at)
                VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}""",  # noqa: S608
            camera,
            start,
            end,
            expires_at,
        )
        assert row is not None
        return _job(row)

    async def get(self, job_id: int) -> ExportJob:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM exports WHERE id = $1",  # noqa: S608
            job_id,
        )
        if row is None:
            raise NotFoundError(f"no export with id {job_id}")
        return _job(row)

    async def next_queued(self) -> ExportJob | None:
        """Claim the oldest queued job (running from now on)."""
        row = await self._pool.fetchrow(
            f"""UPDATE exports SET state = 'running' WHERE id = (
                    SELECT id FROM exports WHERE state = 'queued' ORDER BY id
                    FOR UPDATE SKIP LOCKED LIMIT 1)
                RETURNING {_COLUMNS}"""  # noqa: S608
        )
        return _job(row) if row is not None else None

    async def progress(self, job_id: int, fraction: float) -> None:
        await self._pool.execute(
            "UPDATE exports SET progress = $2 WHERE id = $1 AND state = 'running'",
            job_id,
            fraction,
        )

    async def finish(
        self,
        job_id: int,
        *,
        path: str | None,
        size: int | None,
        gaps: Sequence[dict[str, Any]],
        covered_s: float | None,
        error: str | None,
    ) -> None:
        await self._pool.execute(
            """UPDATE exports SET state = $2, path = $3, bytes = $4, gaps = $5::jsonb,
                   covered_s = $6, error = $7,
                   progress = CASE WHEN $7::text IS NULL THEN 1 ELSE progress END,
                   finished_at = now()
               WHERE id = $1""",
            job_id,
            "failed" if error else "done",
            path,
            size,
            json.dumps(list(gaps)),
            covered_s,
            error,
        )

    async def page(
        self,
        cameras: Sequence[str],
        states: Sequence[str],
        limit: int,
        before_id: int | None,
    ) -> list[ExportJob]:
        """Jobs newest first (by id: the order they were asked for), those of `cameras` and
        in `states` (empty: any), with ids below `before_id` (the keyset of the last page)."""
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM exports
                WHERE (cardinality($1::text[]) = 0 OR camera = ANY($1::text[]))
                  AND (cardinality($2::text[]) = 0 OR state = ANY($2::text[]))
                  AND ($3::bigint IS NULL OR id < $3)
                ORDER BY id DESC LIMIT $4""",  # noqa: S608
            list(cameras),
            list(states),
            before_id,
            limit,
        )
        return [_job(r) for r in rows]

    async def fail_interrupted(self) -> list[int]:
        rows = await self._pool.fetch(
            """UPDATE exports SET state = 'failed', finished_at = now(),
                   error = 'interrupted by a daemon restart'
               WHERE state = 'running' RETURNING id"""
        )
        return [r["id"] for r in rows]

    async def delete(self, job_id: int) -> ExportJob:
        row = await self._pool.fetchrow(
            f"DELETE FROM exports WHERE id = $1 RETURNING {_COLUMNS}",  # noqa: S608
            job_id,
        )
        if row is None:
            raise NotFoundError(f"no export with id {job_id}")
        return _job(row)

    async def expired(self, now: datetime) -> list[ExportJob]:
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM exports
                WHERE expires_at < $1 AND state IN ('done', 'failed')""",  # noqa: S608
            now,
        )
        return [_job(r) for r in rows]
