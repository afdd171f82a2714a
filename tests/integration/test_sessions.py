"""Sessions against the real database with an injected clock: idle timeout counted from the
last use, the absolute lifetime, last_seen_at written at most once a minute, and a database
that is away answering 503 rather than letting anyone in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from vmsd.access.sessions import SessionService, hash_session
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.errors import StoreError
from vmsd.runtime.embedded import EmbeddedPostgres, dsn_for
from vmsd.store.db import apply_migrations
from vmsd.store.sessions import SessionStore

IDLE = timedelta(minutes=5)
LIFETIME = timedelta(minutes=12)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def service(pool: asyncpg.Pool, clock: Clock) -> SessionService:
    settings = {"sessions": {"idle_timeout": "5m", "lifetime": "12m"}}
    holder = ConfigHolder(Config.model_validate({"auth": settings}), Path("unused.yml"))
    return SessionService(SessionStore(pool), holder, clock)


async def user_id(pool: asyncpg.Pool) -> int:
    value = await pool.fetchval(
        "INSERT INTO users (name, role, password_hash) VALUES ('alice', 'viewer', 'x') RETURNING id"
    )
    return int(value)


async def test_idle_timeout_counts_from_the_last_use(db_pool: asyncpg.Pool) -> None:
    clock = Clock()
    sessions = service(db_pool, clock)
    cookie, started = await sessions.start(await user_id(db_pool), "192.0.2.1", "test")
    assert started.expires_at == clock.now + LIFETIME
    stored = await db_pool.fetchval("SELECT token_hash FROM sessions")
    assert bytes(stored) == hash_session(cookie) and cookie.encode() not in bytes(stored)

    clock.now += timedelta(seconds=30)
    assert await sessions.resolve(cookie) is not None
    seen = "SELECT last_seen_at FROM sessions"
    assert await db_pool.fetchval(seen) == started.created_at  # under a minute: no write
    # Idle time counts from the last use noted, which is at most a minute old.
    clock.now += IDLE - timedelta(seconds=31)
    assert await sessions.resolve(cookie) is not None
    assert await db_pool.fetchval(seen) == clock.now  # noted: idle counts from here
    clock.now += IDLE - timedelta(seconds=1)
    assert await sessions.resolve(cookie) is not None  # 10 min in, used every < 5 min
    clock.now += IDLE
    assert await sessions.resolve(cookie) is None
    assert await sessions.list_live(started.user_id) == []


async def test_the_lifetime_ends_even_a_busy_session(db_pool: asyncpg.Pool) -> None:
    clock = Clock()
    sessions = service(db_pool, clock)
    cookie, started = await sessions.start(await user_id(db_pool), "192.0.2.1", "test")
    for _ in range(11):
        clock.now += timedelta(minutes=1)
        assert await sessions.resolve(cookie) is not None
    clock.now = started.expires_at
    assert await sessions.resolve(cookie) is None


async def test_revoked_unknown_and_malformed_cookies_are_no_session(db_pool: asyncpg.Pool) -> None:
    clock = Clock()
    sessions = service(db_pool, clock)
    uid = await user_id(db_pool)
    cookie, session = await sessions.start(uid, "192.0.2.1", "test")
    other, _ = await sessions.start(uid, "192.0.2.1", "test")
    await sessions.revoke(uid, session.id)
    assert await sessions.resolve(cookie) is None
    assert await sessions.resolve(other) is not None
    assert await sessions.revoke_all(uid) == 1
    for value in (other, "", "x" * 500, "not-a-session"):
        assert await sessions.resolve(value) is None


@pytest.fixture
async def own_pool(own_server: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(dsn_for(own_server.socket_dir, "postgres"))
    assert pool is not None
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    yield pool
    pool.terminate()


async def test_a_database_that_is_away_is_a_503_not_a_session(
    own_server: EmbeddedPostgres, own_pool: asyncpg.Pool
) -> None:
    sessions = service(own_pool, Clock())
    cookie, _ = await sessions.start(await user_id(own_pool), "192.0.2.1", "test")
    await own_server.stop()
    with pytest.raises(StoreError):
        await sessions.resolve(cookie)
