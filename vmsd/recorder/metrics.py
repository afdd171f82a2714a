"""Each camera's recorder: state, restarts, segments, bytes, frame rate, bitrate. Registered on the
daemon's registry by the domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class RecorderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.recorder_up = Gauge(
            "vmsd_recorder_up",
            "1 while the camera's recorder is recording, else 0",
            ["camera"],
            registry=registry,
        )
        self.recorder_state = Gauge(
            "vmsd_recorder_state",
            "1 for the recorder's current state (starting, recording, backoff, disk_full, "
            "storage_unavailable, stopping, stopped)",
            ["camera", "state"],
            registry=registry,
        )
        self.recorder_restarts = Counter(
            "vmsd_recorder_restarts_total",
            "Recorder restarts, by reason "
            "(source_lost, cannot_connect, cannot_start, stalled, crashed, requested, disk_full, "
            "storage_unavailable)",
            ["camera", "reason"],
            registry=registry,
        )
        self.recorder_failures = Counter(
            "vmsd_recorder_failures_total",
            "Failed recorder runs, by failure class (unauthorized, not_found, refused, "
            "unreachable, timeout, unsupported, source_lost, disk_full, storage_unavailable, "
            "crashed)",
            ["camera", "class"],
            registry=registry,
        )
        self.recorder_segment_seconds = Gauge(
            "vmsd_recorder_segment_seconds",
            "Segment length the camera's recorder is configured with",
            ["camera"],
            registry=registry,
        )
        self.segments = Counter(
            "vmsd_segments_total",
            "Segments finished by the recorder",
            ["camera"],
            registry=registry,
        )
        self.recorded_bytes = Counter(
            "vmsd_recorded_bytes_total",
            "Bytes in finished segments",
            ["camera"],
            registry=registry,
        )
        self.recorder_fps = Gauge(
            "vmsd_recorder_fps",
            "Frames per second the recorder writes (FFmpeg -progress)",
            ["camera"],
            registry=registry,
        )
        self.recorder_bitrate = Gauge(
            "vmsd_recorder_bytes_per_second",
            "Bytes per second of the camera's last finished segment (its bitrate / 8)",
            ["camera"],
            registry=registry,
        )
        self.last_segment_timestamp = Gauge(
            "vmsd_last_segment_timestamp_seconds",
            "Unix time at which the camera's last finished segment ends",
            ["camera"],
            registry=registry,
        )
