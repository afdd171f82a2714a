"""Webhook notifications: a real aiohttp receiver on loopback, the real event bus over the
session's PostgreSQL. Every wait is on a condition with a deadline, never on elapsed time."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from aiohttp import web
from prometheus_client import generate_latest
from yarl import URL

from tests.net import free_port
from vmsd.config.events import NotificationsConfig, WebhookConfig
from vmsd.core.backoff import Backoff
from vmsd.core.health import Health
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import Event, EventBus
from vmsd.events.delivery import (
    Outcome,
    classify_status,
    delivery_id,
    encode_body,
    parse_retry_after,
    redirect_target,
    retry_delay_s,
    sign,
    wants,
)
from vmsd.events.webhooks import WebhookNotifier
from vmsd.store.events import EventStore

SECRET = "s3cr3t-signing-key-0123456789"
NEW_SECRET = "a-brand-new-secret-after-rotation"
TOKEN = "tok-9f8e7d6c5b4a"  # in the URL's path, as Slack-style receivers do
HANG = -1  # a scripted answer: never answer (the client times out)


# --- pure parts ---------------------------------------------------------------------------


def test_sign_is_hmac_sha256_of_the_body() -> None:
    # The HMAC-SHA256 test vector everyone quotes (RFC 4231 style, key "key").
    body = b"The quick brown fox jumps over the lazy dog"
    assert sign("key", body) == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_body_is_compact_utf8_json_of_the_event() -> None:
    event = Event(
        7,
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "camera_offline",
        "front",
        {"reason": "Café lost"},
    )
    body = encode_body(event)
    assert b" " not in body.replace(b"Caf\xc3\xa9 lost", b"")
    assert "Café".encode() in body
    assert json.loads(body) == {
        "id": 7,
        "time": "2025-01-02T03:04:05+00:00",
        "type": "camera_offline",
        "camera": "front",
        "data": {"reason": "Café lost"},
    }


def test_delivery_id_is_the_event_id_or_random() -> None:
    now = datetime.now(UTC)
    assert delivery_id(Event(42, now, "daemon_started", None, {})) == "42"
    first = delivery_id(Event(None, now, "daemon_started", None, {}))
    second = delivery_id(Event(None, now, "daemon_started", None, {}))
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


def test_event_filter() -> None:
    every = WebhookConfig(url="https://h/x", secret=SECRET)
    some = WebhookConfig(url="https://h/x", secret=SECRET, events=("camera_offline",))
    assert wants(every, "retention_pass")
    assert wants(some, "camera_offline")
    assert not wants(some, "camera_online")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.RETRY),
        (425, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (403, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (410, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (301, Outcome.REJECTED),  # a redirect not followed is the receiver's misconfiguration
        (307, Outcome.REJECTED),
        (101, Outcome.REJECTED),
    ],
)
def test_classify_status(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


def test_parse_retry_after() -> None:
    now = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after("²", now) is None  # a digit to str.isdigit, not to HTTP


def test_retry_delay() -> None:
    policy = Backoff(initial_s=1.0, max_s=60.0)
    no_jitter = 0.5
    assert retry_delay_s(policy, 1, None, no_jitter) == 1.0
    assert retry_delay_s(policy, 3, None, no_jitter) == 4.0
    assert retry_delay_s(policy, 20, None, no_jitter) == 60.0
    assert retry_delay_s(policy, 1, 10.0, no_jitter) == 10.0  # the receiver asked for longer
    assert retry_delay_s(policy, 3, 1.0, no_jitter) == 4.0  # never sooner than the backoff
    assert retry_delay_s(policy, 1, 86400.0, no_jitter) == 60.0  # capped


@pytest.mark.parametrize(
    ("current", "location", "expected"),
    [
        ("http://h:1/a", "/b", "http://h:1/b"),
        ("https://h/a", "https://h/b?x=1", "https://h/b?x=1"),
        ("http://h/a", "https://h/b", "https://h/b"),  # upgrade: fine
        ("https://h/a", "http://h/b", None),  # downgrade: the signed body would go in clear
        ("https://h/a", "https://elsewhere/b", None),
        ("https://h/a", "ftp://h/b", None),
        ("https://h/a", "", None),
        ("https://h/a", None, None),
        ("https://h/a", "http://[::1", None),  # not a URL
    ],
)
def test_redirect_target(current: str, location: str | None, expected: str | None) -> None:
    target = redirect_target(URL(current), location)
    assert (str(target) if target is not None else None) == expected


# --- a real receiver ----------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    def signed_with(self, secret: str) -> bool:
        expected = hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Vmsd-Signature", ""), f"sha256={expected}")


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (HANG: never), then 200."""

    port: int
    script: deque[int] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    def url(self, path: str = f"/hook/{TOKEN}", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.accepted]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook/{token}", self._hook)
        app.router.add_post("/moved", self._moved)
        app.router.add_post("/away", self._away)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _hook(self, request: web.Request) -> web.Response:
        received = Received(request.path, dict(request.headers), await request.read())
        self.requests.append(received)
        status = self.script.popleft() if self.script else 200
        if status == HANG:
            await self.release.wait()
            status = 503
        if 200 <= status < 300:
            self.accepted.append(received)
        return web.Response(status=status)

    async def _moved(self, request: web.Request) -> web.Response:
        await request.read()
        raise web.HTTPTemporaryRedirect(f"/hook/{TOKEN}")

    async def _away(self, request: web.Request) -> web.Response:
        await request.read()
        raise web.HTTPTemporaryRedirect(self.url(host="localhost"))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver(free_port())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def down() -> AsyncIterator[Receiver]:
    """A receiver not listening yet: connections are refused until a test starts it."""
    server = Receiver(free_port())
    yield server
    await server.stop()


@pytest.fixture
def bus(db_pool: asyncpg.Pool, tmp_path: Path) -> EventBus:
    return EventBus(EventStore(db_pool), tmp_path / "events.jsonl", Metrics())


def webhook(url: str, name: str | None = None, **more: Any) -> dict[str, Any]:
    return {"url": url, "secret": SECRET, **({"name": name} if name else {}), **more}


def notifications(*webhooks: dict[str, Any], **settings: Any) -> NotificationsConfig:
    fast = {"retry_initial_seconds": 0.01, "retry_max_seconds": 1, "timeout_seconds": 5}
    return NotificationsConfig.model_validate({"webhooks": list(webhooks), **fast, **settings})


@contextlib.asynccontextmanager
async def running(
    config: NotificationsConfig, bus: EventBus, metrics: Metrics
) -> AsyncIterator[WebhookNotifier]:
    notifier = WebhookNotifier(config, bus, metrics, Supervisor(Health(metrics)))
    await notifier.start()
    try:
        yield notifier
    finally:
        await notifier.stop(flush_timeout_s=0.5)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.01)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def assert_nothing_leaked(logs: list[MutableMapping[str, Any]], metrics: Metrics) -> None:
    for secret in (TOKEN, SECRET, NEW_SECRET):
        assert secret not in repr(logs)
        assert secret.encode() not in generate_latest(metrics.registry)


# --- delivery -------------------------------------------------------------------------------


async def test_delivers_a_signed_event(
    bus: EventBus, receiver: Receiver, db_pool: asyncpg.Pool
) -> None:
    metrics = Metrics()
    async with running(notifications(webhook(receiver.url())), bus, metrics):
        await bus.record("camera_offline", camera="front", reason="timeout")
        await until(lambda: len(receiver.accepted) == 1, "one delivery")

    got = receiver.accepted[0]
    assert got.signed_with(SECRET)
    assert not got.signed_with("another-secret-of-enough-length")
    stored = await db_pool.fetchrow("SELECT id, type, camera FROM events")
    assert stored is not None
    assert got.event["id"] == stored["id"]
    assert got.event["type"] == "camera_offline" and got.event["camera"] == "front"
    assert got.event["data"] == {"reason": "timeout"}
    assert got.headers["X-Vmsd-Event"] == "camera_offline"
    assert got.headers["X-Vmsd-Delivery"] == str(stored["id"])
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("vmsd/")
    label = "127.0.0.1"
    assert sample(metrics, "vmsd_webhook_deliveries_total", webhook=label, result="delivered") == 1
    assert sample(metrics, "vmsd_webhook_attempts_total", webhook=label, result="ok") == 1
    assert sample(metrics, "vmsd_webhook_delivery_duration_seconds_count", webhook=label) == 1


async def test_only_the_events_a_webhook_asks_for(bus: EventBus, receiver: Receiver) -> None:
    config = notifications(
        webhook(receiver.url("/hook/offline"), "offline", events=["camera_offline"]),
        webhook(receiver.url("/hook/all"), "all"),
    )
    async with running(config, bus, Metrics()):
        await bus.record("camera_online", camera="front")
        await bus.record("camera_offline", camera="front")
        await bus.record("camera_online", camera="back")
        await until(lambda: len(receiver.accepted) == 4, "four deliveries")

    def types(path: str) -> list[tuple[str, str]]:
        return [(r.event["type"], r.event["camera"]) for r in receiver.accepted if r.path == path]

    assert types("/hook/offline") == [("camera_offline", "front")]
    assert types("/hook/all") == [
        ("camera_online", "front"),
        ("camera_offline", "front"),
        ("camera_online", "back"),
    ]


async def test_retried_after_two_500s_then_in_order(bus: EventBus, receiver: Receiver) -> None:
    metrics = Metrics()
    receiver.script.extend([500, 500])
    with structlog.testing.capture_logs() as logs:
        async with running(notifications(webhook(receiver.url(), "ops")), bus, metrics):
            for camera in ("a", "b", "c"):
                await bus.record("camera_offline", camera=camera)
            await until(lambda: len(receiver.accepted) == 3, "three deliveries")

    assert [e["camera"] for e in receiver.events] == ["a", "b", "c"]
    assert [r.event["camera"] for r in receiver.requests] == ["a", "a", "a", "b", "c"]
    assert all(r.signed_with(SECRET) for r in receiver.requests)
    # The same delivery id on every try, so a receiver can drop duplicates.
    assert len({r.headers["X-Vmsd-Delivery"] for r in receiver.requests[:3]}) == 1
    assert sample(metrics, "vmsd_webhook_attempts_total", webhook="ops", result="http_error") == 2
    assert sample(metrics, "vmsd_webhook_attempts_total", webhook="ops", result="ok") == 3
    assert sample(metrics, "vmsd_webhook_deliveries_total", webhook="ops", result="delivered") == 3
    failures = [e for e in logs if e["event"] == "webhook_delivery_failed"]
    assert [(f["webhook"], f["status"], f["attempt"]) for f in failures] == [
        ("ops", 500, 1),
        ("ops", 500, 2),
    ]
    assert all(f["log_level"] == "warning" and f["retry_in_s"] > 0 for f in failures)
    assert_nothing_leaked(logs, metrics)


async def test_a_400_is_rejected_and_the_queue_moves_on(bus: EventBus, receiver: Receiver) -> None:
    metrics = Metrics()
    receiver.script.append(400)
    with structlog.testing.capture_logs() as logs:
        async with running(notifications(webhook(receiver.url(), "ops")), bus, metrics):
            await bus.record("camera_offline", camera="a")
            await bus.record("camera_offline", camera="b")
            await until(lambda: len(receiver.accepted) == 1, "the second event")

    assert [r.event["camera"] for r in receiver.requests] == ["a", "b"]
    assert [e["camera"] for e in receiver.events] == ["b"]
    assert sample(metrics, "vmsd_webhook_deliveries_total", webhook="ops", result="rejected") == 1
    assert sample(metrics, "vmsd_webhook_deliveries_total", webhook="ops", result="delivered") == 1
    rejected = [e for e in logs if e["event"] == "webhook_rejected"]
    assert [(e["status"], e["log_level"]) for e in rejected] == [(400, "error")]
    assert_nothing_leaked(logs, metrics)


async def test_receiver_down_drops_the_oldest_then_delivers_the_rest_in_order(
    bus: EventBus, down: Receiver
) -> None:
    metrics = Metrics()
    config = notifications(webhook(down.url(), "ops"), queue_size=3)
    with structlog.testing.capture_logs() as logs:
        async with running(config, bus, metrics):
            for n in range(6):
                await bus.record("camera_offline", camera=f"cam{n}")

            def dropped() -> float:
                return sample(
                    metrics, "vmsd_webhook_dropped_total", webhook="ops", reason="queue_full"
                )

            await until(lambda: dropped() == 3, "three events dropped")
            assert sample(metrics, "vmsd_webhook_queue_events", webhook="ops") == 3
            await down.start()
            await until(lambda: len(down.accepted) == 3, "the queued events")

    assert [e["camera"] for e in down.events] == ["cam3", "cam4", "cam5"]
    assert dropped() == 3
    assert sample(metrics, "vmsd_webhook_queue_events", webhook="ops") == 0
    refused = sample(
        metrics, "vmsd_webhook_attempts_total", webhook="ops", result="connection_error"
    )
    assert refused >= 1
    assert [e["event"] for e in logs].count("webhook_queue_full") == 1
    assert_nothing_leaked(logs, metrics)


async def test_a_timeout_is_counted_and_retried(bus: EventBus, receiver: Receiver) -> None:
    metrics = Metrics()
    receiver.script.append(HANG)
    config = notifications(webhook(receiver.url(), "ops"), timeout_seconds=0.2)
    with structlog.testing.capture_logs() as logs:
        async with running(config, bus, metrics):
            await bus.record("camera_offline", camera="a")
            await until(lambda: len(receiver.accepted) == 1, "the retried delivery")

    assert sample(metrics, "vmsd_webhook_attempts_total", webhook="ops", result="timeout") == 1
    assert [r.event["camera"] for r in receiver.requests] == ["a", "a"]
    failed = [e for e in logs if e["event"] == "webhook_delivery_failed"]
    assert [(e["result"], e["status"]) for e in failed] == [("timeout", None)]
    assert_nothing_leaked(logs, metrics)


async def test_an_event_the_database_could_not_store_is_still_delivered(
    database_dsn: str, receiver: Receiver, tmp_path: Path
) -> None:
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=1)
    assert pool is not None
    await pool.close()  # the database is "away": every write fails
    bus = EventBus(EventStore(pool), tmp_path / "events.jsonl", Metrics())
    async with running(notifications(webhook(receiver.url())), bus, Metrics()):
        await bus.record("recorder_failed", camera="a")
        await bus.record("recorder_failed", camera="b")
        await until(lambda: len(receiver.accepted) == 2, "two deliveries")

    assert [e["id"] for e in receiver.events] == [None, None]
    ids = [r.headers["X-Vmsd-Delivery"] for r in receiver.accepted]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]
    assert all(r.signed_with(SECRET) for r in receiver.accepted)


async def test_a_same_host_redirect_is_followed_another_host_is_not(
    bus: EventBus, receiver: Receiver
) -> None:
    metrics = Metrics()
    config = notifications(
        webhook(receiver.url("/moved"), "moved"), webhook(receiver.url("/away"), "away")
    )
    async with running(config, bus, metrics):
        await bus.record("camera_offline", camera="a")

        def settled(label: str) -> float:
            return sum(
                sample(metrics, "vmsd_webhook_deliveries_total", webhook=label, result=result)
                for result in ("delivered", "rejected")
            )

        await until(lambda: settled("moved") == 1 and settled("away") == 1, "both settled")

    assert len(receiver.accepted) == 1 and receiver.accepted[0].signed_with(SECRET)
    assert (
        sample(metrics, "vmsd_webhook_deliveries_total", webhook="moved", result="delivered") == 1
    )
    assert sample(metrics, "vmsd_webhook_deliveries_total", webhook="away", result="rejected") == 1


# --- stop and reload ------------------------------------------------------------------------


async def test_stop_delivers_what_is_queued(bus: EventBus, receiver: Receiver) -> None:
    metrics = Metrics()
    notifier = WebhookNotifier(
        notifications(webhook(receiver.url(), "ops")), bus, metrics, Supervisor(Health(metrics))
    )
    await notifier.start()
    for n in range(20):
        await bus.record("camera_offline", camera=f"cam{n}")
    await notifier.stop(flush_timeout_s=10)

    assert [e["camera"] for e in receiver.events] == [f"cam{n}" for n in range(20)]
    assert sample(metrics, "vmsd_webhook_dropped_total", webhook="ops", reason="shutdown") == 0
    await bus.record("camera_offline", camera="after")  # no listener any more
    assert len(receiver.requests) == 20


async def test_stop_gives_up_on_a_receiver_that_is_down(bus: EventBus, down: Receiver) -> None:
    metrics = Metrics()
    notifier = WebhookNotifier(
        notifications(webhook(down.url(), "ops")), bus, metrics, Supervisor(Health(metrics))
    )
    await notifier.start()
    for n in range(4):
        await bus.record("camera_offline", camera=f"cam{n}")
    with structlog.testing.capture_logs() as logs:
        await notifier.stop(flush_timeout_s=0.3)

    assert sample(metrics, "vmsd_webhook_dropped_total", webhook="ops", reason="shutdown") == 4
    dropped = [e for e in logs if e["event"] == "webhook_events_dropped"]
    assert [(e["count"], e["reason"]) for e in dropped] == [(4, "shutdown")]
    assert_nothing_leaked(logs, metrics)


async def test_apply_keeps_queues_starts_new_and_stops_removed_webhooks(
    bus: EventBus, receiver: Receiver, down: Receiver
) -> None:
    metrics = Metrics()
    nowhere = Receiver(free_port())  # never listens
    before = notifications(
        webhook(down.url(), "steady"),
        webhook(nowhere.url(), "moving"),
        webhook(nowhere.url(), "gone"),
    )
    after = notifications(
        webhook(down.url(), "steady"),  # unchanged: keeps its queue, its receiver comes up
        webhook(receiver.url("/hook/moving"), "moving", secret=NEW_SECRET),  # fixed URL
        webhook(receiver.url("/hook/extra"), "extra"),
    )
    with structlog.testing.capture_logs() as logs:
        async with running(before, bus, metrics) as notifier:
            for camera in ("a", "b", "c"):
                await bus.record("camera_offline", camera=camera)

            def refused(label: str) -> float:
                return sample(
                    metrics, "vmsd_webhook_attempts_total", webhook=label, result="connection_error"
                )

            await until(
                lambda: all(refused(w) >= 1 for w in ("steady", "moving", "gone")),
                "every receiver tried once",
            )
            await notifier.apply(after)
            await bus.record("camera_offline", camera="d")
            await until(lambda: len(receiver.accepted) == 5, "moving's queue and extra's event")
            await down.start()
            await until(lambda: len(down.accepted) == 4, "steady's queue")

    def cameras(got: list[Received], path: str | None = None) -> list[str]:
        return [r.event["camera"] for r in got if path is None or r.path == path]

    assert cameras(receiver.accepted, "/hook/moving") == ["a", "b", "c", "d"]
    assert all(r.signed_with(NEW_SECRET) for r in receiver.accepted if r.path == "/hook/moving")
    assert cameras(receiver.accepted, "/hook/extra") == ["d"]
    assert cameras(down.accepted) == ["a", "b", "c", "d"]
    assert sample(metrics, "vmsd_webhook_dropped_total", webhook="gone", reason="removed") == 3
    assert (
        metrics.registry.get_sample_value("vmsd_webhook_queue_events", {"webhook": "gone"}) is None
    )
    assert_nothing_leaked(logs, metrics)
