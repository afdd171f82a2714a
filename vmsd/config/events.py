"""The `events:` and `notifications:` sections: the event history and its webhooks."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from vmsd.config.base import ConfigModel
from vmsd.core.event_types import EVENT_TYPES


class EventsConfig(ConfigModel):
    retention_days: float = Field(default=90.0, ge=1, le=3650)
    # Comment lines sent on an idle event stream, so proxies and clients see it is alive.
    stream_heartbeat_seconds: float = Field(default=15.0, ge=1, le=300)


MIN_WEBHOOK_SECRET_CHARS = 16


class WebhookConfig(ConfigModel):
    # Secret: webhook URLs often carry the receiver's token (Slack, Teams, ntfy).
    url: SecretStr
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    events: tuple[str, ...] = ()  # empty: every event
    secret: SecretStr  # HMAC-SHA256 key the receiver checks the signature with

    @field_validator("secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_WEBHOOK_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_WEBHOOK_SECRET_CHARS} characters")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in value if e not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        return value

    @property
    def label(self) -> str:
        """The webhook's name in metrics and logs: its own, else the URL's host (never the
        URL, which may hold a token)."""
        return self.name or urlsplit(self.url.get_secret_value()).hostname or "webhook"


class NotificationsConfig(ConfigModel):
    webhooks: tuple[WebhookConfig, ...] = ()
    # Per webhook: events waiting while its receiver is down; beyond it the oldest are dropped.
    queue_size: int = Field(default=1000, ge=1, le=1_000_000)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    retry_initial_seconds: float = Field(default=1.0, gt=0, le=60)
    retry_max_seconds: float = Field(default=300.0, ge=1, le=3600)

    @model_validator(mode="after")
    def _retry_bounds_ordered(self) -> NotificationsConfig:
        if self.retry_initial_seconds > self.retry_max_seconds:
            raise ValueError(
                f"retry_initial_seconds ({self.retry_initial_seconds}) must be <= "
                f"retry_max_seconds ({self.retry_max_seconds})"
            )
        return self

    @model_validator(mode="after")
    def _labels_unique(self) -> NotificationsConfig:
        labels = [w.label for w in self.webhooks]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"webhooks {repeated} share a name: give each a distinct `name`")
        return self
