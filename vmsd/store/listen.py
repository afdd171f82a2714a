"""LISTEN on a PostgreSQL channel forever: the way in-memory snapshots (tokens, cameras) hear
that a table changed, from this daemon, a CLI command or another box sharing the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg

from vmsd.core.backoff import Backoff
from vmsd.core.errors import describe_error
from vmsd.core.log import get_logger
from vmsd.store.db import DB_UNAVAILABLE, QUERY_TIMEOUT_S, bounded

log = get_logger("vmsd.store.listen")


async def listen_forever(
    pool: asyncpg.Pool,
    channel: str,
    refresh: Callable[[], Awaitable[None]],
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    timeout_s: float = QUERY_TIMEOUT_S,
) -> None:
    """Call `refresh` once listening and again after every notification. A lost connection,
    a database that does not answer (each acquire and refresh is bounded by `timeout_s`) or a
    refresh that fails on the store's side (StoreError) backs off and listens again,
    refreshing first, so nothing missed in between is lost. The snapshot in memory stays as
    it was meanwhile."""
    retries = (backoff or Backoff(initial_s=1.0, max_s=30.0)).series()
    while True:
        try:
            await _listen_once(pool, channel, refresh, timeout_s)
            retries.succeeded()
        except DB_UNAVAILABLE as err:
            delay = retries.failed()
            log.warning(
                "listener_lost",
                channel=channel,
                error=describe_error(err),
                retry_in_s=round(delay, 2),
            )
            await sleep(delay)


async def _listen_once(
    pool: asyncpg.Pool, channel: str, refresh: Callable[[], Awaitable[None]], timeout_s: float
) -> None:
    wake = asyncio.Event()
    lost = False

    def on_notify(*_args: object) -> None:
        wake.set()

    def on_terminate(*_args: object) -> None:
        nonlocal lost
        lost = True
        wake.set()

    async with pool.acquire(timeout=timeout_s) as conn:
        await bounded(conn.add_listener(channel, on_notify), timeout_s)
        conn.add_termination_listener(on_terminate)
        try:
            await bounded(refresh(), timeout_s)
            while True:
                await wake.wait()
                wake.clear()
                if lost:
                    break
                await bounded(refresh(), timeout_s)
        finally:
            conn.remove_termination_listener(on_terminate)
            if not lost:
                with contextlib.suppress(*DB_UNAVAILABLE):
                    await bounded(conn.remove_listener(channel, on_notify), timeout_s)
    raise asyncpg.InterfaceError(f"listener connection for {channel} closed")
