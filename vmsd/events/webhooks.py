"""Webhook notifications: every matching event is POSTed, signed, in order, to each webhook.

One queue and one worker task per webhook. The bus listener only appends to the queues, so
recording and the API never wait for a receiver. A worker sends its queue's head until the
receiver takes it (2xx) or refuses it for good (another 4xx, or a redirect we will not
follow); anything else (408, 425, 429, 5xx, no connection, a timeout) is retried with
backoff, honouring Retry-After. A receiver that stays down fills the queue; then the oldest
event is dropped and counted.

The webhook's URL may hold the receiver's token: it appears in no log line, metric or error.
Webhooks are named by their `label` everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from yarl import URL

from vmsd.config.events import NotificationsConfig, WebhookConfig
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.core.wait import wait_event
from vmsd.events.bus import Event, EventBus
from vmsd.events.delivery import (
    FOLLOWED_REDIRECTS,
    MAX_REDIRECTS,
    AttemptResult,
    DropReason,
    Outcome,
    backoff_for,
    build_headers,
    classify_status,
    delivery_id,
    encode_body,
    parse_retry_after,
    redirect_target,
    retry_delay_s,
    wants,
)
from vmsd.events.metrics import EventMetrics

log = get_logger("vmsd.webhooks")

# Within the daemon's stop budget (a stop stage gets 20 s): a receiver that answers gets
# what is queued; one that does not must not hold the shutdown up.
STOP_FLUSH_S = 3.0
HEALTH_PREFIX = "webhook:"  # a worker's component name: webhook:<label>


@dataclass(frozen=True, slots=True)
class _Delivery:
    event_type: str
    delivery_id: str
    body: bytes
    queued_at: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class _Attempt:
    result: AttemptResult
    outcome: Outcome
    status: int | None = None
    retry_after_s: float | None = None


class _Webhook:
    """One webhook's settings and queue. The queue holds `capacity` waiting events plus the
    one on the wire: an attempt under way decides its event's fate, so it is never dropped."""

    def __init__(self, config: WebhookConfig, capacity: int, metrics: Metrics) -> None:
        self.config = config
        self.capacity = capacity
        self.label = config.label
        self.pending: deque[_Delivery] = deque()
        self.sending = False
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.hurry = asyncio.Event()  # ends the current backoff pause once
        self.overflowing = False
        self._event_metrics = metrics.group(EventMetrics)
        self.task: asyncio.Task[None] | None = None
        for outcome in (Outcome.DELIVERED, Outcome.REJECTED):
            self._event_metrics.webhook_deliveries.labels(webhook=self.label, result=outcome.value)
        self._event_metrics.webhook_dropped.labels(
            webhook=self.label, reason=DropReason.QUEUE_FULL.value
        )
        self.update_gauge()

    def push(self, delivery: _Delivery) -> None:
        self.pending.append(delivery)
        self.trim()
        self.update_gauge()
        self.idle.clear()
        self.wake.set()

    def trim(self) -> None:
        limit = self.capacity + (1 if self.sending else 0)
        dropped = 0
        while len(self.pending) > limit:
            del self.pending[1 if self.sending else 0]
            dropped += 1
        if dropped:
            self.drop(dropped, DropReason.QUEUE_FULL)
            if not self.overflowing:  # once per outage, not once per event
                self.overflowing = True
                log.warning("webhook_queue_full", webhook=self.label, capacity=self.capacity)

    def drop(self, count: int, reason: DropReason) -> None:
        dropped = self._event_metrics.webhook_dropped
        dropped.labels(webhook=self.label, reason=reason.value).inc(count)

    def update_gauge(self) -> None:
        self._event_metrics.webhook_queue.labels(webhook=self.label).set(len(self.pending))

    async def pause(self, delay_s: float) -> None:
        await wait_event(self.hurry, delay_s)
        self.hurry.clear()

    def forget_gauges(self) -> None:
        for gauge in (self._event_metrics.webhook_queue, self._event_metrics.webhook_last_delivery):
            with contextlib.suppress(KeyError):
                gauge.remove(self.label)


class WebhookWorkerError(Exception):
    """A webhook worker's unexpected failure, as the supervisor logs and /readyz shows it:
    the original error's type, message (URL and secret cut out) and place, no chained
    traceback that could quote the URL."""


class WebhookNotifier:
    """Owns one aiohttp session and one worker task per webhook, from `start()` to `stop()`.
    Each worker runs under the daemon's supervisor as `webhook:<label>`: a crashed worker is
    shown on /readyz, backed off and restarted with its queue intact."""

    def __init__(
        self,
        config: NotificationsConfig,
        bus: EventBus,
        metrics: Metrics,
        supervisor: Supervisor,
    ) -> None:
        self._supervisor = supervisor
        self._config = config
        self._backoff = backoff_for(config)
        self._bus = bus
        self._metrics = metrics
        self._event_metrics = metrics.group(EventMetrics)
        self._webhooks: dict[str, _Webhook] = {}
        self._session: aiohttp.ClientSession | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        for config in self._config.webhooks:
            self._add(config)
        self._unsubscribe = self._bus.subscribe(self._on_event)
        if self._webhooks:
            log.info("webhooks_started", webhooks=sorted(self._webhooks))

    async def stop(self, flush_timeout_s: float = STOP_FLUSH_S) -> None:
        """Delivers what is queued for at most `flush_timeout_s`, then cancels the workers;
        what is still queued is counted as dropped."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        webhooks = list(self._webhooks.values())
        for webhook in webhooks:
            webhook.hurry.set()  # one more try now for a receiver we were backing off from
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_timeout_s):
                await asyncio.gather(*(w.idle.wait() for w in webhooks))
        for webhook in webhooks:
            await self._end(webhook, DropReason.SHUTDOWN)
        self._webhooks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def apply(self, new: NotificationsConfig) -> None:
        """A reloaded configuration: webhooks are matched by label. A kept webhook keeps its
        queue and takes the new URL, secret, filter and queue size at its next attempt; a
        removed one stops (its queue counted as dropped); a new one starts."""
        self._config = new
        self._backoff = backoff_for(new)
        if self._session is None:  # not started: start() reads the new configuration
            return
        wanted = {w.label: w for w in new.webhooks}
        for label in [label for label in self._webhooks if label not in wanted]:
            await self._end(self._webhooks.pop(label), DropReason.REMOVED)
            log.info("webhook_removed", webhook=label)
        for label, config in wanted.items():
            webhook = self._webhooks.get(label)
            if webhook is None:
                self._add(config)
                log.info("webhook_added", webhook=label)
            elif webhook.config != config or webhook.capacity != new.queue_size:
                webhook.config, webhook.capacity = config, new.queue_size
                webhook.trim()
                webhook.update_gauge()
                webhook.hurry.set()  # a fixed URL or secret should not wait out the backoff
                log.info("webhook_changed", webhook=label)

    def _add(self, config: WebhookConfig) -> None:
        webhook = _Webhook(config, self._config.queue_size, self._metrics)
        webhook.task = asyncio.get_running_loop().create_task(
            self._supervisor.run(
                f"{HEALTH_PREFIX}{webhook.label}", functools.partial(self._worker, webhook)
            ),
            name=f"webhook-{webhook.label}",
        )
        webhook.task.add_done_callback(functools.partial(_worker_ended, webhook))
        self._webhooks[webhook.label] = webhook

    async def _end(self, webhook: _Webhook, reason: DropReason) -> None:
        if webhook.task is not None:
            webhook.task.cancel()
            # The supervisor logged every crash of the worker; only a stop ends it.
            await asyncio.gather(webhook.task, return_exceptions=True)
        if webhook.pending:
            webhook.drop(len(webhook.pending), reason)
            log.warning(
                "webhook_events_dropped",
                webhook=webhook.label,
                count=len(webhook.pending),
                reason=reason.value,
            )
            webhook.pending.clear()
        webhook.forget_gauges()

    def _on_event(self, event: Event) -> None:
        """The bus listener: queue and return, never wait."""
        targets = [w for w in self._webhooks.values() if wants(w.config, event.type)]
        if not targets:
            return
        delivery = _Delivery(event.type, delivery_id(event), encode_body(event), time.monotonic())
        for webhook in targets:
            webhook.push(delivery)

    async def _worker(self, webhook: _Webhook) -> None:
        try:
            await self._run(webhook)
        except Exception as err:
            info = _describe(err, webhook)
            raise WebhookWorkerError(
                f"{info['error_type']}: {info['error']} (at {info['at']})"
            ) from None

    async def _run(self, webhook: _Webhook) -> None:
        """The webhook's worker: the queue's head, in order, until it is settled."""
        failures = 0  # in a row, across events: a receiver that is down stays backed off
        head: _Delivery | None = None
        attempts = 0
        while True:
            if not webhook.pending:
                webhook.idle.set()
                webhook.wake.clear()
                await webhook.wake.wait()
                continue
            if webhook.pending[0] is not head:
                head, attempts = webhook.pending[0], 0
            attempts += 1
            webhook.sending = True
            try:
                attempt = await self._attempt(webhook, head)
            finally:
                webhook.sending = False
            self._event_metrics.webhook_attempts.labels(
                webhook=webhook.label, result=attempt.result.value
            ).inc()
            if attempt.outcome is Outcome.RETRY:
                failures += 1
                delay = retry_delay_s(self._backoff, failures, attempt.retry_after_s)
                log.warning(
                    "webhook_delivery_failed",
                    webhook=webhook.label,
                    event_type=head.event_type,
                    delivery=head.delivery_id,
                    status=attempt.status,
                    result=attempt.result.value,
                    attempt=attempts,
                    retry_in_s=round(delay, 3),
                )
                webhook.trim()  # events that came in meanwhile may push this one out now
                webhook.update_gauge()
                await webhook.pause(delay)
                continue
            failures = 0
            assert webhook.pending[0] is head  # nothing drops the head while it is sent
            webhook.pending.popleft()
            webhook.update_gauge()
            self._settled(webhook, head, attempt, attempts)

    def _settled(
        self, webhook: _Webhook, delivery: _Delivery, attempt: _Attempt, attempts: int
    ) -> None:
        self._event_metrics.webhook_deliveries.labels(
            webhook=webhook.label, result=attempt.outcome.value
        ).inc()
        if attempt.outcome is Outcome.DELIVERED:
            webhook.overflowing = False
            self._event_metrics.webhook_last_delivery.labels(webhook=webhook.label).set(time.time())
            self._event_metrics.webhook_delivery_duration.labels(webhook=webhook.label).observe(
                time.monotonic() - delivery.queued_at
            )
            log.debug(
                "webhook_delivered",
                webhook=webhook.label,
                event_type=delivery.event_type,
                delivery=delivery.delivery_id,
                attempts=attempts,
            )
        else:
            # A human must look: wrong path, expired token, a receiver that cannot parse us.
            log.error(
                "webhook_rejected",
                webhook=webhook.label,
                event_type=delivery.event_type,
                delivery=delivery.delivery_id,
                status=attempt.status,
            )

    async def _attempt(self, webhook: _Webhook, delivery: _Delivery) -> _Attempt:
        try:
            status, retry_after = await self._post(webhook.config, delivery)
        except TimeoutError:  # aiohttp's socket timeouts are TimeoutError subclasses too
            return _Attempt(AttemptResult.TIMEOUT, Outcome.RETRY)
        except aiohttp.ClientError:
            return _Attempt(AttemptResult.CONNECTION_ERROR, Outcome.RETRY)
        except Exception as err:  # a bug here must not end this webhook's deliveries
            log.error("webhook_attempt_error", webhook=webhook.label, **_describe(err, webhook))
            return _Attempt(AttemptResult.ERROR, Outcome.RETRY)
        outcome = classify_status(status)
        result = AttemptResult.OK if outcome is Outcome.DELIVERED else AttemptResult.HTTP_ERROR
        return _Attempt(result, outcome, status, retry_after)

    async def _post(self, config: WebhookConfig, delivery: _Delivery) -> tuple[int, float | None]:
        assert self._session is not None
        url = URL(config.url.get_secret_value())
        headers = build_headers(
            config.secret.get_secret_value(),
            delivery.event_type,
            delivery.delivery_id,
            delivery.body,
        )
        timeout = aiohttp.ClientTimeout(total=self._config.timeout_seconds)
        for _ in range(MAX_REDIRECTS + 1):
            async with self._session.post(
                url, data=delivery.body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                location = response.headers.get("Location")
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                )
            target = redirect_target(url, location) if status in FOLLOWED_REDIRECTS else None
            if target is None:
                break
            url = target
        return status, retry_after


def _worker_ended(webhook: _Webhook, task: asyncio.Task[None]) -> None:
    """Only a bug in the supervision itself ends a worker with an error."""
    if not task.cancelled() and (err := task.exception()) is not None:
        log.error("webhook_worker_crashed", webhook=webhook.label, **_describe(err, webhook))


def _describe(err: BaseException, webhook: _Webhook) -> dict[str, str]:
    """An unexpected error for the log, without a traceback: messages from the HTTP client
    may quote the URL, so the URL and the secret are cut out of the message."""
    message = str(err)
    for secret in (webhook.config.url.get_secret_value(), webhook.config.secret.get_secret_value()):
        message = message.replace(secret, "***")
    frames = traceback.extract_tb(err.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return {"error_type": type(err).__name__, "error": message, "at": where}
