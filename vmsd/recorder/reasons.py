"""Why a recorder's run ended, from what FFmpeg said and what the run achieved: the restart
reasons (a metric label) and a final segment's end reason. Pure."""

from __future__ import annotations

from vmsd.recorder.run import FfmpegRun, RunOutcome
from vmsd.recorder.storage import DISK_FULL, STORAGE_UNAVAILABLE
from vmsd.store.recordings import EndReason

NO_SPACE_MARK = "No space left on device"
OPEN_FAILED_MARK = "Failed to open segment"  # the segment muxer could not create its next file

RESTART_REASONS = (
    "requested",
    "cannot_start",
    "stalled",
    "cannot_connect",
    "source_lost",
    "crashed",
    DISK_FULL,
    STORAGE_UNAVAILABLE,
)


def restart_reason(outcome: RunOutcome) -> str:
    """Exit statuses say little (reference/ffmpeg.md): 0 is a lost source, a connection refused
    is 145 in FFmpeg 9; what the run achieved says more."""
    if outcome.stalled:
        return "stalled"
    if not outcome.recorded and (outcome.exit_code or 0) >= 0:
        return "cannot_connect"  # never wrote a segment: the source refused or is not there
    if outcome.exit_code == 0:
        return "source_lost"
    return "crashed"


def final_reason(run: FfmpegRun) -> EndReason:
    outcome = run.outcome_so_far()
    if outcome.stop_requested:
        return EndReason.RECORDER_STOPPED
    if outcome.stalled or outcome.exit_code == 0:
        return EndReason.SOURCE_LOST
    return EndReason.RECORDER_CRASHED
