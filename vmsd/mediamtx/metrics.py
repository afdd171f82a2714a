"""The MediaMTX process and its configuration file. Registered on the daemon's registry by the
domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class MediaMtxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.mediamtx_restarts = Counter(
            "vmsd_mediamtx_restarts_total",
            "Times the managed MediaMTX process exited and was started again",
            registry=registry,
        )
        self.mediamtx_config_writes = Counter(
            "vmsd_mediamtx_config_writes_total",
            "Rendered mediamtx.yml writes, by result (written, unchanged, rejected)",
            ["result"],
            registry=registry,
        )
