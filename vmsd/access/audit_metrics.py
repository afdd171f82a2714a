"""The audit trail's metrics. Registered on the daemon's registry by the domain (Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# One append: a lock, a read and an insert in one transaction (bench/audit.py).
APPEND_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 3)


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Counter(
            "vmsd_audit_rows_total",
            "Audit rows written, by result: ok (the act succeeded) or error (refused or failed)",
            ["result"],
            registry=registry,
        )
        self.write_failures = Counter(
            "vmsd_audit_write_failures_total",
            "Audit rows that could not be written (logged as audit_write_failed)",
            registry=registry,
        )
        self.append_duration = Histogram(
            "vmsd_audit_append_duration_seconds",
            "Time to append one audit row (the chain's lock, the last hash, the insert)",
            buckets=APPEND_BUCKETS_S,
            registry=registry,
        )
        self.pruned = Counter(
            "vmsd_audit_pruned_rows_total",
            "Audit rows deleted by retention (audit.retention_days), each prune recorded in "
            "the anchor and in an audit.prune row",
            registry=registry,
        )
        for result in ("ok", "error"):
            self.rows.labels(result)
