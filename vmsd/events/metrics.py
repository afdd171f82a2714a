"""The event journal and the webhooks. Registered on the daemon's registry by the domain itself
(Metrics.group)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EventMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.event_journal_pending = Gauge(
            "vmsd_event_journal_pending_events",
            "Events in the local journal, waiting for the database",
            registry=registry,
        )
        self.webhook_deliveries = Counter(
            "vmsd_webhook_deliveries_total",
            "Events a webhook receiver took (delivered) or refused for good (rejected)",
            ["webhook", "result"],
            registry=registry,
        )
        self.webhook_attempts = Counter(
            "vmsd_webhook_attempts_total",
            "Webhook POSTs, by result (ok, http_error, connection_error, timeout, error)",
            ["webhook", "result"],
            registry=registry,
        )
        self.webhook_dropped = Counter(
            "vmsd_webhook_dropped_total",
            "Events never delivered to a webhook, by reason (queue_full, shutdown, removed)",
            ["webhook", "reason"],
            registry=registry,
        )
        self.webhook_queue = Gauge(
            "vmsd_webhook_queue_events",
            "Events waiting for a webhook's receiver, the one being sent included",
            ["webhook"],
            registry=registry,
        )
        self.webhook_last_delivery = Gauge(
            "vmsd_webhook_last_delivery_timestamp_seconds",
            "Unix time of the webhook's last delivered event",
            ["webhook"],
            registry=registry,
        )
        self.webhook_delivery_duration = Histogram(
            "vmsd_webhook_delivery_duration_seconds",
            "Time from an event being queued for a webhook to its delivery, retries included",
            ["webhook"],
            # From a receiver answering at once to one down for an hour.
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
