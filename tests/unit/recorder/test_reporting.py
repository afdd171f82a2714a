"""run_failure: a run's end (restart reason, what FFmpeg said, what the run did) as one
class; FailureReporter: what of a series of failed runs reaches the operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vmsd.cameras.state import CameraError
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.model import RunEnd
from vmsd.recorder.reporting import FailureReporter, run_failure
from vmsd.recorder.run import RunOutcome

REFUSED_LINE = (
    "[tcp @ 0x564d49931cc0] Connection to tcp://127.0.0.1:1?timeout=3000000 failed: "
    "Connection refused"
)


def _class(end: RunEnd, via: bool = False) -> FailureClass:
    return run_failure(end, via_mediamtx=via, stall_s=15).failure


def test_storage_faults_are_their_own_classes() -> None:
    full = RunEnd("disk_full", RunOutcome(), "No space left on device", Path("/r"))
    assert _class(full) is FailureClass.DISK_FULL
    gone = RunEnd("storage_unavailable", RunOutcome(), None, Path("/r/cam"))
    failure = run_failure(gone, via_mediamtx=False, stall_s=15)
    assert failure.failure is FailureClass.STORAGE_UNAVAILABLE
    assert failure.message == "storage not available /r/cam"


def test_a_stall_is_a_timeout() -> None:
    failure = run_failure(
        RunEnd("stalled", RunOutcome(stalled=True)), via_mediamtx=False, stall_s=15
    )
    assert (failure.failure, failure.message) == (FailureClass.TIMEOUT, "no new media for 15 s")


def test_a_run_that_never_started_or_raised_is_crashed_with_its_error() -> None:
    failure = run_failure(
        RunEnd("cannot_start", None, "[Errno 2] No such file: 'ffmpeg'"),
        via_mediamtx=False,
        stall_s=15,
    )
    assert (failure.failure, failure.message) == (
        FailureClass.CRASHED,
        "[Errno 2] No such file: 'ffmpeg'",
    )


def test_other_ends_are_told_by_stderr() -> None:
    outcome = RunOutcome(exit_code=145, stderr_tail=[REFUSED_LINE], ran_s=0.1)
    assert _class(RunEnd("cannot_connect", outcome)) is FailureClass.REFUSED
    assert _class(RunEnd("source_lost", RunOutcome(exit_code=0, recorded=True))) is (
        FailureClass.SOURCE_LOST
    )


class Reports:
    """What a FailureReporter said: events, camera errors, availability."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[tuple[CameraError, bool]] = []
        self.available: list[tuple[bool, str]] = []
        self.no_space = 0

    async def record(self, type_: str, **data: Any) -> None:
        self.events.append((type_, data))

    async def error(self, _camera: str, error: CameraError, offline: bool) -> None:
        self.errors.append((error, offline))

    async def availability(self, _camera: str, available: bool, reason: str) -> None:
        self.available.append((available, reason))

    def kick(self) -> None:
        self.no_space += 1


def _reporter(reports: Reports, metrics: Metrics, via: bool = False) -> FailureReporter:
    return FailureReporter(
        "door",
        via_mediamtx=via,
        record_event=reports.record,
        report_availability=reports.availability,
        report_error=reports.error,
        metrics=metrics.group(RecorderMetrics),
        log=get_logger("test"),
        no_space=reports.kick,
        directory=Path("/r/door"),
        unauthorized_retry_s=300.0,
    )


def _refused() -> RunEnd:
    return RunEnd("cannot_connect", RunOutcome(exit_code=145, stderr_tail=[REFUSED_LINE]))


def _unauthorized() -> RunEnd:
    line = "[rtsp @ 0x1] method DESCRIBE failed: 401 (Unauthorized)"
    return RunEnd("cannot_connect", RunOutcome(exit_code=8, stderr_tail=[line]))


async def _fail(reporter: FailureReporter, end: RunEnd) -> float:
    return await reporter.failed(end, run_failure(end, via_mediamtx=False, stall_s=15), 1.0)


async def test_events_come_on_changes_and_every_run_is_counted() -> None:
    reports, metrics = Reports(), Metrics()
    reporter = _reporter(reports, metrics)
    delays = [await _fail(reporter, _refused()) for _ in range(5)]
    delays += [await _fail(reporter, _unauthorized()) for _ in range(3)]
    assert delays == [1.0] * 6 + [300.0, 300.0]  # the second refusal in a row waits long
    assert [(t, d["class"]) for t, d in reports.events] == [
        ("recorder_failed", "refused"),
        ("recorder_failed", "unauthorized"),
    ]
    changed = reports.events[1][1]
    assert (changed["previous_class"], changed["previous_repeats"]) == ("refused", 5)
    assert [(e.failure, e.repeats, offline) for e, offline in reports.errors][-1] == (
        "unauthorized",
        3,
        True,
    )
    sample = metrics.registry.get_sample_value
    assert sample("vmsd_recorder_failures_total", {"camera": "door", "class": "refused"}) == 5
    ended = reporter.recovered()
    await reporter.online()
    assert ended is not None and (ended.failure, ended.repeats) == (FailureClass.UNAUTHORIZED, 3)
    assert reports.available == [(True, "recording")]
    await _fail(reporter, _refused())
    assert len(reports.events) == 3  # after a recovery, failing again is news


async def test_behind_mediamtx_and_for_storage_the_camera_state_is_left_alone() -> None:
    reports = Reports()
    behind = _reporter(reports, Metrics(), via=True)
    await _fail(behind, _refused())
    assert reports.errors[-1][1] is False
    assert behind.recovered() is not None
    await behind.online()
    assert reports.available == []  # MediaMTX says when a camera is online
    local = _reporter(reports, Metrics())
    full = RunEnd("disk_full", RunOutcome(), "No space left on device", Path("/r"))
    for _ in range(2):
        await _fail(local, full)
    assert reports.errors[-1][0].failure == "disk_full" and reports.errors[-1][1] is False
    # A full disk is its own event, every time: each kicks retention.
    assert [t for t, _ in reports.events[-2:]] == ["recorder_disk_full"] * 2
    assert reports.no_space == 2
