"""One camera's recorder: runs FFmpeg again and again, forever, and accounts for every segment.

States: starting -> recording -> (run ends) -> backoff -> starting ...; stopping -> stopped.
A run that ends is always followed by another (exit 0 means "the source went away", never
"done"), after a backoff that an availability hook, a restart request or the source's port
opening again cut short; a camera that refuses the credentials again waits much longer
(recorder/streak.py). Each failure is classified and reported (recorder/reporting.py).
Behind MediaMTX the first run waits for MediaMTX to say the path is available. A run that
failed on its storage waits in `disk_full` (until there is space again: retention is kicked at
once) or `storage_unavailable` (until the storage root is back) instead: neither is the
camera's fault, so neither reports the camera offline.

Whatever a run raises (its TaskGroup's ExceptionGroup included) ends that run only: it is
classified, logged and backed off here, so one camera's storage, pid file or fsync error never
reaches the fleet or another camera's FFmpeg.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

from prometheus_client import Gauge

from vmsd.core.backoff import Backoff, BackoffSeries
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.wait import wait_event
from vmsd.events.bus import RecordEvent
from vmsd.recorder.ffmpeg import (
    UNSUPPORTED_CODEC_MARK,
    Progress,
    build_recorder_argv,
)
from vmsd.recorder.inputs import ReaderInputs
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.model import RecorderPlan, RecorderState, RecorderStatus, RunEnd
from vmsd.recorder.pidfile import remove_pidfile, write_pidfile
from vmsd.recorder.reasons import NO_SPACE_MARK, OPEN_FAILED_MARK, final_reason, restart_reason
from vmsd.recorder.reporting import (
    FailureReporter,
    ReportAvailability,
    ReportError,
    run_failure,
)
from vmsd.recorder.run import ClosedSegment, FfmpegRun, RunOutcome
from vmsd.recorder.sink import SegmentSink
from vmsd.recorder.storage import (
    DISK_FULL,
    STORAGE_UNAVAILABLE,
    PidFileError,
    ensure_date_dirs,
    has_space,
    leaves,
    resume_free_bytes,
    storage_fault,
    storage_ready,
)
from vmsd.recorder.waits import (
    avoid_name_collision,
    tcp_target,
    wait_storage_ready,
    wait_woken_or_port,
)
from vmsd.recordings.index import SegmentIndex
from vmsd.store.recordings import EndReason

UNAVAILABLE_RETRY_S = 30.0  # the slow safety retry while MediaMTX says the source is gone
RESTARTS_WINDOW_S = 3600.0


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
        report_error: ReportError,
        pid_dir: Path,
        inputs: ReaderInputs,
        backoff: Backoff,
        unauthorized_retry_s: float,
        available: bool = True,
        no_space: Callable[[], None] = lambda: None,
        disk_space: Callable[[int, int], None] = lambda _total, _free: None,
    ) -> None:
        """`available`: behind MediaMTX, whether MediaMTX has said the path is available
        (else the first run waits for its hook or poll, as after an `unavailable`)."""
        self.plan = plan
        self._ffmpeg = ffmpeg
        self._index = index
        self._recorder_metrics = metrics.group(RecorderMetrics)
        self._record_event = record_event
        self._pid_dir = pid_dir
        self._inputs = inputs
        self._backoff = backoff
        self._sink = SegmentSink(
            plan.camera,
            plan.segments.directory,
            ffmpeg=ffmpeg,
            index=index,
            metrics=metrics,
            record_event=record_event,
            disk_space=disk_space,
        )
        self._log = get_logger("vmsd.recorder", camera=plan.camera)
        self._reporter = FailureReporter(
            plan.camera,
            via_mediamtx=plan.via_mediamtx,
            record_event=record_event,
            report_availability=report_availability,
            report_error=report_error,
            metrics=self._recorder_metrics,
            log=self._log,
            no_space=no_space,
            directory=plan.segments.directory,
            unauthorized_retry_s=unauthorized_retry_s,
        )
        self._state = RecorderState.STOPPED
        self._run: FfmpegRun | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._restart_requested = False
        self._available = available
        self._retry_at: datetime | None = None
        self._restarts: deque[float] = deque()
        self._restarts_total = 0
        self._started_at: datetime | None = None
        self._progress: Progress | None = None
        self._pid: int | None = None
        self._transcode_audio = False

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
            last_segment_end=self._sink.last_segment_end,
            fps=progress.fps if progress else None,
            bitrate_bits=self._sink.bitrate_bits if progress else None,
            retry_at=self._retry_at,
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
        retries = self._backoff.series()
        # What "no new segment for 3 x segment length" is measured against.
        self._recorder_metrics.recorder_segment_seconds.labels(camera=self.name).set(
            self.plan.segments.segment_seconds
        )
        try:
            while not self._stopping:
                await self._wait_until_available()
                if self._stopping:
                    break
                end = await self._run_once()
                if self._stopping:
                    break
                if self._restart_requested:
                    self._restart_requested = False
                    self._count_restart("requested")
                    retries.succeeded()
                    continue
                await self._after_failure(end, retries)
        finally:
            self._set_state(RecorderState.STOPPED)
            self._recorder_metrics.recorder_up.labels(camera=self.name).set(0)

    async def _run_once(self) -> RunEnd:
        # A wake-up (hook, restart request) from here on cuts the next backoff short; a
        # restart asked for before this run is this run.
        self._wake.clear()
        self._restart_requested = False
        self._retry_at = None
        self._set_state(RecorderState.STARTING)
        self._progress = None
        run: FfmpegRun | None = None
        try:
            await asyncio.to_thread(ensure_date_dirs, self.plan.segments.directory)
            await self._sink.retry_unfinished()
            await avoid_name_collision(self.plan.segments.directory)
            async with self._inputs.opened(self.plan.source, self.name) as description:
                if self._stopping:  # asked while we prepared: no FFmpeg the stop cannot see
                    return RunEnd("requested")
                run = self._run = self._new_run(description)
                try:
                    outcome = await run.run()
                finally:
                    self._run = None
                    self._pid = None
                    await self._remove_pidfile()
                    self._recorder_metrics.recorder_up.labels(camera=self.name).set(0)
            await self._after_run(outcome)
        except Exception as err:  # this camera's failure, whatever it is: back off, retry
            return await self._failed(err, run)
        return await self._ended(outcome)

    def _new_run(self, description: Path | None) -> FfmpegRun:
        return FfmpegRun(
            lambda fd: build_recorder_argv(
                self._ffmpeg,
                self.plan.source,
                self.plan.segments,
                fd,
                description=description,
                transcode_audio=self._transcode_audio,
            ),
            stall_s=self.plan.stall_s,
            on_segment=self._segment_closed,
            on_progress=self._on_progress,
            on_recording=self._on_recording,
            on_started=self._on_started,
            on_stalled=self._on_stalled,
        )

    async def _after_run(self, outcome: RunOutcome) -> None:
        if not self._transcode_audio and any(
            UNSUPPORTED_CODEC_MARK in line for line in outcome.stderr_tail
        ):
            # The camera's audio cannot be copied into this container: AAC from now on.
            self._transcode_audio = True
            self._log.warning("recorder_audio_transcoded", detail=outcome.stderr_tail[-3:])
        for path in outcome.unlisted:  # cut short by a kill: probe, index or quarantine
            await self._sink.index_cut_segment(path, outcome)

    async def _ended(self, outcome: RunOutcome) -> RunEnd:
        """FFmpeg ended by itself: why, from what it said and what it achieved, and whether
        its storage is still there (a vanished root ends a run like a crash)."""
        directory = self.plan.segments.directory
        tail = outcome.stderr_tail
        if any(NO_SPACE_MARK in line for line in tail):
            return RunEnd(DISK_FULL, outcome, NO_SPACE_MARK, directory)
        if outcome.stop_requested:
            return RunEnd("requested", outcome)
        if any(OPEN_FAILED_MARK in line for line in tail) or not await asyncio.to_thread(
            storage_ready, directory
        ):
            return RunEnd(STORAGE_UNAVAILABLE, outcome, None, directory)
        return RunEnd(restart_reason(outcome), outcome)

    async def _failed(self, err: Exception, run: FfmpegRun | None) -> RunEnd:
        """A run (or its preparation) raised. FFmpeg is gone already (FfmpegRun kills and
        reaps it on any error); what it cut short is still indexed where possible."""
        outcome = run.outcome_after_failure() if run is not None else None
        if outcome is not None:
            for path in outcome.unlisted:
                try:
                    await self._sink.index_cut_segment(path, outcome)
                except Exception as index_err:  # the storage is failing: startup recovery
                    self._log.warning("segment_not_indexed", path=str(path), error=str(index_err))
        fault = storage_fault(err)
        if fault is not None:
            return RunEnd(fault.reason, outcome, fault.error, fault.path)
        first = next(iter(leaves(err)))
        started = run is not None and run.pid is not None
        if any(isinstance(e, PidFileError) for e in leaves(err)) or (
            not started and isinstance(first, OSError)
        ):
            return RunEnd("cannot_start", outcome, str(first))
        # Not a storage or start problem: a bug, most likely. One traceback, then as a crash.
        self._log.exception("recorder_run_error", error=str(first))
        return RunEnd("crashed", outcome, f"{type(first).__name__}: {first}")

    async def _after_failure(self, end: RunEnd, retries: BackoffSeries) -> None:
        """Classify, report, wait. Behind MediaMTX with no source for the path yet: wait for
        MediaMTX to say it has one, no failure (the camera's state is MediaMTX's to tell)."""
        self._count_restart(end.reason)
        delay = retries.failed(end.outcome.healthy_s if end.outcome is not None else 0.0)
        failure = run_failure(end, via_mediamtx=self.plan.via_mediamtx, stall_s=self.plan.stall_s)
        if failure.no_source_yet:
            self._log.info("recorder_waiting_for_source", message=failure.message)
            self._available = False
            return
        await self._wait_to_retry(end, await self._reporter.failed(end, failure, delay))

    async def _remove_pidfile(self) -> None:
        try:
            await asyncio.to_thread(remove_pidfile, self._pid_dir, self.name)
        except OSError as err:  # the pid dir is broken: the next run's write says so
            self._log.warning("recorder_pidfile_not_removed", error=str(err))

    async def _segment_closed(self, segment: ClosedSegment) -> None:
        run = self._run
        end_reason = EndReason.SEGMENT_COMPLETE
        if segment.final and run is not None:
            end_reason = final_reason(run)
        await self._sink.segment_closed(segment, end_reason)

    async def _on_stalled(self) -> None:
        self._log.warning("recorder_stalled", stall_s=self.plan.stall_s)
        await self._record_event("recorder_stalled", camera=self.name)

    def _on_started(self, pid: int) -> None:
        """Raising here makes the run kill and reap its FFmpeg: none runs untracked."""
        self._pid = pid
        self._started_at = datetime.now(UTC)
        try:
            write_pidfile(self._pid_dir, self.name, pid)
        except OSError as err:
            raise PidFileError(self._pid_dir, err) from err

    def _on_progress(self, progress: Progress) -> None:
        previous, self._progress = self._progress, progress
        if previous is None or previous.fps != progress.fps:  # a gauge set only on a change
            self._fps_gauge.set(progress.fps)

    @cached_property
    def _fps_gauge(self) -> Gauge:
        return self._recorder_metrics.recorder_fps.labels(camera=self.name)

    async def _on_recording(self) -> None:
        self._set_state(RecorderState.RECORDING)
        self._recorder_metrics.recorder_up.labels(camera=self.name).set(1)
        # After a failed run this is the end of a gap in the recording.
        event = "recording_resumed" if self._restarts_total else "recorder_started"
        ended = self._reporter.recovered()
        after = {}
        if ended is not None:  # what the gap was: the class and how many runs failed
            after = {"after_class": ended.failure.value, "after_repeats": ended.repeats}
        self._log.info(event, pid=self._pid, **after)
        await self._record_event(event, camera=self.name, **after)
        await self._reporter.online()  # after the recorder's own event, as ever

    async def _wait_until_available(self) -> None:
        if not self.plan.via_mediamtx or self._available:
            return
        self._set_state(RecorderState.BACKOFF)
        self._retry_at = datetime.now(UTC) + timedelta(seconds=UNAVAILABLE_RETRY_S)
        await wait_event(self._wake, UNAVAILABLE_RETRY_S)

    async def _wait_to_retry(self, end: RunEnd, delay: float) -> None:
        directory = self.plan.segments.directory
        if end.reason == DISK_FULL:
            where = end.fault_path or directory
            needed = resume_free_bytes(
                self._sink.bitrate_bits / 8 if self._sink.bitrate_bits else None,
                self.plan.segments.segment_seconds,
            )
            await self._wait_for_storage(
                RecorderState.DISK_FULL, delay, lambda: has_space(where, needed)
            )
        elif end.reason == STORAGE_UNAVAILABLE:
            await self._wait_for_storage(
                RecorderState.STORAGE_UNAVAILABLE, delay, lambda: storage_ready(directory)
            )
        else:
            await self._back_off(delay, end.reason)

    async def _wait_for_storage(
        self, state: RecorderState, delay: float, ready: Callable[[], bool]
    ) -> None:
        """See wait_storage_ready: a stop or restart request ends the wait; an availability
        hook does not, the storage decides."""
        self._waiting(state, delay, state.value)
        await wait_storage_ready(
            ready, delay, self._wake, lambda: self._stopping or self._restart_requested
        )

    async def _back_off(self, delay: float, reason: str) -> None:
        self._waiting(RecorderState.BACKOFF, delay, reason)
        watch = None if self.plan.via_mediamtx else tcp_target(self.plan.source.url)
        await wait_woken_or_port(self._wake, delay, watch)

    def _waiting(self, state: RecorderState, delay: float, reason: str) -> None:
        self._set_state(state)
        self._log.info("recorder_backoff", delay_s=round(delay, 2), reason=reason)
        self._retry_at = datetime.now(UTC) + timedelta(seconds=delay)

    def _count_restart(self, reason: str) -> None:
        self._restarts.append(time.monotonic())
        self._restarts_total += 1
        self._recorder_metrics.recorder_restarts.labels(camera=self.name, reason=reason).inc()

    def _set_state(self, state: RecorderState) -> None:
        if state is self._state:
            return
        for each in RecorderState:
            self._recorder_metrics.recorder_state.labels(camera=self.name, state=each.value).set(
                1 if each is state else 0
            )
        self._state = state
