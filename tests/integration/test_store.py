"""Migrations and token storage against the session's embedded PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from vmsd.access.roles import Role, hash_token
from vmsd.access.tokens import TokenRegistry, TokenService
from vmsd.core.errors import ConflictError, NotFoundError
from vmsd.store.db import apply_migrations, load_migrations
from vmsd.store.events import EventStore, NewEvent
from vmsd.store.tokens import TokenStore


async def test_migrations_apply_once_then_noop(database_dsn: str) -> None:
    conn = await asyncpg.connect(database_dsn)
    try:
        first = await apply_migrations(conn)
        assert first == [m.version for m in load_migrations()]
        assert await apply_migrations(conn) == []
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        assert {"cameras", "api_tokens", "events", "schema_migrations"} <= tables
    finally:
        await conn.close()


async def test_concurrent_migrators_do_not_race(database_dsn: str) -> None:
    conns = [await asyncpg.connect(database_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, 0, len(load_migrations())]
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(load_migrations())
    finally:
        for c in conns:
            await c.close()


async def test_tokens_stored_as_hashes_only(db_pool: asyncpg.Pool) -> None:
    service = TokenService(TokenStore(db_pool))
    token, secret = await service.create("ops-script", Role.OPERATOR)
    row = await db_pool.fetchrow("SELECT * FROM api_tokens WHERE id = $1", token.id)
    assert row is not None
    assert secret not in str(dict(row))
    assert bytes(row["token_hash"]) == hash_token(secret)
    with pytest.raises(ConflictError):
        await service.create("ops-script", Role.VIEWER)
    revoked = await service.revoke(token.id)
    assert revoked.revoked_at is not None
    await service.create("ops-script", Role.VIEWER)  # name free again once revoked
    with pytest.raises(NotFoundError):
        await service.revoke(999_999)


async def test_registry_follows_changes_made_elsewhere(db_pool: asyncpg.Pool) -> None:
    """A token created by another process (here: another connection) reaches the daemon's
    in-memory registry through NOTIFY, with no query per request."""
    registry = TokenRegistry(db_pool, TokenStore(db_pool))
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(registry.run())
        await asyncio.wait_for(registry.loaded.wait(), 5)
        other = TokenService(TokenStore(db_pool))  # no registry: like `vmsd token create`
        token, secret = await other.create("elsewhere", Role.ADMIN)
        for _ in range(100):
            if registry.lookup(secret) is not None:
                break
            await asyncio.sleep(0.02)
        principal = registry.lookup(secret)
        assert principal is not None and principal.role is Role.ADMIN
        await other.revoke(token.id)
        for _ in range(100):
            if registry.lookup(secret) is None:
                break
            await asyncio.sleep(0.02)
        assert registry.lookup(secret) is None
        task.cancel()


async def test_events_recorded(db_pool: asyncpg.Pool) -> None:
    now = datetime.now(UTC)
    batch = [NewEvent(now, f"type_{i}", None, {"i": i}) for i in range(50)]
    ids = await EventStore(db_pool).insert(batch)
    rows = await db_pool.fetch("SELECT id, type FROM events WHERE id = ANY($1) ORDER BY id", ids)
    assert [r["type"] for r in rows] == [f"type_{i}" for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
