"""SQL for the events table: every state change an operator may want to look back on."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


class EventStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, type_: str, camera: str | None = None, **data: Any) -> int:
        event_id = await self._pool.fetchval(
            "INSERT INTO events (type, camera, data) VALUES ($1, $2, $3::jsonb) RETURNING id",
            type_,
            camera,
            json.dumps(data, default=str),
        )
        assert isinstance(event_id, int)
        return event_id
