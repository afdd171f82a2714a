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
