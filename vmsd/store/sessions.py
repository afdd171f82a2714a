"""SQL for login sessions (migration 0009's `sessions`): only the SHA-256 of a cookie's value
is stored. What makes a session valid (idle, lifetime, revoked) is vmsd.access.sessions'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from vmsd.core.errors import NotFoundError
from vmsd.store.db import bounded_connection

_COLUMNS = "id, user_id, created_at, last_seen_at, expires_at, revoked_at, client_ip, user_agent"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    client_ip: str
    user_agent: str


def _session(row: asyncpg.Record) -> SessionRecord:
    return SessionRecord(
        id=row["id"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        client_ip=row["client_ip"],
        user_agent=row["user_agent"],
    )


class SessionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        user_id: int,
        token_hash: bytes,
        now: datetime,
        expires_at: datetime,
        client_ip: str,
        user_agent: str,
        forget_before: datetime,
    ) -> SessionRecord:
        """A new session; the user's sessions that ended before `forget_before` are removed
        (the table holds what is live or recent, not every login ever)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """DELETE FROM sessions WHERE user_id = $1
                   AND (expires_at < $2 OR last_seen_at < $2 OR revoked_at < $2)""",
                user_id,
                forget_before,
            )
            row = await conn.fetchrow(
                f"""INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at,
                        expires_at, client_ip, user_agent)
                    VALUES ($1, $2, $3, $3, $4, $5, $6) RETURNING {_COLUMNS}""",  # noqa: S608
                user_id,
                token_hash,
                now,
                expires_at,
                client_ip,
                user_agent,
            )
        assert row is not None
        return _session(row)

    async def find(self, token_hash: bytes) -> SessionRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM sessions WHERE token_hash = $1",  # noqa: S608
            token_hash,
        )
        return _session(row) if row is not None else None

    async def touch(self, session_id: int, now: datetime) -> None:
        await self._pool.execute(
            "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2",
            session_id,
            now,
        )

    async def list_live(
        self, user_id: int, idle_since: datetime, now: datetime
    ) -> list[SessionRecord]:
        """The user's sessions not revoked, seen since `idle_since`, not expired at `now`."""
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL
                AND last_seen_at >= $2 AND expires_at > $3 ORDER BY id""",  # noqa: S608
            user_id,
            idle_since,
            now,
        )
        return [_session(r) for r in rows]

    async def count_live(self, idle_since: datetime, now: datetime, timeout_s: float) -> int:
        """Every user's sessions not revoked, seen since `idle_since`, not expired at `now`:
        one aggregate over a table that holds only what is live or recent. Ends within
        `timeout_s` whatever the server does (TimeoutError)."""
        async with bounded_connection(self._pool, timeout_s) as conn:
            count = await conn.fetchval(
                """SELECT count(*) FROM sessions WHERE revoked_at IS NULL
                   AND last_seen_at >= $1 AND expires_at > $2""",
                idle_since,
                now,
            )
        return int(count)

    async def revoke(self, user_id: int, session_id: int) -> SessionRecord:
        """One of the user's sessions (another user's is not found)."""
        row = await self._pool.fetchrow(
            f"""UPDATE sessions SET revoked_at = coalesce(revoked_at, now())
                WHERE id = $1 AND user_id = $2 RETURNING {_COLUMNS}""",  # noqa: S608
            session_id,
            user_id,
        )
        if row is None:
            raise NotFoundError(f"no session with id {session_id}")
        return _session(row)

    async def revoke_all(self, user_id: int) -> int:
        status = await self._pool.execute(
            "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            user_id,
        )
        return int(status.split()[-1])
