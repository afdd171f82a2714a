"""One camera's recorder: runs FFmpeg again and again, forever, and accounts for every segment.

States: starting -> recording -> (run ends) -> backoff -> starting ...; stopping -> stopped.
A run that ends is always followed by another (exit 0 means "the source went away", never
"done"), after a backoff that an availability hook, a restart request or the source's port
opening again cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import Gauge

from vmsd.backoff import Backoff
from vmsd.durable import fsync_directory
from vmsd.events.bus import RecordEvent
from vmsd.index import SegmentIndex
from vmsd.log import get_logger
from vmsd.metrics import Metrics
from vmsd.recorder.ffmpeg import (
    UNSUPPORTED_CODEC_MARK,
    Progress,
    RecorderInput,
    SegmentSpec,
    build_recorder_argv,
)
from vmsd.recorder.pidfile import remove_pidfile, write_pidfile
from vmsd.recorder.probe import probe_duration
from vmsd.recorder.recovery import quarantine_file
from vmsd.recorder.run import ClosedSegment, FfmpegRun, RunOutcome
from vmsd.store.recordings import EndReason, SegmentRecord

UNAVAILABLE_RETRY_S = 30.0  # the slow safety retry while MediaMTX says the source is gone
PORT_WATCH_INTERVAL_S = 0.5
RESTARTS_WINDOW_S = 3600.0
NO_SPACE_MARK = "No space left on device"
ReportAvailability = Callable[[str, bool, str], Awaitable[None]]


class RecorderState(StrEnum):
    STARTING = "starting"
    RECORDING = "recording"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RecorderPlan:
    """Everything a run depends on; a changed plan means a restart."""

    camera: str
    source: RecorderInput
    segments: SegmentSpec
    stall_s: float
    via_mediamtx: bool


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    state: RecorderState
    pid: int | None
    started_at: datetime | None
    restarts_total: int
    restarts_last_hour: int
    last_segment_end: datetime | None
    fps: float | None
    bitrate_bits: float | None


class CameraRecorder:
    def __init__(
        self,
        plan: RecorderPlan,
        *,
        ffmpeg: str,
        index: SegmentIndex,
        metrics: Metrics,
        record_event: RecordEvent,
        report_availability: ReportAvailability,
        pid_dir: Path,
        backoff: Backoff,
        no_space: Callable[[], None] = lambda: None,
        disk_space: Callable[[int, int], None] = lambda _total, _free: None,
    ) -> None:
        self.plan = plan
        self._ffmpeg = ffmpeg
        self._index = index
        self._metrics = metrics
        self._record_event = record_event
        self._report = report_availability
        self._pid_dir = pid_dir
        self._backoff = backoff
        self._no_space = no_space
        self._disk_space = disk_space
        self._log = get_logger("vmsd.recorder", camera=plan.camera)
        self._state = RecorderState.STOPPED
        self._run: FfmpegRun | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._restart_requested = False
        self._available = True
        self._restarts: deque[float] = deque()
        self._restarts_total = 0
        self._started_at: datetime | None = None
        self._last_segment_end: datetime | None = None
        self._progress: Progress | None = None
        self._pid: int | None = None
        self._transcode_audio = False
        self._bitrate_bits: float | None = None

    @property
    def name(self) -> str:
        return self.plan.camera

    def status(self) -> RecorderStatus:
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > RESTARTS_WINDOW_S:
            self._restarts.popleft()
        progress = self._progress if self._state is RecorderState.RECORDING else None
        return RecorderStatus(
            state=self._state,
            pid=self._pid,
            started_at=self._started_at,
            restarts_total=self._restarts_total,
            restarts_last_hour=len(self._restarts),
            last_segment_end=self._last_segment_end,
            fps=progress.fps if progress else None,
            bitrate_bits=self._bitrate_bits if progress else None,
        )

    def set_available(self, available: bool) -> None:
        """MediaMTX's hooks: available starts a run at once; unavailable holds off retrying."""
        self._available = available
        if available:
            self._wake.set()

    def request_restart(self) -> None:
        self._restart_requested = True
        if self._run is not None:
            self._run.request_stop()
        self._wake.set()

    def request_stop(self) -> None:
        self._stopping = True
        self._set_state(RecorderState.STOPPING)
        if self._run is not None:
            self._run.request_stop()
        self._wake.set()

    async def run(self) -> None:
        attempt = 0
        # What "no new segment for 3 x segment length" is measured against.
        self._metrics.recorder_segment_seconds.labels(camera=self.name).set(
            self.plan.segments.segment_seconds
        )
        try:
            while not self._stopping:
                await self._wait_until_available()
                if self._stopping:
                    break
                outcome = await self._run_once()
                if self._stopping:
                    break
                if self._restart_requested:
                    self._restart_requested = False
                    self._count_restart("requested")
                    attempt = 0
                    continue
                reason = _restart_reason(outcome)
                self._count_restart(reason)
                if outcome is not None and outcome.healthy_s >= self._backoff.reset_after_s:
                    attempt = 0
                delay = self._backoff.delay_s(attempt)
                attempt += 1
                await self._back_off(delay, reason)
        finally:
            self._set_state(RecorderState.STOPPED)
            self._metrics.recorder_up.labels(camera=self.name).set(0)

    async def _run_once(self) -> RunOutcome | None:
        # A wake-up (hook, restart request) from here on cuts the next backoff short.
        self._wake.clear()
        self._set_state(RecorderState.STARTING)
        self._progress = None
        await asyncio.to_thread(_ensure_date_dirs, self.plan.segments.directory)
        await _avoid_name_collision(self.plan.segments.directory)
        run = FfmpegRun(
            lambda fd: build_recorder_argv(
                self._ffmpeg,
                self.plan.source,
                self.plan.segments,
                fd,
                transcode_audio=self._transcode_audio,
            ),
            stall_s=self.plan.stall_s,
            on_segment=self._segment_closed,
            on_progress=self._on_progress,
            on_recording=self._on_recording,
            on_started=self._on_started,
            on_stalled=self._on_stalled,
        )
        self._run = run
        try:
            outcome = await run.run()
        except OSError as err:
            self._log.error("recorder_failed", reason="cannot_start", error=str(err))
            await self._record_event("recorder_failed", camera=self.name, reason=str(err))
            return None
        finally:
            self._run = None
            self._pid = None
            await asyncio.to_thread(remove_pidfile, self._pid_dir, self.name)
            self._metrics.recorder_up.labels(camera=self.name).set(0)
        await self._after_run(outcome)
        return outcome

    async def _after_run(self, outcome: RunOutcome) -> None:
        reason = _restart_reason(outcome)
        if not self._transcode_audio and any(
            UNSUPPORTED_CODEC_MARK in line for line in outcome.stderr_tail
        ):
            # The camera's audio cannot be copied into this container: AAC from now on.
            self._transcode_audio = True
            self._log.warning("recorder_audio_transcoded", detail=outcome.stderr_tail[-3:])
        for path in outcome.unlisted:  # cut short by a kill: probe, index or quarantine
            await self._index_cut_segment(path, outcome)
        if outcome.stop_requested:
            return
        if any(NO_SPACE_MARK in line for line in outcome.stderr_tail):
            self._log.error("recorder_disk_full", directory=str(self.plan.segments.directory))
            self._no_space()
        if not self.plan.via_mediamtx:
            await self._report(self.name, False, reason)
        tail = outcome.stderr_tail[-10:]
        self._log.warning(
            "recorder_failed", reason=reason, exit_code=outcome.exit_code, stderr_tail=tail
        )
        await self._record_event(
            "recorder_failed",
            camera=self.name,
            reason=reason,
            exit_code=outcome.exit_code,
            stderr_tail=tail,
        )

    async def _segment_closed(self, segment: ClosedSegment) -> None:
        run = self._run
        end_reason = EndReason.SEGMENT_COMPLETE
        if segment.final and run is not None:
            end_reason = _final_reason(run)
        size, total, free = await asyncio.to_thread(
            _finish_segment_file, segment.path, self.plan.segments.directory
        )
        self._disk_space(total, free)
        self._hand_over(
            SegmentRecord(
                camera=self.name,
                path=str(segment.path),
                start=segment.start,
                end=segment.end,
                duration_s=(segment.end - segment.start).total_seconds(),
                bytes=size,
                end_reason=end_reason,
            ),
            segment.closed_monotonic,
        )

    async def _index_cut_segment(self, path: Path, outcome: RunOutcome) -> None:
        duration = await probe_duration(self._ffmpeg, path)
        if duration is None:
            target = await asyncio.to_thread(quarantine_file, path)
            self._log.warning("segment_quarantined", path=str(path), moved_to=str(target))
            await self._record_event(
                "segment_quarantined", camera=self.name, path=str(path), to=str(target)
            )
            return
        anchor = outcome.anchor or datetime.now(UTC)
        start = anchor + timedelta(seconds=outcome.last_end_s)
        size, _, _ = await asyncio.to_thread(_fsync_and_size, path)
        reason = EndReason.SOURCE_LOST if outcome.stalled else EndReason.RECORDER_CRASHED
        self._hand_over(
            SegmentRecord(
                self.name,
                str(path),
                start,
                start + timedelta(seconds=duration),
                duration,
                size,
                reason,
            ),
            time.monotonic(),
        )

    def _hand_over(self, record: SegmentRecord, closed_monotonic: float) -> None:
        self._index.add(record, closed_monotonic)
        self._last_segment_end = record.end
        if record.duration_s > 0:
            # The segment muxer reports no bitrate in -progress: measure it per segment.
            self._bitrate_bits = record.bytes * 8 / record.duration_s
            self._metrics.recorder_bitrate.labels(camera=self.name).set(self._bitrate_bits / 8)
        self._metrics.segments.labels(camera=self.name).inc()
        self._metrics.recorded_bytes.labels(camera=self.name).inc(record.bytes)
        self._metrics.last_segment_timestamp.labels(camera=self.name).set(record.end.timestamp())
        self._log.debug("segment_closed", path=record.path, end_reason=record.end_reason.value)

    async def _on_stalled(self) -> None:
        self._log.warning("recorder_stalled", stall_s=self.plan.stall_s)
        await self._record_event("recorder_stalled", camera=self.name)

    def _on_started(self, pid: int) -> None:
        self._pid = pid
        self._started_at = datetime.now(UTC)
        write_pidfile(self._pid_dir, self.name, pid)

    def _on_progress(self, progress: Progress) -> None:
        previous, self._progress = self._progress, progress
        if previous is None or previous.fps != progress.fps:  # a gauge set only on a change
            self._fps_gauge.set(progress.fps)

    @cached_property
    def _fps_gauge(self) -> Gauge:
        return self._metrics.recorder_fps.labels(camera=self.name)

    async def _on_recording(self) -> None:
        self._set_state(RecorderState.RECORDING)
        self._metrics.recorder_up.labels(camera=self.name).set(1)
        # After a failed run this is the end of a gap in the recording.
        event = "recording_resumed" if self._restarts_total else "recorder_started"
        self._log.info(event, pid=self._pid)
        await self._record_event(event, camera=self.name)
        if not self.plan.via_mediamtx:
            await self._report(self.name, True, "recording")

    async def _woken(self) -> None:
        await self._wake.wait()

    async def _wait_until_available(self) -> None:
        if not self.plan.via_mediamtx or self._available:
            return
        self._set_state(RecorderState.BACKOFF)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), UNAVAILABLE_RETRY_S)

    async def _back_off(self, delay: float, reason: str) -> None:
        self._set_state(RecorderState.BACKOFF)
        self._log.info("recorder_backoff", delay_s=round(delay, 2), reason=reason)
        waiters = [asyncio.create_task(self._woken())]
        target = _tcp_target(self.plan.source.url)
        if target is not None and not self.plan.via_mediamtx:
            waiters.append(asyncio.create_task(_port_reopens(*target)))
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    def _count_restart(self, reason: str) -> None:
        self._restarts.append(time.monotonic())
        self._restarts_total += 1
        self._metrics.recorder_restarts.labels(camera=self.name, reason=reason).inc()

    def _set_state(self, state: RecorderState) -> None:
        if state is self._state:
            return
        for each in RecorderState:
            self._metrics.recorder_state.labels(camera=self.name, state=each.value).set(
                1 if each is state else 0
            )
        self._state = state


RESTART_REASONS = (
    "requested",
    "cannot_start",
    "stalled",
    "cannot_connect",
    "source_lost",
    "crashed",
)


def _restart_reason(outcome: RunOutcome | None) -> str:
    """Exit statuses say little (reference/ffmpeg.md): 0 is a lost source, a connection refused
    is 145 in FFmpeg 9; what the run achieved says more."""
    if outcome is None:
        return "cannot_start"
    if outcome.stalled:
        return "stalled"
    if not outcome.recorded and (outcome.exit_code or 0) >= 0:
        return "cannot_connect"  # never wrote a segment: the source refused or is not there
    if outcome.exit_code == 0:
        return "source_lost"
    return "crashed"


def _final_reason(run: FfmpegRun) -> EndReason:
    outcome = run.outcome_so_far()
    if outcome.stop_requested:
        return EndReason.RECORDER_STOPPED
    if outcome.stalled or outcome.exit_code == 0:
        return EndReason.SOURCE_LOST
    return EndReason.RECORDER_CRASHED


def _tcp_target(url: str) -> tuple[str, int] | None:
    """Host and port of a TCP source, watched during backoff to resume the moment it returns."""
    parts = urlsplit(url)
    defaults = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}
    if parts.scheme not in defaults or not parts.hostname:
        return None
    return parts.hostname, parts.port or defaults[parts.scheme]


async def _port_reopens(host: str, port: int) -> None:
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


def _ensure_date_dirs(camera_dir: Path) -> None:
    """The segment muxer does not create directories: today's and tomorrow's must exist
    (a run crosses midnight)."""
    now = datetime.now(UTC)
    for day in (now, now + timedelta(days=1)):
        (camera_dir / day.strftime("%Y-%m-%d")).mkdir(parents=True, exist_ok=True)


async def _avoid_name_collision(camera_dir: Path) -> None:
    """Segment names have one-second resolution: a run restarted within the second the previous
    run's last segment began would overwrite it. Wait for the next second instead."""
    now = datetime.now(UTC)
    name = camera_dir / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    if any(name.with_suffix(ext).exists() for ext in (".mp4", ".mkv")):
        await asyncio.sleep(1.05 - now.microsecond / 1e6)


def _finish_segment_file(path: Path, camera_dir: Path) -> tuple[int, int, int]:
    """A listed segment's blocking work, in one thread hop: make it durable (_fsync_and_size,
    whose result this returns), and keep tomorrow's directory ahead of the muxer (a run can
    outlive two midnights)."""
    result = _fsync_and_size(path)
    _ensure_date_dirs(camera_dir)
    return result


def _fsync_and_size(path: Path) -> tuple[int, int, int]:
    """A finished segment is durable before it is indexed: the file, then its directory.
    Returns its size and its filesystem's total and free bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        size = os.fstat(fd).st_size
        disk = os.fstatvfs(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)
    return size, disk.f_blocks * disk.f_frsize, disk.f_bavail * disk.f_frsize
