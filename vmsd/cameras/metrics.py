"""Cameras: counts, states, transitions, and the per-path figures MediaMTX reports for them.
Registered on the daemon's registry by the domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class CameraMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cameras = Gauge(
            "vmsd_cameras",
            "Cameras in the registry, by live state",
            ["state"],
            registry=registry,
        )
        self.camera_up = Gauge(
            "vmsd_camera_up",
            "1 while the camera's source is available (online), else 0",
            ["camera"],
            registry=registry,
        )
        self.camera_state = Gauge(
            "vmsd_camera_state",
            "1 for the camera's current live state (unknown, online, offline, disabled), else 0",
            ["camera", "state"],
            registry=registry,
        )
        self.camera_transitions = Counter(
            "vmsd_camera_state_transitions_total",
            "Camera state changes, by new state",
            ["state"],
            registry=registry,
        )
        self.mediamtx_path_readers = Gauge(
            "vmsd_mediamtx_path_readers",
            "Readers of the camera's MediaMTX path (viewers and recorders)",
            ["camera"],
            registry=registry,
        )
        self.mediamtx_path_inbound_bytes = Gauge(
            "vmsd_mediamtx_path_inbound_bytes",
            "Bytes MediaMTX received for the camera's path since the path started",
            ["camera"],
            registry=registry,
        )
