"""Component health: what /readyz says, as series. Registered on the daemon's registry by the
domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class HealthMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.component_up = Gauge(
            "vmsd_component_up",
            "1 when the component is running and healthy, else 0",
            ["component"],
            registry=registry,
        )
        self.component_failures = Counter(
            "vmsd_component_failures_total",
            "Failures of a supervised component (each is logged, backed off and restarted)",
            ["component"],
            registry=registry,
        )
        self.ready = Gauge(
            "vmsd_ready", "1 when the daemon is serving (READY), else 0", registry=registry
        )
