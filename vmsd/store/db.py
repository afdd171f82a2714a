"""The asyncpg pool and the numbered SQL migrations."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from vmsd.core.errors import StoreError
from vmsd.core.log import get_logger

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

log = get_logger("vmsd.store")
T = TypeVar("T")

# What a database that is away (stopped, hung, unreachable, restarting) raises: the plan for
# each of them is the same (retry later, degrade), so components catch this one tuple.
# TimeoutError covers both our own bounds and asyncpg's command_timeout.
DB_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    StoreError,
)
# The bound on one background database call (a periodic pass's query, a refresh): well under
# the supervisor's patience, well over a healthy query. A hang of any length costs a caller
# at most this long, then it retries on its next pass.
QUERY_TIMEOUT_S = 5.0


async def bounded(call: Awaitable[T], timeout_s: float = QUERY_TIMEOUT_S) -> T:
    """`await call`, raising TimeoutError after `timeout_s`. The call itself decides how fast
    it gives up when cancelled: a pool query against a hung server may wind down for up to the
    command timeout more (asyncpg's cancel request waits on it); a call that must end at its
    deadline uses `bounded_connection`."""
    async with asyncio.timeout(timeout_s):
        return await call


@contextlib.asynccontextmanager
async def bounded_connection(
    pool: asyncpg.Pool, timeout_s: float
) -> AsyncIterator[PoolConnectionProxy[Any]]:
    """A pooled connection for work that must end within `timeout_s`, whatever the server
    does. Cut short (timed out or cancelled), asyncpg left to itself would send a cancel
    request and roll back on this connection, each waiting on the server up to the command
    timeout (measured against a SIGSTOPped server: 5 s past a 1 s deadline); closing the
    socket ends the transaction without asking the server."""
    async with asyncio.timeout(timeout_s), pool.acquire() as conn:
        try:
            yield conn
        except asyncio.CancelledError:
            conn.terminate()
            raise

# pg_advisory_lock key: any constant that no other application on a shared database uses.
MIGRATION_LOCK_KEY = 0x766D_7364_0001  # "vmsd" + 1
_MIGRATION_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The migrations shipped in the package, in version order."""
    migrations = []
    for entry in resources.files("vmsd.store.migrations").iterdir():
        match = _MIGRATION_NAME_RE.match(entry.name)
        if match is None:
            continue
        migrations.append(
            Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8"))
        )
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise StoreError("two migrations share a version number", [str(versions)])
    return migrations


async def apply_migrations(conn: Connection) -> list[int]:
    """Apply what is missing, each in its own transaction, under an advisory lock.

    Two daemons starting at once against one database serialise on the lock; the second finds
    nothing left to do. Returns the versions applied by this call.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in load_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("migration_applied", version=migration.version, name=migration.name)
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def pending_migrations(conn: Connection) -> list[Migration]:
    """The shipped migrations this database has not applied yet. Reads only (`vmsd doctor`):
    a database vmsd never migrated has no schema_migrations table and lacks them all."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return load_migrations()
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m for m in load_migrations() if m.version not in done]


# Measured with 5 million index rows (bench/recordings.py): asyncpg's prepared statements drift
# to PostgreSQL's generic plans, which cannot use (camera, start_time) for "camera = ANY($1)"
# and underestimate time ranges; and rows stored in time order make the time index look
# cheaper than it is at the default random_page_cost. Both are per-session settings, so they
# hold for an external PostgreSQL too.
SESSION_SETTINGS = {
    "application_name": "vmsd",
    "plan_cache_mode": "force_custom_plan",
    "random_page_cost": "1.1",
}


async def create_pool(dsn: str, *, min_size: int, max_size: int, timeout_s: float) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            command_timeout=timeout_s,
            server_settings=SESSION_SETTINGS,
        )
    except (OSError, asyncpg.PostgresError) as err:
        raise StoreError(f"cannot connect to the database: {err}") from err
    assert pool is not None
    return pool


async def ping(pool: asyncpg.Pool, timeout_s: float = 2.0) -> None:
    """Raise StoreError unless the database answers within `timeout_s`."""
    try:
        async with pool.acquire(timeout=timeout_s) as conn:
            await conn.fetchval("SELECT 1", timeout=timeout_s)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        raise StoreError(f"database unreachable: {type(err).__name__}") from err
