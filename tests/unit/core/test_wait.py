"""core.wait: a sleep that an event cuts short, on the loop's clock or an injected sleep."""

from __future__ import annotations

import asyncio

import pytest

from vmsd.core.wait import sleep_or_event, wait_event


async def test_wait_event_times_out_or_wakes() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True
    assert await wait_event(event, 0) is True  # already set: no wait at all


async def test_wait_event_passes_cancellation() -> None:
    task = asyncio.create_task(wait_event(asyncio.Event(), None))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_sleep_or_event_uses_the_injected_sleep_and_is_cut_short() -> None:
    delays: list[float] = []
    forever = asyncio.Event()

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        await forever.wait()

    kicked = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, kicked.set)
    await asyncio.wait_for(sleep_or_event(kicked, 30.0, fake_sleep), 5)
    assert delays == [30.0]


async def test_sleep_or_event_raises_a_failing_sleep() -> None:
    async def broken(_delay: float) -> None:
        raise RuntimeError("bug in an injected sleep")

    with pytest.raises(RuntimeError, match="injected"):
        await sleep_or_event(asyncio.Event(), 1.0, broken)
