"""A recorder's data: its plan (what a run depends on), its states, how a run ended, and the
status the API shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from vmsd.recorder.ffmpeg import RecorderInput, SegmentSpec
from vmsd.recorder.run import RunOutcome


class RecorderState(StrEnum):
    STARTING = "starting"
    RECORDING = "recording"
    BACKOFF = "backoff"
    DISK_FULL = "disk_full"  # waiting for free space (retention was kicked)
    STORAGE_UNAVAILABLE = "storage_unavailable"  # waiting for the storage root to come back
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
class RunEnd:
    """How a run ended: the restart reason, and what the run and its error left."""

    reason: str
    outcome: RunOutcome | None = None
    error: str | None = None
    fault_path: Path | None = None  # a storage fault's path: the filesystem to watch


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
    retry_at: datetime | None = None  # waiting after a failure: when the next run starts
