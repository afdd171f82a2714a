"""The segment index: how late a row is, and what waits in the journal. Registered on the daemon's
registry by the domain itself (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram

INDEX_LAG_BUCKETS_S = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300
)


class IndexMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.index_lag = Histogram(
            "vmsd_index_lag_seconds",
            "Time from FFmpeg closing a segment to its row in the database",
            buckets=INDEX_LAG_BUCKETS_S,
            registry=registry,
        )
        self.journal_pending = Gauge(
            "vmsd_journal_pending_segments",
            "Finished segments in the local journal, waiting for the database",
            registry=registry,
        )
