"""Recording and what becomes of recordings: the `storage:`, `ffmpeg:`, `recording:`,
`retention:`, `exports:` and `playback:` sections, and a camera's overrides of the first
ones."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field

from vmsd.config.base import ConfigModel, DurationS, SizeBytes


class StorageConfig(ConfigModel):
    paths: tuple[Path, ...] = Field(default=(Path("recordings"),), min_length=1)


class FfmpegConfig(ConfigModel):
    binary: str = ""  # empty: ffmpeg on PATH, else the imageio-ffmpeg wheel's binary


class SegmentFormat(StrEnum):
    MP4 = "mp4"
    MKV = "mkv"


class RecordingConfig(ConfigModel):
    segment_seconds: int = Field(default=60, ge=2, le=600)
    format: SegmentFormat = SegmentFormat.MP4
    # At least 5 s: FFmpeg reports progress once a second, and a camera may hiccup.
    stall_seconds: float = Field(default=15.0, ge=5, le=600)
    audio: bool = True
    # Restart backoff after a failed run: exponential with jitter from 1 s up to this.
    retry_max_seconds: float = Field(default=30.0, ge=1, le=600)
    # After a camera refused the credentials twice in a row: the wait between tries, so
    # that the retries do not keep the camera's login lockout in force.
    unauthorized_retry_seconds: float = Field(default=300.0, ge=30, le=86_400)
    # Snapshots (GET /api/v1/cameras/{name}/snapshot): one grab per camera at a time, cached.
    snapshot_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    snapshot_timeout_seconds: float = Field(default=10.0, ge=1, le=60)
    # Probes (POST /api/v1/cameras/{name}/probe, /api/v1/probe): each reads about 2 s
    # of the stream and answers within this bound, its FFmpeg killed at it; at most
    # probe_max_concurrent run at once (more are refused with a 503, never queued).
    probe_timeout_seconds: float = Field(default=10.0, ge=3, le=60)
    probe_max_concurrent: int = Field(default=4, ge=1, le=32)


class RecordingOverrides(ConfigModel):
    segment_seconds: int | None = Field(default=None, ge=2, le=600)
    format: SegmentFormat | None = None
    stall_seconds: float | None = Field(default=None, ge=5, le=600)
    audio: bool | None = None


class RetentionConfig(ConfigModel):
    max_age: DurationS | None = None
    max_bytes: SizeBytes | None = None
    interval_seconds: float = Field(default=60.0, ge=5, le=86400)
    min_free_percent: float | None = Field(default=5.0, ge=0, le=99)
    min_free_bytes: SizeBytes | None = None
    # Deletion under pressure goes on until this much is free, so it does not run per segment.
    target_free_percent: float | None = Field(default=8.0, ge=0, le=99)
    # Unplayable files moved to <storage>/.quarantine/ are kept this long for a look, then go.
    quarantine_max_age: DurationS = 7 * 86400.0


class RetentionOverrides(ConfigModel):
    max_age: DurationS | None = None
    max_bytes: SizeBytes | None = None


class ExportsConfig(ConfigModel):
    # Clip exports (POST /api/v1/exports) running at once; more wait in the queue.
    max_concurrent: int = Field(default=2, ge=1, le=16)
    # A finished export's file and job are removed this long after it finished.
    expire_hours: float = Field(default=24.0, ge=0.1, le=24 * 30)
    max_range_hours: float = Field(default=24.0, ge=0.01, le=24 * 7)


class PlaybackConfig(ConfigModel):
    # Playbacks (GET /api/v1/cameras/{name}/playback) streaming at once; more get a 503.
    max_concurrent: int = Field(default=8, ge=1, le=64)
    # A stream neither FFmpeg nor the client moved for this long is ended: a paused player
    # would hold its slot forever.
    idle_timeout_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
