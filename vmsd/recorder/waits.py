"""The waits of a recorder between runs that are not plain timers: a source's TCP port
opening again (resume the moment a camera is back), its storage coming back, and the next
second when a segment name of this second is taken."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from vmsd.core.wait import wait_event

PORT_WATCH_INTERVAL_S = 0.5
STORAGE_POLL_S = 1.0  # one stat or statvfs per second in a thread, while storage is at fault


def tcp_target(url: str) -> tuple[str, int] | None:
    """Host and port of a TCP source, watched during backoff to resume the moment it returns."""
    parts = urlsplit(url)
    defaults = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}
    if parts.scheme not in defaults or not parts.hostname:
        return None
    return parts.hostname, parts.port or defaults[parts.scheme]


async def wait_woken_or_port(
    wake: asyncio.Event, delay: float, target: tuple[str, int] | None
) -> None:
    """At most `delay`: until `wake` is set, or `target`'s port opens after having refused."""
    waiters: list[asyncio.Task[object]] = [asyncio.create_task(wake.wait())]
    if target is not None:
        waiters.append(asyncio.create_task(port_reopens(*target)))
    try:
        await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


async def port_reopens(host: str, port: int) -> None:
    """Returns once the port accepts after having refused at least once."""
    refused = False
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
        except (OSError, TimeoutError):
            refused = True
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            if refused:
                return
        await asyncio.sleep(PORT_WATCH_INTERVAL_S)


async def wait_storage_ready(
    ready: Callable[[], bool],
    delay: float,
    wake: asyncio.Event,
    interrupted: Callable[[], bool],
) -> None:
    """Until `ready()` (blocking, cheap: polled in a thread every STORAGE_POLL_S) turns true
    after having been false -- or holds once `delay` has passed, for a fault the check cannot
    see (ENOSPC with blocks free: quota, inodes elsewhere) -- or `interrupted()` after a
    `wake`."""
    started = time.monotonic()
    lacking = False
    while not interrupted():
        ok = await asyncio.to_thread(ready)
        waited = time.monotonic() - started
        if ok and (lacking or waited >= delay):
            return
        lacking = lacking or not ok
        timeout = STORAGE_POLL_S if not ok else min(STORAGE_POLL_S, delay - waited)
        await wait_event(wake, timeout)
        wake.clear()


async def avoid_name_collision(camera_dir: Path) -> None:
    """Segment names have one-second resolution: a run restarted within the second the previous
    run's last segment began would overwrite it. Wait for the next second instead."""
    now = datetime.now(UTC)
    name = camera_dir / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    if await asyncio.to_thread(_taken, name):
        await asyncio.sleep(1.05 - now.microsecond / 1e6)


def _taken(name: Path) -> bool:
    return any(name.with_suffix(ext).exists() for ext in (".mp4", ".mkv"))
