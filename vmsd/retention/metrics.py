"""Retention: deletions, passes, watermarks, quarantine, what each camera keeps. Registered on the
daemon's registry by the domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class RetentionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.retention_deleted_segments = Counter(
            "vmsd_retention_deleted_segments_total",
            "Segments deleted by retention, by camera and the rule that chose them",
            ["camera", "rule"],
            registry=registry,
        )
        self.retention_deleted_bytes = Counter(
            "vmsd_retention_deleted_bytes_total",
            "Bytes deleted by retention, by camera and rule",
            ["camera", "rule"],
            registry=registry,
        )
        self.retention_passes = Counter(
            "vmsd_retention_passes_total",
            "Retention passes, by result (ok, failed)",
            ["result"],
            registry=registry,
        )
        self.retention_last_pass = Gauge(
            "vmsd_retention_last_pass_timestamp_seconds",
            "Unix time at which the last successful retention pass finished",
            registry=registry,
        )
        self.retention_interval = Gauge(
            "vmsd_retention_interval_seconds",
            "Time between retention passes (a disk below its low watermark starts one at once)",
            registry=registry,
        )
        self.retention_low_watermark = Gauge(
            "vmsd_retention_low_watermark_bytes",
            "Free bytes on a storage path's filesystem below which retention deletes the oldest "
            "recordings (0: no free-space rule)",
            ["path"],
            registry=registry,
        )
        self.quarantine_files = Gauge(
            "vmsd_quarantine_files",
            "Files in a storage path's .quarantine/ (unplayable, kept quarantine_max_age)",
            ["path"],
            registry=registry,
        )
        self.quarantine_bytes = Gauge(
            "vmsd_quarantine_bytes",
            "Bytes of the files in a storage path's .quarantine/",
            ["path"],
            registry=registry,
        )
        self.quarantine_removed_files = Counter(
            "vmsd_quarantine_removed_files_total",
            "Quarantined files removed by retention for being older than quarantine_max_age",
            registry=registry,
        )
        self.quarantine_removed_bytes = Counter(
            "vmsd_quarantine_removed_bytes_total",
            "Bytes of the quarantined files removed by retention",
            registry=registry,
        )
        self.retention_target_free = Gauge(
            "vmsd_retention_target_free_bytes",
            "Free bytes retention deletes up to once a storage path is below its low watermark",
            ["path"],
            registry=registry,
        )
        self.camera_recorded_bytes = Gauge(
            "vmsd_camera_recorded_bytes",
            "Bytes of the camera's indexed recordings",
            ["camera"],
            registry=registry,
        )
        self.oldest_recording = Gauge(
            "vmsd_oldest_recording_timestamp_seconds",
            "Unix time at which the camera's oldest indexed recording starts",
            ["camera"],
            registry=registry,
        )
