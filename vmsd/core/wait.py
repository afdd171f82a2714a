"""The one "sleep until a deadline or an event" of the code base, in two forms: on the loop's
clock, and on an injected sleep (a test's fake, as the restart policies take)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_event(event: asyncio.Event, timeout_s: float | None) -> bool:
    """Sleeps until `event` is set or `timeout_s` has passed (None: no deadline). True when
    the event was set. asyncio.timeout, unlike wait_for on Python 3.11, costs no task per wait:
    with dozens of cameras the waits are most of what the loop does. The caller clears the
    event if it wants the next wait to sleep."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def sleep_or_event(
    event: asyncio.Event, delay_s: float, sleep: Callable[[float], Awaitable[None]]
) -> None:
    """`sleep(delay_s)` cut short by `event`: for a backoff whose sleep is injected. An
    injected sleep that fails is a bug and is raised."""
    if event.is_set():
        return
    sleeper = asyncio.ensure_future(sleep(delay_s))
    woken = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        woken.cancel()
        await asyncio.wait({sleeper, woken})
    if not sleeper.cancelled():
        sleeper.result()
