"""LISTEN on a PostgreSQL channel forever: the way in-memory snapshots (tokens, cameras) hear
that a table changed, from this daemon, a CLI command or another box sharing the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg

from vmsd.backoff import Backoff
from vmsd.log import get_logger

log = get_logger("vmsd.store.listen")


async def listen_forever(
    pool: asyncpg.Pool,
    channel: str,
    refresh: Callable[[], Awaitable[None]],
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Call `refresh` once listening and again after every notification. A lost connection
    backs off and listens again (refreshing first, so nothing missed in between is lost)."""
    policy = backoff or Backoff(initial_s=1.0, max_s=30.0)
    attempt = 0
    while True:
        try:
            await _listen_once(pool, channel, refresh)
            attempt = 0
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            delay = policy.delay_s(attempt)
            attempt += 1
            log.warning(
                "listener_lost", channel=channel, error=str(err), retry_in_s=round(delay, 2)
            )
            await sleep(delay)


async def _listen_once(
    pool: asyncpg.Pool, channel: str, refresh: Callable[[], Awaitable[None]]
) -> None:
    wake = asyncio.Event()
    lost = False

    def on_notify(*_args: object) -> None:
        wake.set()

    def on_terminate(*_args: object) -> None:
        nonlocal lost
        lost = True
        wake.set()

    async with pool.acquire() as conn:
        await conn.add_listener(channel, on_notify)
        conn.add_termination_listener(on_terminate)
        try:
            await refresh()
            while True:
                await wake.wait()
                wake.clear()
                if lost:
                    break
                await refresh()
        finally:
            conn.remove_termination_listener(on_terminate)
            if not lost:
                with contextlib.suppress(asyncpg.InterfaceError, OSError):
                    await conn.remove_listener(channel, on_notify)
    raise asyncpg.InterfaceError(f"listener connection for {channel} closed")
