"""SQL for the cameras' last live states (persisted so a restart restates, not re-announces)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from vmsd.store.db import bounded

SAVE_TIMEOUT_S = 1.0  # a state not saved costs one repeated event at the next start, no more
# A state written for a camera deleted meanwhile is skipped, not an error.
_UPSERT = """
INSERT INTO camera_states (name, state, reason, since)
SELECT u.name, u.state, u.reason, u.since
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(name, state, reason, since)
WHERE EXISTS (SELECT 1 FROM cameras c WHERE c.name = u.name)
ON CONFLICT (name) DO UPDATE
    SET state = EXCLUDED.state, reason = EXCLUDED.reason, since = EXCLUDED.since
"""


@dataclass(frozen=True, slots=True)
class CameraStateRow:
    name: str
    state: str
    reason: str
    since: datetime


class CameraStateStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load(self) -> list[CameraStateRow]:
        rows = await bounded(
            self._pool.fetch("SELECT name, state, reason, since FROM camera_states ORDER BY name")
        )
        return [CameraStateRow(r["name"], r["state"], r["reason"], r["since"]) for r in rows]

    async def save(self, rows: Sequence[CameraStateRow]) -> None:
        """Bounded by SAVE_TIMEOUT_S: a MediaMTX hook waits for it."""
        await bounded(
            self._pool.execute(
                _UPSERT,
                [r.name for r in rows],
                [r.state for r in rows],
                [r.reason for r in rows],
                [r.since for r in rows],
            ),
            SAVE_TIMEOUT_S,
        )
