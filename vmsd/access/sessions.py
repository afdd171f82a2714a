"""Login sessions: a 256-bit random cookie value, of which only the SHA-256 is stored; valid
while not revoked, used within `auth.sessions.idle_timeout` and younger than
`auth.sessions.lifetime`."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from vmsd.config.load import ConfigHolder
from vmsd.core.errors import StoreError
from vmsd.store.db import DB_UNAVAILABLE, QUERY_TIMEOUT_S, bounded
from vmsd.store.sessions import SessionRecord, SessionStore

SESSION_BYTES = 32
# A session's last_seen_at is written at most this often: not a database write per request.
TOUCH_EVERY = timedelta(seconds=60)
# Ended sessions are kept this long (the user's list, an audit), then removed at a login.
KEEP_ENDED = timedelta(days=7)
MAX_COOKIE_CHARS = 100  # token_urlsafe(32) is 43 characters


def utc_now() -> datetime:
    return datetime.now(UTC)


def hash_session(value: str) -> bytes:
    """SHA-256 is enough: the value is 256 random bits, there is nothing to brute-force."""
    return hashlib.sha256(value.encode()).digest()


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        holder: ConfigHolder,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._holder = holder
        self._clock = clock

    @property
    def _idle(self) -> timedelta:
        return timedelta(seconds=self._holder.current.auth.sessions.idle_timeout)

    async def start(
        self, user_id: int, client_ip: str, user_agent: str
    ) -> tuple[str, SessionRecord]:
        """A new session; returns the cookie value (never stored) and the session."""
        now = self._clock()
        value = secrets.token_urlsafe(SESSION_BYTES)
        lifetime = timedelta(seconds=self._holder.current.auth.sessions.lifetime)
        session = await self._store.create(
            user_id,
            hash_session(value),
            now,
            now + lifetime,
            client_ip[:64],
            user_agent[:256],
            forget_before=now - KEEP_ENDED,
        )
        return value, session

    async def resolve(self, value: str) -> SessionRecord | None:
        """The live session behind a cookie value, its last use noted (at most once a
        minute); None when there is none, or it is revoked, idle too long or too old.
        StoreError (503) when the database does not answer in time: a request is neither
        let in nor held for the whole hang."""
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        try:
            session = await bounded(self._store.find(hash_session(value)))
            now = self._clock()
            if session is None or not self.is_live(session, now):
                return None
            if now - session.last_seen_at >= TOUCH_EVERY:
                await bounded(self._store.touch(session.id, now))
        except DB_UNAVAILABLE as err:
            raise StoreError("the database does not answer: sessions cannot be checked") from err
        return session

    def is_live(self, session: SessionRecord, now: datetime) -> bool:
        return (
            session.revoked_at is None
            and now < session.expires_at
            and now - session.last_seen_at < self._idle
        )

    async def list_live(self, user_id: int) -> list[SessionRecord]:
        now = self._clock()
        return await self._store.list_live(user_id, now - self._idle, now)

    async def count_live(self, timeout_s: float = QUERY_TIMEOUT_S) -> int:
        """Live sessions of every user, by the rule `is_live` applies to one; TimeoutError
        after `timeout_s`, whatever the database does."""
        now = self._clock()
        return await self._store.count_live(now - self._idle, now, timeout_s)

    async def revoke(self, user_id: int, session_id: int) -> SessionRecord:
        return await self._store.revoke(user_id, session_id)

    async def revoke_all(self, user_id: int) -> int:
        return await self._store.revoke_all(user_id)
