"""The read end of one FFmpeg run's `-progress` pipe: watched at first, then polled on a tick
shared by every run.

Why polled: FFmpeg writes a block a second per camera, and on the daemon's machine one loop
wake-up costs far more than the block's parsing (measured about 0.2 ms of CPU, most of it in the
kernel, against 0.02 ms for a read on a tick). Reading every pipe on the same tick makes 32
cameras one wake-up instead of 32. The pipe buffers far more than a tick's worth of blocks, so
FFmpeg never waits for us.

Why watched first: until a run's clock is fixed, a block's arrival time matters (the run's
anchor is the earliest `now - out_time` seen, see FfmpegRun), as does a prompt "recording"
state; a polled block is seen up to one tick late.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable

from vmsd.recorder.ffmpeg import Progress, ProgressParser

# Polled blocks are handled up to this late: the stall watchdog may see a stall this much later
# (it reads the pipe again before it decides, so never earlier or wrongly).
PROGRESS_POLL_S = 0.5
READ_BYTES = 65536


class ProgressPipe:
    def __init__(
        self, fd: int, on_block: Callable[[Progress], None], poll_s: float = PROGRESS_POLL_S
    ) -> None:
        """Takes ownership of `fd` (closed by close())."""
        os.set_blocking(fd, False)
        self._fd = fd
        self._poll_s = poll_s
        self._on_block = on_block
        self._parser = ProgressParser()
        self._loop = asyncio.get_running_loop()
        self._watching = False
        self._tick: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = self._loop.create_future()  # EOF: FFmpeg is done

    def watch(self) -> None:
        """Handle every block as soon as it is written."""
        self._cancel_tick()
        if not self._watching and not self.closed.done():
            self._loop.add_reader(self._fd, self.drain)
            self._watching = True

    def poll(self) -> None:
        """Handle blocks on the shared tick from now on."""
        self._unwatch()
        if self._tick is None and not self.closed.done():
            self._schedule()

    def drain(self) -> None:
        """Handle every block written so far."""
        while not self.closed.done():
            try:
                data = os.read(self._fd, READ_BYTES)
            except BlockingIOError:
                return
            if not data:
                self._unwatch()
                self._cancel_tick()
                self.closed.set_result(None)
                return
            for progress in self._parser.feed_chunk(data):
                self._on_block(progress)
            if len(data) < READ_BYTES:
                return  # a pipe read returns all there is: nothing more for now

    def close(self) -> None:
        self._unwatch()
        self._cancel_tick()
        os.close(self._fd)
        if not self.closed.done():
            self.closed.set_result(None)

    def _on_tick(self) -> None:
        self._tick = None
        self.drain()
        if not self.closed.done() and not self._watching:
            self._schedule()

    def _schedule(self) -> None:
        # A grid of the loop's clock, the same for every run: the loop runs all timers that are
        # due together in one iteration, so every pipe is read in the same wake-up.
        when = (math.floor(self._loop.time() / self._poll_s) + 1) * self._poll_s
        self._tick = self._loop.call_at(when, self._on_tick)

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False

    def _cancel_tick(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
