"""What one webhook delivery is, as pure functions: the body, its signature, the headers,
how a receiver's answer is classified, when to try again, which redirect may be followed.
No I/O here; vmsd.events.webhooks sends."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from yarl import URL

from vmsd import __version__
from vmsd.config.events import NotificationsConfig, WebhookConfig
from vmsd.core.backoff import Backoff

if TYPE_CHECKING:
    from vmsd.events.bus import Event

SIGNATURE_HEADER = "X-Vmsd-Signature"
EVENT_HEADER = "X-Vmsd-Event"
DELIVERY_HEADER = "X-Vmsd-Delivery"
USER_AGENT = f"vmsd/{__version__}"
MAX_REDIRECTS = 3
# Besides 5xx: the receiver asks us to come back later.
RETRY_STATUSES = frozenset({408, 425, 429})
# 307 and 308 keep the method and the body; 301/302/303 would turn the POST into a GET.
FOLLOWED_REDIRECTS = frozenset({307, 308})


class Outcome(StrEnum):
    DELIVERED = "delivered"
    REJECTED = "rejected"  # the receiver refuses this event for good: do not retry it
    RETRY = "retry"


class AttemptResult(StrEnum):
    """One POST's result; the `result` label of vmsd_webhook_attempts_total."""

    OK = "ok"  # the receiver answered 2xx
    HTTP_ERROR = "http_error"  # it answered with another status
    CONNECTION_ERROR = "connection_error"
    TIMEOUT = "timeout"
    ERROR = "error"  # a bug on our side; logged


class DropReason(StrEnum):
    QUEUE_FULL = "queue_full"
    SHUTDOWN = "shutdown"
    REMOVED = "removed"  # the webhook left the configuration with events still queued


def encode_body(event: Event) -> bytes:
    """The request body: the event's wire shape as compact UTF-8 JSON."""
    return json.dumps(event.as_json(), separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    """The X-Vmsd-Signature value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def wants(webhook: WebhookConfig, event_type: str) -> bool:
    return not webhook.events or event_type in webhook.events


def delivery_id(event: Event) -> str:
    """Stable across retries, so a receiver can drop duplicates: the event's id, or a random
    one for an event the database could not store."""
    return str(event.id) if event.id is not None else uuid.uuid4().hex


def build_headers(secret: str, event_type: str, delivery: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, body),
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery,
    }


def classify_status(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in RETRY_STATUSES or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.REJECTED


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now` (delta-seconds or an HTTP date); None if absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_delay_s(
    policy: Backoff, failures: int, retry_after_s: float | None, rand: float | None = None
) -> float:
    """Wait before the next attempt after `failures` failures in a row (1-based): the
    backoff delay, or longer when the receiver asked for it; never above the policy's cap."""
    delay = policy.delay_s(failures - 1, rand)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, policy.max_s)


def redirect_target(current: URL, location: str | None) -> URL | None:
    """Where a 307/308 may take the POST: the same host, never from https down to http."""
    if not location:
        return None
    try:
        target = current.join(URL(location))
    except ValueError:  # not a URL at all
        return None
    if target.host != current.host or target.scheme not in ("http", "https"):
        return None
    if current.scheme == "https" and target.scheme != "https":
        return None
    return target


def backoff_for(config: NotificationsConfig) -> Backoff:
    return Backoff(initial_s=config.retry_initial_seconds, max_s=config.retry_max_seconds)
