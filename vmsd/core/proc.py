"""Child-process helpers shared by every supervised child (PostgreSQL, MediaMTX, FFmpeg)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def parent_death_signal(sig: signal.Signals) -> Callable[[], None]:
    """A preexec_fn asking the kernel to send `sig` to the child when vmsd dies.

    It runs in the child after the uid switch (CPython calls preexec_fn after setreuid), which
    matters because a credential change clears the setting. The child must be spawned from the
    event-loop (main) thread: the signal fires when the *thread* that forked it exits.
    """

    def _set() -> None:
        if sys.platform == "linux":
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _set


async def spawn_child(
    *argv: str, death_signal: signal.Signals = signal.SIGKILL, **options: Any
) -> asyncio.subprocess.Process:
    """Starts a child the way every child of vmsd must start: in its own process group (so
    signal_group reaches all of it and a terminal's Ctrl-C to vmsd does not), with
    `death_signal` sent to it should vmsd die, and with no stdin unless one is asked for.
    `options` go to asyncio.create_subprocess_exec."""
    options.setdefault("stdin", asyncio.subprocess.DEVNULL)
    return await asyncio.create_subprocess_exec(
        *argv,
        start_new_session=True,
        preexec_fn=parent_death_signal(death_signal),
        **options,
    )


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the child's whole process group (it was started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def stop_process(
    proc: asyncio.subprocess.Process,
    *,
    first_signal: signal.Signals,
    grace_s: float,
    kill_after_s: float = 5.0,
) -> int:
    """Send `first_signal`, wait `grace_s`, then SIGKILL the group, and always reap.

    The kill-and-reap path also runs when the wait itself is cancelled: no zombie, no orphan.
    """
    if proc.returncode is not None:
        return proc.returncode
    try:
        signal_group(proc.pid, first_signal)
        try:
            return await asyncio.wait_for(proc.wait(), timeout=grace_s)
        except TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
            return await asyncio.wait_for(proc.wait(), timeout=kill_after_s)
    except asyncio.CancelledError:
        signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        # SIGKILL cannot be ignored, so this wait is short; it reaps the child before the
        # cancellation goes on.
        await proc.wait()
        raise


async def read_pipe(
    read_fd: int, limit: int = 64 * 1024
) -> tuple[asyncio.StreamReader, asyncio.ReadTransport]:
    """A StreamReader over the read end of a pipe of our own (os.pipe). The transport owns the
    fd and closes it; on failure the fd is closed here."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=limit, loop=loop)
    # Wraps the pipe's fd, no blocking I/O.
    pipe = open(read_fd, "rb", buffering=0)  # noqa: ASYNC230, SIM115
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), pipe
        )
    except BaseException:
        pipe.close()
        raise
    return stream, transport
