"""run_failure: a run's end (restart reason, what FFmpeg said, what the run did) as one class."""

from __future__ import annotations

from pathlib import Path

from vmsd.recorder.failures import FailureClass
from vmsd.recorder.model import RunEnd
from vmsd.recorder.reporting import run_failure
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
