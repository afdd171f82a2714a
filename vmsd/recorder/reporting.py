"""How a recorder's failed runs reach the operator: the failure's class (vmsd_recorder_
failures_total, the camera's state_reason and last_error) on every run, an event and a warning
only when it is news (the camera starts failing, its class changes), a repeat counted and
logged at info. A dead camera retried for a day makes one `recorder_failed` event, not 3000.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from structlog.typing import FilteringBoundLogger

from vmsd.cameras.state import CameraError
from vmsd.events.bus import RecordEvent
from vmsd.recorder.failures import (
    FailureClass,
    RunFailure,
    classify_run,
    failure_message,
)
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.model import RunEnd
from vmsd.recorder.storage import DISK_FULL, STORAGE_UNAVAILABLE
from vmsd.recorder.streak import FailureStreak, Streak

ReportAvailability = Callable[[str, bool, str], Awaitable[None]]
ReportError = Callable[[str, CameraError, bool], Awaitable[None]]
STDERR_EVENT_LINES = 10
# Restart reasons that are not the camera's doing: the camera's state stays as it is.
_NOT_THE_CAMERA = frozenset({DISK_FULL, STORAGE_UNAVAILABLE, "cannot_start"})


def run_failure(end: RunEnd, *, via_mediamtx: bool, stall_s: float) -> RunFailure:
    """The class of a run's end, from its restart reason and what FFmpeg said. Pure."""
    if end.reason == DISK_FULL:
        return RunFailure(FailureClass.DISK_FULL, failure_message(end.error or DISK_FULL))
    if end.reason == STORAGE_UNAVAILABLE:
        where = str(end.fault_path) if end.fault_path else ""
        text = end.error or f"storage not available {where}".strip()
        return RunFailure(FailureClass.STORAGE_UNAVAILABLE, failure_message(text))
    outcome = end.outcome
    if end.reason == "stalled":
        return RunFailure(FailureClass.TIMEOUT, f"no new media for {stall_s:g} s")
    if outcome is None or end.error is not None:  # cannot_start, or a bug in the run
        return RunFailure(FailureClass.CRASHED, failure_message(end.error or end.reason))
    return classify_run(
        outcome.stderr_tail,
        ran_s=outcome.ran_s,
        recorded=outcome.recorded,
        via_mediamtx=via_mediamtx,
    )


class FailureReporter:
    def __init__(
        self,
        camera: str,
        *,
        via_mediamtx: bool,
        record_event: RecordEvent,
        report_availability: ReportAvailability,
        report_error: ReportError,
        metrics: RecorderMetrics,
        log: FilteringBoundLogger,
        no_space: Callable[[], None],
        directory: Path,
        unauthorized_retry_s: float,
    ) -> None:
        self._camera = camera
        self._via_mediamtx = via_mediamtx
        self._record_event = record_event
        self._report_availability = report_availability
        self._report_error = report_error
        self._metrics = metrics
        self._log = log
        self._no_space = no_space
        self._directory = directory
        self._unauthorized_retry_s = unauthorized_retry_s
        self._streak = FailureStreak()

    async def failed(self, end: RunEnd, failure: RunFailure, backoff_s: float) -> float:
        """Counts and reports the failed run; returns the wait before the next: the
        backoff's, or the long one for a camera that refuses the credentials again."""
        step = self._streak.failed(failure.failure)
        retry_in_s = self._streak.retry_delay(backoff_s, self._unauthorized_retry_s)
        self._metrics.recorder_failures.labels(
            camera=self._camera, **{"class": failure.failure.value}
        ).inc()
        error = CameraError(
            failure.failure.value, failure.message, datetime.now(UTC), step.current.repeats
        )
        # Behind MediaMTX the camera's state is MediaMTX's to tell (hooks, poll).
        offline = not self._via_mediamtx and end.reason not in _NOT_THE_CAMERA
        await self._report_error(self._camera, error, offline)
        outcome = end.outcome
        tail = outcome.stderr_tail[-STDERR_EVENT_LINES:] if outcome is not None else []
        if failure.failure is FailureClass.DISK_FULL:
            await self._disk_full(end, tail)
            return retry_in_s
        data: dict[str, Any] = {
            "class": failure.failure.value,
            "reason": end.reason,
            "message": failure.message,
            "exit_code": outcome.exit_code if outcome is not None else None,
            "retry_in_s": round(retry_in_s, 1),
        }
        if not step.news:
            self._log.info("recorder_failed", repeats=step.current.repeats, **data)
            return retry_in_s
        if step.ended is not None:
            data["previous_class"] = step.ended.failure.value
            data["previous_repeats"] = step.ended.repeats
        if end.error:
            data["error"] = end.error
        # The camera's source heals by itself; storage or a start failure needs a look.
        level = "error" if end.reason in _NOT_THE_CAMERA else "warning"
        getattr(self._log, level)("recorder_failed", stderr_tail=tail, **data)
        await self._record_event("recorder_failed", camera=self._camera, stderr_tail=tail, **data)
        return retry_in_s

    async def _disk_full(self, end: RunEnd, tail: list[str]) -> None:
        """Not the camera's fault, not a crash: retention makes room, the run resumes. Said
        every time (each is a kick for retention), under its own name."""
        path = str(end.fault_path or self._directory)
        self._log.error("recorder_disk_full", path=path, error=end.error, stderr_tail=tail)
        await self._record_event("recorder_disk_full", camera=self._camera, path=path)
        self._no_space()

    def recovered(self) -> Streak | None:
        """The run records: the streak it ends, if any."""
        return self._streak.recovered()

    async def online(self) -> None:
        """Without MediaMTX the recorder's run is what says the camera is online."""
        if not self._via_mediamtx:
            await self._report_availability(self._camera, True, "recording")
