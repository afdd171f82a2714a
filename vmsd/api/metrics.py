"""The HTTP listeners: the control API and the MediaMTX auth and hook endpoints. Registered on the
daemon's registry by the domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

HTTP_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
AUTH_LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.http_requests = Counter(
            "vmsd_http_requests_total",
            "HTTP requests answered, by route template and status code",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "vmsd_http_request_duration_seconds",
            "HTTP request handling time, by route template",
            ["method", "route"],
            buckets=HTTP_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.rate_limited = Counter(
            "vmsd_api_rate_limited_total",
            "API requests refused with 429 by auth.rate_limit, by principal kind (user, token)",
            ["kind"],
            registry=registry,
        )
        self.auth_requests = Counter(
            "vmsd_auth_requests_total",
            "MediaMTX auth requests answered, by action and result (allow, deny, blocked)",
            ["action", "result"],
            registry=registry,
        )
        self.auth_duration = Histogram(
            "vmsd_auth_request_duration_seconds",
            "Time to decide one MediaMTX auth request, body parsing included",
            buckets=AUTH_LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.auth_blocked_ips = Gauge(
            "vmsd_auth_blocked_ips",
            "Source IPs currently denied outright after repeated failed attempts",
            registry=registry,
        )
        self.hooks = Counter(
            "vmsd_mediamtx_hooks_total",
            "Availability hooks received from MediaMTX, by hook",
            ["hook"],
            registry=registry,
        )
