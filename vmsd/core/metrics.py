"""The daemon's Prometheus registry and the metrics every component shares.

One registry per daemon (not prometheus_client's global), so tests can build several apps.
Names: `vmsd_` prefix, base units, `_total` counters.
"""

from __future__ import annotations

import platform

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client import (
    gc_collector as _gc,
)
from prometheus_client import (
    platform_collector as _platform,
)
from prometheus_client import (
    process_collector as _process,
)

from vmsd import __version__

HTTP_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
AUTH_LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05)
LOOP_LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
INDEX_LAG_BUCKETS_S = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        _process.ProcessCollector(registry=self.registry)
        _platform.PlatformCollector(registry=self.registry)
        _gc.GCCollector(registry=self.registry)
        Info("vmsd_build", "vmsd build information", registry=self.registry).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self.component_up = Gauge(
            "vmsd_component_up",
            "1 when the component is running and healthy, else 0",
            ["component"],
            registry=self.registry,
        )
        self.component_failures = Counter(
            "vmsd_component_failures_total",
            "Failures of a supervised component (each is logged, backed off and restarted)",
            ["component"],
            registry=self.registry,
        )
        self.event_loop_lag = Histogram(
            "vmsd_event_loop_lag_seconds",
            "How late the event loop ran the heartbeat (a busy or blocked loop)",
            buckets=LOOP_LAG_BUCKETS_S,
            registry=self.registry,
        )
        self.ready = Gauge(
            "vmsd_ready", "1 when the daemon is serving (READY), else 0", registry=self.registry
        )
        self.start_time = Gauge(
            "vmsd_start_time_seconds",
            "Unix time at which the daemon became ready",
            registry=self.registry,
        )
        self.http_requests = Counter(
            "vmsd_http_requests_total",
            "HTTP requests answered, by route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "vmsd_http_request_duration_seconds",
            "HTTP request handling time, by route template",
            ["method", "route"],
            buckets=HTTP_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.config_reloads = Counter(
            "vmsd_config_reloads_total",
            "Configuration reloads (SIGHUP), by result",
            ["result"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "vmsd_webhook_deliveries_total",
            "Events a webhook receiver took (delivered) or refused for good (rejected)",
            ["webhook", "result"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "vmsd_webhook_attempts_total",
            "Webhook POSTs, by result (ok, http_error, connection_error, timeout, error)",
            ["webhook", "result"],
            registry=self.registry,
        )
        self.webhook_dropped = Counter(
            "vmsd_webhook_dropped_total",
            "Events never delivered to a webhook, by reason (queue_full, shutdown, removed)",
            ["webhook", "reason"],
            registry=self.registry,
        )
        self.webhook_queue = Gauge(
            "vmsd_webhook_queue_events",
            "Events waiting for a webhook's receiver, the one being sent included",
            ["webhook"],
            registry=self.registry,
        )
        self.webhook_last_delivery = Gauge(
            "vmsd_webhook_last_delivery_timestamp_seconds",
            "Unix time of the webhook's last delivered event",
            ["webhook"],
            registry=self.registry,
        )
        self.webhook_delivery_duration = Histogram(
            "vmsd_webhook_delivery_duration_seconds",
            "Time from an event being queued for a webhook to its delivery, retries included",
            ["webhook"],
            # From a receiver answering at once to one down for an hour.
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 60, 300, 900, 3600),
            registry=self.registry,
        )
        self.cameras = Gauge(
            "vmsd_cameras",
            "Cameras in the registry, by live state",
            ["state"],
            registry=self.registry,
        )
        self.camera_up = Gauge(
            "vmsd_camera_up",
            "1 while the camera's source is available (online), else 0",
            ["camera"],
            registry=self.registry,
        )
        self.camera_state = Gauge(
            "vmsd_camera_state",
            "1 for the camera's current live state (unknown, online, offline, disabled), else 0",
            ["camera", "state"],
            registry=self.registry,
        )
        self.camera_transitions = Counter(
            "vmsd_camera_state_transitions_total",
            "Camera state changes, by new state",
            ["state"],
            registry=self.registry,
        )
        self.auth_requests = Counter(
            "vmsd_auth_requests_total",
            "MediaMTX auth requests answered, by action and result (allow, deny, blocked)",
            ["action", "result"],
            registry=self.registry,
        )
        self.auth_duration = Histogram(
            "vmsd_auth_request_duration_seconds",
            "Time to decide one MediaMTX auth request, body parsing included",
            buckets=AUTH_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.auth_blocked_ips = Gauge(
            "vmsd_auth_blocked_ips",
            "Source IPs currently denied outright after repeated failed attempts",
            registry=self.registry,
        )
        self.hooks = Counter(
            "vmsd_mediamtx_hooks_total",
            "Availability hooks received from MediaMTX, by hook",
            ["hook"],
            registry=self.registry,
        )
        self.mediamtx_restarts = Counter(
            "vmsd_mediamtx_restarts_total",
            "Times the managed MediaMTX process exited and was started again",
            registry=self.registry,
        )
        self.mediamtx_config_writes = Counter(
            "vmsd_mediamtx_config_writes_total",
            "Rendered mediamtx.yml writes, by result (written, unchanged, rejected)",
            ["result"],
            registry=self.registry,
        )
        self.mediamtx_path_readers = Gauge(
            "vmsd_mediamtx_path_readers",
            "Readers of the camera's MediaMTX path (viewers and recorders)",
            ["camera"],
            registry=self.registry,
        )
        self.mediamtx_path_inbound_bytes = Gauge(
            "vmsd_mediamtx_path_inbound_bytes",
            "Bytes MediaMTX received for the camera's path since the path started",
            ["camera"],
            registry=self.registry,
        )
        self.recorder_up = Gauge(
            "vmsd_recorder_up",
            "1 while the camera's recorder is recording, else 0",
            ["camera"],
            registry=self.registry,
        )
        self.recorder_state = Gauge(
            "vmsd_recorder_state",
            "1 for the recorder's current state (starting, recording, backoff, disk_full, "
            "storage_unavailable, stopping, stopped)",
            ["camera", "state"],
            registry=self.registry,
        )
        self.recorder_restarts = Counter(
            "vmsd_recorder_restarts_total",
            "Recorder restarts, by reason "
            "(source_lost, cannot_connect, cannot_start, stalled, crashed, requested, disk_full, "
            "storage_unavailable)",
            ["camera", "reason"],
            registry=self.registry,
        )
        self.recorder_segment_seconds = Gauge(
            "vmsd_recorder_segment_seconds",
            "Segment length the camera's recorder is configured with",
            ["camera"],
            registry=self.registry,
        )
        self.segments = Counter(
            "vmsd_segments_total",
            "Segments finished by the recorder",
            ["camera"],
            registry=self.registry,
        )
        self.recorded_bytes = Counter(
            "vmsd_recorded_bytes_total",
            "Bytes in finished segments",
            ["camera"],
            registry=self.registry,
        )
        self.recorder_fps = Gauge(
            "vmsd_recorder_fps",
            "Frames per second the recorder writes (FFmpeg -progress)",
            ["camera"],
            registry=self.registry,
        )
        self.recorder_bitrate = Gauge(
            "vmsd_recorder_bytes_per_second",
            "Bytes per second of the camera's last finished segment (its bitrate / 8)",
            ["camera"],
            registry=self.registry,
        )
        self.last_segment_timestamp = Gauge(
            "vmsd_last_segment_timestamp_seconds",
            "Unix time at which the camera's last finished segment ends",
            ["camera"],
            registry=self.registry,
        )
        self.index_lag = Histogram(
            "vmsd_index_lag_seconds",
            "Time from FFmpeg closing a segment to its row in the database",
            buckets=INDEX_LAG_BUCKETS_S,
            registry=self.registry,
        )
        self.event_journal_pending = Gauge(
            "vmsd_event_journal_pending_events",
            "Events in the local journal, waiting for the database",
            registry=self.registry,
        )
        self.journal_pending = Gauge(
            "vmsd_journal_pending_segments",
            "Finished segments in the local journal, waiting for the database",
            registry=self.registry,
        )
        self.retention_deleted_segments = Counter(
            "vmsd_retention_deleted_segments_total",
            "Segments deleted by retention, by camera and the rule that chose them",
            ["camera", "rule"],
            registry=self.registry,
        )
        self.retention_deleted_bytes = Counter(
            "vmsd_retention_deleted_bytes_total",
            "Bytes deleted by retention, by camera and rule",
            ["camera", "rule"],
            registry=self.registry,
        )
        self.retention_passes = Counter(
            "vmsd_retention_passes_total",
            "Retention passes, by result (ok, failed)",
            ["result"],
            registry=self.registry,
        )
        self.retention_last_pass = Gauge(
            "vmsd_retention_last_pass_timestamp_seconds",
            "Unix time at which the last successful retention pass finished",
            registry=self.registry,
        )
        self.retention_interval = Gauge(
            "vmsd_retention_interval_seconds",
            "Time between retention passes (a disk below its low watermark starts one at once)",
            registry=self.registry,
        )
        self.retention_low_watermark = Gauge(
            "vmsd_retention_low_watermark_bytes",
            "Free bytes on a storage path's filesystem below which retention deletes the oldest "
            "recordings (0: no free-space rule)",
            ["path"],
            registry=self.registry,
        )
        self.quarantine_files = Gauge(
            "vmsd_quarantine_files",
            "Files in a storage path's .quarantine/ (unplayable, kept quarantine_max_age)",
            ["path"],
            registry=self.registry,
        )
        self.quarantine_bytes = Gauge(
            "vmsd_quarantine_bytes",
            "Bytes of the files in a storage path's .quarantine/",
            ["path"],
            registry=self.registry,
        )
        self.quarantine_removed_files = Counter(
            "vmsd_quarantine_removed_files_total",
            "Quarantined files removed by retention for being older than quarantine_max_age",
            registry=self.registry,
        )
        self.quarantine_removed_bytes = Counter(
            "vmsd_quarantine_removed_bytes_total",
            "Bytes of the quarantined files removed by retention",
            registry=self.registry,
        )
        self.retention_target_free = Gauge(
            "vmsd_retention_target_free_bytes",
            "Free bytes retention deletes up to once a storage path is below its low watermark",
            ["path"],
            registry=self.registry,
        )
        self.camera_recorded_bytes = Gauge(
            "vmsd_camera_recorded_bytes",
            "Bytes of the camera's indexed recordings",
            ["camera"],
            registry=self.registry,
        )
        self.oldest_recording = Gauge(
            "vmsd_oldest_recording_timestamp_seconds",
            "Unix time at which the camera's oldest indexed recording starts",
            ["camera"],
            registry=self.registry,
        )
