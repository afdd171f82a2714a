"""The daemon itself: when it became ready, its event loop, its reloads. Registered on the daemon's
registry by the domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LOOP_LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.start_time = Gauge(
            "vmsd_start_time_seconds",
            "Unix time at which the daemon became ready",
            registry=registry,
        )
        self.event_loop_lag = Histogram(
            "vmsd_event_loop_lag_seconds",
            "How late the event loop ran the heartbeat (a busy or blocked loop)",
            buckets=LOOP_LAG_BUCKETS_S,
            registry=registry,
        )
        self.config_reloads = Counter(
            "vmsd_config_reloads_total",
            "Configuration reloads (SIGHUP), by result",
            ["result"],
            registry=registry,
        )
