"""One FFmpeg recorder run: spawn, read its three outputs, watch for stalls, stop it.

stdout carries the segment list (one csv line per closed segment), a pipe of our own carries
`-progress` blocks (a ProgressPipe: watched, then polled), stderr is drained continuously into a
bounded, redacted buffer (an unread pipe would stall FFmpeg) and tells which file the muxer
opened. The run ends when FFmpeg exits, for whatever reason; the caller decides what the exit
means.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.core.proc import signal_group, spawn_child, stop_process
from vmsd.core.redact import redact_text
from vmsd.core.wait import wait_event
from vmsd.recorder.ffmpeg import Progress, parse_opening, parse_segment_line
from vmsd.recorder.progress import PROGRESS_POLL_S, ProgressPipe

STDERR_TAIL_LINES = 40
QUIT_GRACE_S = 10.0  # 'q' finalises the open segment; a healthy FFmpeg needs well under 1 s
TERM_GRACE_S = 3.0
WATCHDOG_MIN_WAIT_S = 0.1
MIN_PROGRESS_RATE = 0.25  # media seconds per wall second below which a stream is stalling
# What FFmpeg prints first for `-stats_period` (5.1 and 9.0 alike), at every start: not news
# about the run, and it would open every stderr_tail, the events' and the API's.
STATS_PERIOD_NOTICE = "ffmpeg stats and -progress period set to "
# How long a listed segment may wait for either the next file's opening or FFmpeg's exit (see
# FfmpegRun._is_last); a loaded machine can take a while to exit.
FINAL_WINDOW_S = 3.0


@dataclass(frozen=True, slots=True)
class ClosedSegment:
    path: Path
    start: datetime
    end: datetime
    closed_monotonic: float  # when FFmpeg said so: the start of the index lag
    final: bool  # FFmpeg exited right after listing it: the run's last segment


@dataclass
class RunOutcome:
    exit_code: int | None = None
    stop_requested: bool = False
    stalled: bool = False
    # Opened by the muxer but not listed as closed when FFmpeg ended (a kill cuts it short).
    unlisted: list[Path] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)
    anchor: datetime | None = None  # wall clock of the run's time zero
    last_end_s: float = 0.0  # run time at which the last listed segment ended
    healthy_s: float = 0.0  # how long the run produced progress
    recorded: bool = False  # the run wrote media at all
    ran_s: float = 0.0  # from spawn to exit: a silent server shows as the socket timeout


SegmentCallback = Callable[[ClosedSegment], Awaitable[None]]
ProgressCallback = Callable[[Progress], None]


class FfmpegRun:
    def __init__(
        self,
        argv_for_fd: Callable[[int], Sequence[str]],
        *,
        stall_s: float,
        on_segment: SegmentCallback,
        on_progress: ProgressCallback,
        on_recording: Callable[[], Awaitable[None]],
        on_started: Callable[[int], None] = lambda _pid: None,
        on_stalled: Callable[[], Awaitable[None]] | None = None,
        poll_s: float = PROGRESS_POLL_S,
    ) -> None:
        """`on_progress` is called (not awaited) for every `-progress` block; `on_recording`
        is awaited once, when the run first writes media."""
        self._argv_for_fd = argv_for_fd
        self._stall_s = stall_s
        self._on_segment = on_segment
        self._on_progress = on_progress
        self._on_recording = on_recording
        self._on_started = on_started
        self._on_stalled = on_stalled
        self._poll_s = poll_s
        self._proc: asyncio.subprocess.Process | None = None
        self._outcome = RunOutcome()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._opened: dict[str, Path] = {}  # basename -> full path, from "Opening '...'"
        self._open_order: list[Path] = []
        self._listed: list[Path] = []
        self._last_progress_at = time.monotonic()
        self._last_out_time_us = -1
        self._first_progress_at: float | None = None
        self._recording = asyncio.Event()  # a block reported media written
        self._progress: ProgressPipe | None = None
        self._stop = asyncio.Event()
        self._exited = asyncio.Event()
        self._output_changed = asyncio.Event()  # a file opened, or FFmpeg exited
        self._anchor_estimate: datetime | None = None
        self._first_opened_at: datetime | None = None  # a fallback anchor, late by the probe
        self._spawned_at = 0.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> RunOutcome:
        read_fd, write_fd = os.pipe()
        try:
            argv = list(self._argv_for_fd(write_fd))
            self._proc = await spawn_child(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,),
                env={**os.environ, "TZ": "UTC"},
            )
            self._spawned_at = time.monotonic()
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        progress: ProgressPipe | None = None
        try:
            # The pid file among it: should it fail, FFmpeg is killed and reaped below, never
            # left recording untracked while the recorder starts another.
            self._on_started(self._proc.pid)
            self._progress = progress = ProgressPipe(read_fd, self._progressed, self._poll_s)
            progress.watch()  # polled once the run's clock is fixed (_closed_segment)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._read_segments())
                tg.create_task(self._drain_stderr())
                announcer = tg.create_task(self._announce_recording())
                supervisor = tg.create_task(self._supervise())
                await self._proc.wait()
                self._exited.set()
                self._output_changed.set()
                supervisor.cancel()
                # FFmpeg has exited: its last block and then EOF are in the pipe already.
                progress.drain()
                progress.watch()
                await progress.closed
                if not self._recording.is_set():
                    announcer.cancel()
        finally:
            if progress is not None:
                progress.close()
            else:
                os.close(read_fd)
            if self._proc.returncode is None:  # cancelled or failed: never leave FFmpeg behind
                await stop_process(self._proc, first_signal=signal.SIGKILL, grace_s=1.0)
        return self._finish()

    def outcome_after_failure(self) -> RunOutcome | None:
        """What a run that raised (a callback's error, FFmpeg killed and reaped) leaves: the
        files it cut short. None when FFmpeg never started."""
        if self._proc is None or self._proc.returncode is None:
            return None
        return self._finish()

    def outcome_so_far(self) -> RunOutcome:
        """How the run is ending, for a segment FFmpeg listed on its way out."""
        assert self._proc is not None
        self._outcome.exit_code = self._proc.returncode
        return self._outcome

    def _finish(self) -> RunOutcome:
        assert self._proc is not None
        outcome = self._outcome
        outcome.exit_code = self._proc.returncode
        outcome.stderr_tail = list(self._stderr)
        outcome.ran_s = time.monotonic() - self._spawned_at
        listed = set(self._listed)
        outcome.unlisted = [p for p in self._open_order if p not in listed]
        if self._first_progress_at is not None:
            outcome.recorded = True
            outcome.healthy_s = self._last_progress_at - self._first_progress_at
        if outcome.anchor is None:  # no segment was listed: a cut one may still need it
            outcome.anchor = self._anchor_estimate or self._first_opened_at
        return outcome

    async def _read_segments(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            segment = self._closed_segment(raw.decode(errors="replace"))
            if segment is not None:
                final = await self._is_last(segment.path)
                await self._on_segment(replace(segment, final=final))

    async def _is_last(self, path: Path) -> bool:
        """Was this listed segment the run's last? The segment muxer lists a segment just
        before it opens the next file; on its way out it lists the open one and exits. So: the
        next "Opening" line means no, FFmpeg's exit means yes. Usually a few milliseconds."""
        position = self._open_order.index(path) if path in self._open_order else -1
        deadline = time.monotonic() + FINAL_WINDOW_S
        while True:
            if len(self._open_order) > position + 1:
                return False
            if self._exited.is_set():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False  # still running, nothing new opened: an ordinary close
            self._output_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):  # no task per wait, unlike wait_for
                    await self._output_changed.wait()

    def _closed_segment(self, text: str) -> ClosedSegment | None:
        line = parse_segment_line(text)
        if line is None:
            return None
        path = self._opened.get(line.path) or self._opened.get(Path(line.path).name)
        if path is None:
            return None  # cannot happen with FFmpeg's order of output; never guess a path
        if self._outcome.anchor is None:  # fixed at the first segment: one run, one clock
            self._outcome.anchor = self._anchor_estimate or self._first_opened_at
            if self._progress is not None and not self._exited.is_set():
                self._progress.poll()  # arrival times no longer matter to the clock
        anchor = self._outcome.anchor
        if anchor is None:
            return None
        self._listed.append(path)
        self._outcome.last_end_s = line.end_s
        return ClosedSegment(
            path=path,
            start=anchor + timedelta(seconds=line.start_s),
            end=anchor + timedelta(seconds=line.end_s),
            closed_monotonic=time.monotonic(),
            final=False,
        )

    async def _announce_recording(self) -> None:
        await self._recording.wait()
        await self._on_recording()

    def _progressed(self, progress: Progress) -> None:
        if progress.out_time_us > 0:
            if self._outcome.anchor is None:
                # Wall clock of the run's time zero: the earliest (now - out_time) seen. After
                # FFmpeg's initial burst through the probed packets, out_time tracks the live
                # stream, so the minimum converges on the first packet's arrival.
                estimate = datetime.now(UTC) - timedelta(microseconds=progress.out_time_us)
                if self._anchor_estimate is None or estimate < self._anchor_estimate:
                    self._anchor_estimate = estimate
            if not self._recording.is_set():
                self._recording.set()
        now = time.monotonic()
        advanced_s = (progress.out_time_us - self._last_out_time_us) / 1e6
        # A live stream advances about as fast as the clock. A frozen source may still nudge
        # out_time by a frame when FFmpeg's socket times out (measured): that is no progress.
        if advanced_s > 0 and (
            self._last_out_time_us < 0
            or advanced_s >= MIN_PROGRESS_RATE * (now - self._last_progress_at)
        ):
            self._last_out_time_us = progress.out_time_us
            self._last_progress_at = now
            if self._first_progress_at is None:
                self._first_progress_at = self._last_progress_at
        self._on_progress(progress)

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            line = redact_text(raw.decode(errors="replace").rstrip())
            opened = parse_opening(line)
            if opened is not None and opened != "pipe:1":
                path = Path(opened)
                if self._first_opened_at is None:
                    self._first_opened_at = datetime.now(UTC)
                self._opened[path.name] = path
                self._open_order.append(path)
                self._output_changed.set()
                continue
            if line and not line.startswith(STATS_PERIOD_NOTICE):
                self._stderr.append(line)

    async def _supervise(self) -> None:
        """Stall watchdog and graceful stop; ends by cancellation when FFmpeg exits. It wakes
        only when a stall would be due (or a stop is asked), not on a fixed tick: with dozens
        of cameras, idle wake-ups are most of the daemon's work."""
        assert self._proc is not None
        while True:
            due_in = self._last_progress_at + self._stall_s - time.monotonic()
            if await wait_event(self._stop, max(due_in, WATCHDOG_MIN_WAIT_S)):
                self._outcome.stop_requested = True
                await self._quit()
                return
            if self._stalled():
                self._outcome.stalled = True
                if self._on_stalled is not None:
                    await self._on_stalled()  # reported when seen, not once FFmpeg has ended
                await self._terminate()
                return

    def _stalled(self) -> bool:
        if time.monotonic() - self._last_progress_at <= self._stall_s:
            return False
        if self._progress is not None:
            self._progress.drain()  # blocks waiting for the next poll are progress too
        return time.monotonic() - self._last_progress_at > self._stall_s

    async def _quit(self) -> None:
        """'q' lets FFmpeg finalise and list the open segment; then SIGTERM, then SIGKILL."""
        assert self._proc is not None
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError, ConnectionError):
                self._proc.stdin.write(b"q")
                await self._proc.stdin.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._proc.wait(), QUIT_GRACE_S)
            return
        await self._terminate()

    async def _terminate(self) -> None:
        """SIGTERM interrupts even a blocked read, and FFmpeg still finalises and lists the
        open segment; SIGKILL only if that does not end it."""
        assert self._proc is not None
        signal_group(self._proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._proc.wait(), TERM_GRACE_S)
            return
        signal_group(self._proc.pid, signal.SIGKILL)
