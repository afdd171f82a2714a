"""Playback: a range of one camera's segments streamed as fragmented MP4 while FFmpeg joins
them by stream copy (the concat demuxer; never re-encoded), from the keyframe at or before
the range's start. At most `playback.max_concurrent` run at once; a stream that neither
FFmpeg nor the client moves for `playback.idle_timeout_seconds` is ended; FFmpeg is killed
whenever the stream ends, the client going away included."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import IO

from vmsd.config.load import ConfigHolder
from vmsd.core.errors import NotFoundError, UnavailableError
from vmsd.core.log import get_logger
from vmsd.core.proc import signal_group, spawn_child, stop_process
from vmsd.core.redact import redact_text
from vmsd.recordings.playback import (
    PlaybackPlan,
    build_playback,
    parse_keyframe_s,
    playable,
    seek_offset_s,
    segment_end,
)
from vmsd.store.db import bounded
from vmsd.store.recordings import RecordingQueries, RecordingRow

log = get_logger("vmsd.playback")

MAX_SEGMENTS = 20_000  # as exports: 24 h of 5 s segments
READ_CHUNK = 64 * 1024
KEYFRAME_TIMEOUT_S = 10.0  # reading one packet of a local file
KEYFRAME_PROBES = 4
STDERR_TAIL_BYTES = 2048
# Fragments start at keyframes, and the moov comes first with no samples (empty_moov), so
# a player starts on the first fragment; default_base_moof is what MSE (and Chromium's
# progressive player) expects of fragment offsets.
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"

Write = Callable[[bytes], Awaitable[None]]


class PlaybackBusyError(UnavailableError):
    code = "playback_busy"


class NothingRecordedError(NotFoundError):
    code = "nothing_recorded"


class PlaybackFailedError(UnavailableError):
    code = "playback_failed"


class Outcome(StrEnum):
    COMPLETE = "complete"
    CLIENT_GONE = "client_gone"
    IDLE_TIMEOUT = "idle_timeout"
    FFMPEG_FAILED = "ffmpeg_failed"
    STOPPED = "stopped"  # the daemon is stopping


class Playback:
    """One running stream: its plan, and FFmpeg's output to hand on."""

    def __init__(
        self, plan: PlaybackPlan, proc: asyncio.subprocess.Process, idle_s: float
    ) -> None:
        self.plan = plan
        self.sent_bytes = 0
        self._proc = proc
        self._idle_s = idle_s
        self._pending = b""
        self._stopped = False
        self.outcome: Outcome | None = None  # once send() has returned

    def stop(self) -> None:
        """Ends the stream at once: FFmpeg is killed, its output ends (daemon stop)."""
        self._stopped = True
        signal_group(self._proc.pid, signal.SIGKILL)

    async def _read(self) -> bytes:
        assert self._proc.stdout is not None
        async with asyncio.timeout(self._idle_s):
            return await self._proc.stdout.read(READ_CHUNK)

    async def first_output(self) -> bool:
        """Waits for FFmpeg's first bytes (the moov): False when it ends with none."""
        with contextlib.suppress(TimeoutError):
            self._pending = await self._read()
        return bool(self._pending)

    async def send(self, write: Write) -> Outcome:
        """Hands FFmpeg's output to `write` until it ends, the client goes, or either side
        stops moving for the idle timeout."""
        self.outcome = await self._pump(write)
        return self.outcome

    async def _pump(self, write: Write) -> Outcome:
        chunk = self._pending
        while chunk:
            try:
                async with asyncio.timeout(self._idle_s):
                    await write(chunk)
                self.sent_bytes += len(chunk)
                chunk = await self._read()
            except TimeoutError:
                return Outcome.IDLE_TIMEOUT
            except ConnectionError:
                return Outcome.CLIENT_GONE
        code = await self._proc.wait()
        if self._stopped:
            return Outcome.STOPPED
        return Outcome.COMPLETE if code == 0 else Outcome.FFMPEG_FAILED


class PlaybackService:
    def __init__(self, holder: ConfigHolder, queries: RecordingQueries, ffmpeg: str) -> None:
        self._holder = holder
        self._queries = queries
        self._ffmpeg = ffmpeg
        self._running = 0
        self._streams: set[Playback] = set()
        # Keyframe look-ups (the plan route's too) are short; these bound their processes.
        self._probes = asyncio.Semaphore(KEYFRAME_PROBES)

    def pinned(self) -> frozenset[int]:
        """Segment ids a running playback reads: retention leaves them alone (FFmpeg opens
        each file of the range in turn)."""
        return frozenset(i for stream in self._streams for i in stream.plan.segment_ids)

    def close(self) -> None:
        """Ends every stream (daemon stop), so none holds the HTTP stop for its timeout."""
        for stream in self._streams:
            stream.stop()

    @property
    def running(self) -> int:
        return self._running

    async def plan(
        self, camera: str, start: datetime, end: datetime, *, to_segment_end: bool = False
    ) -> PlaybackPlan:
        """The plan of [start, end), or on to the end of the segment holding `end`:
        NothingRecordedError when no file holds any of it."""
        rows = await bounded(self._queries.overlapping([camera], start, end, MAX_SEGMENTS))
        rows = await asyncio.to_thread(_present, playable(rows, start, end))
        if not rows:
            raise NothingRecordedError(f"camera {camera!r} has no recording in the range")
        offset_s = seek_offset_s(rows[0], start)
        keyframe_s = await self._keyframe_s(rows[0], offset_s)
        return build_playback(rows, segment_end(rows, end) if to_segment_end else end, keyframe_s)

    @contextlib.asynccontextmanager
    async def open(
        self, camera: str, start: datetime, duration_s: float, *, to_segment_end: bool = False
    ) -> AsyncIterator[Playback]:
        """A started playback of [start, start + duration) (see plan()): FFmpeg has produced
        its first bytes. FFmpeg is stopped (and reaped) when the context ends, however it
        ends."""
        config = self._holder.current.playback
        if self._running >= config.max_concurrent:
            raise PlaybackBusyError(
                f"{config.max_concurrent} playbacks are running: try again later"
            )
        self._running += 1
        try:
            end = start + timedelta(seconds=duration_s)
            plan = await self.plan(camera, start, end, to_segment_end=to_segment_end)
            listing = await asyncio.to_thread(_write_listing, plan.script)
            try:
                with tempfile.TemporaryFile() as stderr:
                    proc = await self._spawn(listing, stderr)
                    try:
                        playback = Playback(plan, proc, config.idle_timeout_seconds)
                        if not await playback.first_output():
                            await stop_process(proc, first_signal=signal.SIGKILL, grace_s=1.0)
                            tail = await asyncio.to_thread(_tail, stderr)
                            log.warning("playback_failed", camera=camera, stderr=tail)
                            raise PlaybackFailedError(
                                "FFmpeg could not read the range's recordings",
                                internal_details=[tail] if tail else [],
                            )
                        self._streams.add(playback)
                        yield playback
                    finally:
                        self._streams.discard(playback)
                        code = await stop_process(proc, first_signal=signal.SIGKILL, grace_s=1.0)
                    log.info(
                        "playback_ended",
                        camera=camera,
                        outcome=str(playback.outcome),
                        bytes=playback.sent_bytes,
                        seconds=round(plan.covered_s, 3),
                    )
                    if code not in (0, -signal.SIGKILL):
                        tail = await asyncio.to_thread(_tail, stderr)
                        log.warning("playback_ffmpeg_exit", camera=camera, code=code, stderr=tail)
            finally:
                await asyncio.to_thread(listing.unlink, missing_ok=True)
        finally:
            self._running -= 1

    async def _spawn(self, listing: Path, stderr: IO[bytes]) -> asyncio.subprocess.Process:
        return await spawn_child(
            *(self._ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"),
            *("-f", "concat", "-safe", "0", "-i", str(listing)),
            *("-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"),
            # The stream starts at a keyframe (time 0); audio packets just before it keep
            # their small negative times instead of shifting the video off 0.
            *("-avoid_negative_ts", "disabled"),
            *("-movflags", MOVFLAGS, "-f", "mp4", "pipe:1"),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )

    async def _keyframe_s(self, row: RecordingRow, offset_s: float) -> float:
        """The time in the file of the keyframe at or before `offset_s`: an input seek (which
        lands on a keyframe) copying one video packet, its pts kept (-copyts)."""
        async with self._probes:
            proc = await spawn_child(
                *(self._ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"),
                *("-ss", f"{offset_s:.6f}", "-i", row.path, "-map", "0:v:0", "-c", "copy"),
                *("-copyts", "-frames:v", "1", "-f", "framecrc", "pipe:1"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                async with asyncio.timeout(KEYFRAME_TIMEOUT_S):
                    out, _ = await proc.communicate()
            except TimeoutError:
                out = b""
            finally:
                await stop_process(proc, first_signal=signal.SIGKILL, grace_s=1.0)
        keyframe_s = parse_keyframe_s(out.decode(errors="replace"))
        if keyframe_s is None:
            # A segment starts with a keyframe (the segment muxer cuts there): start there.
            log.warning("playback_keyframe_unknown", camera=row.camera, recording=row.id)
            return 0.0
        return keyframe_s


def _present(rows: list[RecordingRow]) -> list[RecordingRow]:
    """Blocking: the rows whose file is there (retention may have removed one just now)."""
    return [r for r in rows if os.path.isfile(r.path)]


def _write_listing(script: str) -> Path:
    """Blocking: the concat script in a file of its own (FFmpeg reads it by name)."""
    fd, name = tempfile.mkstemp(prefix="vmsd-playback-", suffix=".ffconcat")
    with os.fdopen(fd, "w") as listing:
        listing.write(script)
    return Path(name)


def _tail(stderr: IO[bytes]) -> str:
    """Blocking: the end of FFmpeg's stderr, redacted."""
    stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, stderr.tell() - STDERR_TAIL_BYTES))
    lines = redact_text(stderr.read().decode(errors="replace")).strip().splitlines()
    return " | ".join(lines[-3:])
