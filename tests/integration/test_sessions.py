"""Sessions against the real database with an injected clock: idle timeout counted from the
last use, the absolute lifetime, last_seen_at written at most once a minute, a database
that is away answering 503 rather than letting anyone in, and the live sessions' gauge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from tests.faults import frozen_postgres
from vmsd.access.metrics import AccessMetrics
from vmsd.access.session_count import SessionCount
from vmsd.access.sessions import SessionService, hash_session
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.errors import StoreError
from vmsd.core.metrics import Metrics
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


async def user_id(pool: asyncpg.Pool, name: str = "alice") -> int:
    value = await pool.fetchval(
        "INSERT INTO users (name, role, password_hash) VALUES ($1, 'viewer', 'x') RETURNING id",
        name,
    )
    return int(value)


def gauge(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("vmsd_sessions_active")


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


async def test_the_gauge_counts_the_live_sessions_of_every_user(db_pool: asyncpg.Pool) -> None:
    clock = Clock()
    sessions = service(db_pool, clock)
    alice, bob = await user_id(db_pool), await user_id(db_pool, "bob")
    _, revoked = await sessions.start(alice, "192.0.2.1", "test")
    await sessions.revoke(alice, revoked.id)
    await sessions.start(alice, "192.0.2.1", "test")  # idle by the end
    clock.now += IDLE - timedelta(minutes=1)
    _, ending = await sessions.start(bob, "192.0.2.2", "test")  # its lifetime ends in time
    clock.now += timedelta(minutes=2)
    live = [await sessions.start(uid, "192.0.2.3", "test") for uid in (alice, bob, bob)]
    await db_pool.execute("UPDATE sessions SET expires_at = $2 WHERE id = $1", ending.id, clock.now)

    metrics = Metrics()
    count = SessionCount(sessions, metrics.group(AccessMetrics))
    assert gauge(metrics) == 0  # declared before the first count
    assert await count.run_once() == 3
    assert gauge(metrics) == 3
    listed = [s.id for uid in (alice, bob) for s in await sessions.list_live(uid)]
    assert sorted(listed) == sorted(s.id for _, s in live)  # the rule list_live applies
    # A new daemon (a restart, another box) counts what the database holds.
    again = Metrics()
    assert await SessionCount(service(db_pool, clock), again.group(AccessMetrics)).run_once() == 3
    assert gauge(again) == 3
    await sessions.revoke_all(bob)
    clock.now += timedelta(seconds=1)
    assert await count.run_once() == 1 and gauge(metrics) == 1


async def test_a_hung_database_never_holds_a_scrape_and_keeps_the_last_count(
    own_server: EmbeddedPostgres, own_pool: asyncpg.Pool
) -> None:
    sessions = service(own_pool, Clock())
    await sessions.start(await user_id(own_pool), "192.0.2.1", "test")
    metrics = Metrics()
    slept: list[float] = []
    more = asyncio.Event()

    async def sleep(delay_s: float) -> None:
        slept.append(delay_s)
        if len(slept) >= 3:
            await more.wait()

    count = SessionCount(sessions, metrics.group(AccessMetrics), timeout_s=0.5, sleep=sleep)
    assert await count.run_once() == 1
    with frozen_postgres(own_server.data_dir), capture_logs() as logs:
        started = time.monotonic()
        assert b"vmsd_sessions_active 1.0" in generate_latest(metrics.registry)
        assert time.monotonic() - started < 0.1
        with pytest.raises(TimeoutError):
            await count.run_once()
        assert time.monotonic() - started < 2.5  # its own bound (0.5 s), not the server's
        async with asyncio.timeout(10):
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(count.run())
                while len(slept) < 3:
                    await asyncio.sleep(0.05)
                task.cancel()
    assert gauge(metrics) == 1  # the last count stands
    deferred = [e for e in logs if e["event"] == "sessions_count_deferred"]
    assert [e["log_level"] for e in deferred if e["log_level"] == "warning"] == ["warning"]
