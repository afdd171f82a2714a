"""GET /api/v1/events (filters, order, cursors, bad input) and /api/v1/events/stream (live
events, resume with Last-Event-ID, heartbeats, catching up a slow client) over real HTTP and
the real events table."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import Api
from vmsd.api.events import sse_frame
from vmsd.api.services import SERVICES
from vmsd.core.metrics import Metrics
from vmsd.events import history as history_module
from vmsd.events.bus import Event, EventBus
from vmsd.events.history import EventHistory
from vmsd.store.events import EventFilter, EventStore


async def _get(api: Api, query: dict[str, Any] | list[tuple[str, str]]) -> tuple[int, Any]:
    async with api.session.get(
        api.url + "/api/v1/events", params=query, headers=api.headers("viewer")
    ) as r:
        return r.status, await r.json()


async def _seed(api: Api) -> list[int]:
    bus = api.cameras.events
    await bus.record("camera_online", camera="front", reason="test")
    await bus.record("recorder_started", camera="front")
    await bus.record("camera_offline", camera="back", reason="test")
    await bus.record("retention_pass", segments=3)
    status, body = await _get(api, {"order": "asc", "limit": 1000})
    assert status == 200
    return [e["id"] for e in body["items"]][-4:]


async def test_filters_and_order(api: Api) -> None:
    ids = await _seed(api)
    status, body = await _get(api, {"camera": "front"})
    assert status == 200
    items = [e for e in body["items"] if e["id"] in ids]
    assert [e["type"] for e in items] == ["recorder_started", "camera_online"]  # newest first
    assert items[1]["data"] == {"reason": "test"}
    status, body = await _get(
        api, [("type", "camera_online"), ("type", "camera_offline"), ("order", "asc")]
    )
    assert [e["type"] for e in body["items"] if e["id"] in ids] == [
        "camera_online",
        "camera_offline",
    ]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, body = await _get(api, {"since": future})
    assert status == 200 and body == {"items": [], "next_cursor": None}
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    status, body = await _get(api, {"until": past})
    assert status == 200 and [e for e in body["items"] if e["id"] in ids] == []


async def test_cursor_pages_cover_everything_once(api: Api) -> None:
    for i in range(7):
        await api.cameras.events.record("export_done", camera="front", export=i)
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        query = {"type": "export_done", "limit": 3, **({"cursor": cursor} if cursor else {})}
        status, body = await _get(api, query)
        assert status == 200
        seen += [e["data"]["export"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(range(7)))
    # A cursor belongs to its order.
    status, first = await _get(api, {"type": "export_done", "limit": 3})
    status, body = await _get(api, {"order": "asc", "cursor": first["next_cursor"]})
    assert status == 422 and "cursor" in json.dumps(body)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"type": "camera_onlin"}, "type"),
        ({"camera": "../etc"}, "camera"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-23T10:00:00"}, "since"),  # naive: ambiguous
        ({"since": "2026-11-23T10:00:00Z", "until": "2026-11-23T09:00:00Z"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_bad_queries_are_422_naming_the_field(
    api: Api, query: dict[str, str], field: str
) -> None:
    status, body = await _get(api, query)
    assert status == 422
    assert body["error"]["details"][0]["field"] == field


async def test_events_need_a_token(api: Api) -> None:
    async with api.session.get(api.url + "/api/v1/events") as r:
        assert r.status == 401
    async with api.session.get(api.url + "/api/v1/events/stream") as r:
        assert r.status == 401


class SseClient:
    """Reads a text/event-stream the way EventSource does: frames split by blank lines."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0
        self.retry: int | None = None

    async def next_event(self, timeout: float = 20.0) -> dict[str, Any]:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> dict[str, Any]:
        fields: dict[str, str] = {}
        while True:
            line = (await self.response.content.readline()).decode()
            if line == "":
                raise EOFError("stream ended")
            line = line.rstrip("\n")
            if line == "":
                if "data" in fields:
                    event: dict[str, Any] = json.loads(fields["data"])
                    assert event["id"] == (int(fields["id"]) if "id" in fields else None)
                    return event
                fields = {}
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(": ")
            if name == "retry":
                self.retry = int(value)
            else:
                fields[name] = value


async def _open_stream(
    api: Api, query: dict[str, str] | None = None, last_id: int | None = None
) -> AsyncIterator[SseClient]:
    headers = api.headers("viewer")
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    async with api.session.get(
        api.url + "/api/v1/events/stream", params=query or {}, headers=headers
    ) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        yield SseClient(r)


async def test_stream_live_then_resume_with_last_event_id(api: Api) -> None:
    bus = api.cameras.events
    async for client in _open_stream(api, {"camera": "front"}):
        await bus.record("camera_online", camera="back")  # filtered out
        await bus.record("recorder_started", camera="front")
        first = await client.next_event()
        assert first["type"] == "recorder_started" and first["camera"] == "front"
        assert client.retry is not None
        last_id = first["id"]
    # Disconnected: events happen meanwhile.
    missed = []
    for i in range(3):
        await bus.record("recorder_failed", camera="front", reason=f"r{i}")
    async for client in _open_stream(api, {"camera": "front"}, last_id=last_id):
        for _ in range(3):
            missed.append(await client.next_event())
        await bus.record("recorder_stalled", camera="front")
        after = await client.next_event()
    assert [e["data"]["reason"] for e in missed] == ["r0", "r1", "r2"]
    ids = [e["id"] for e in missed] + [after["id"]]
    assert ids == sorted(ids) and ids[0] > last_id and len(set(ids)) == 4
    assert after["type"] == "recorder_stalled"


async def test_stream_heartbeats_while_idle(api: Api) -> None:
    holder = api.app[SERVICES].config
    events_config = holder.current.events.model_copy(update={"stream_heartbeat_seconds": 1.0})
    holder.current = holder.current.model_copy(update={"events": events_config})
    async for client in _open_stream(api, {"type": "daemon_stopped"}):
        with pytest.raises(TimeoutError):
            await client.next_event(timeout=2.5)
        assert client.comments >= 1


async def test_a_slow_stream_catches_up_from_the_table(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "STREAM_QUEUE", 2)
    history = api.app[SERVICES].events
    bus = api.cameras.events
    start = await history.start_id(None)
    stream = history.stream(EventFilter(types=("export_done",)), start, 30.0)
    got: list[Event | None] = []
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # the stream subscribes before these are recorded
    for i in range(10):  # the client reads nothing meanwhile: its queue of 2 overflows
        await bus.record("export_done", export=i)
    got.append(await first)
    while len(got) < 10:
        got.append(await asyncio.wait_for(anext(stream), 10))
    await stream.aclose()
    assert [e.data["export"] for e in got if e is not None] == list(range(10))


async def test_event_the_database_cannot_take_still_reaches_the_stream(
    api: Api, database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    gone = await asyncpg.create_pool(database_dsn, min_size=0, max_size=1)
    await gone.close()  # every write through it fails, as with the database away
    bus = EventBus(EventStore(gone), tmp_path / "events.jsonl", Metrics(), write_timeout_s=1.0)
    history = EventHistory(api.cameras.holder, EventStore(db_pool), bus)
    stream = history.stream(EventFilter(), await history.start_id(None), 30.0)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    await bus.record("recorder_failed", camera="front", reason="exit 1")
    event = await asyncio.wait_for(pending, 10)
    await stream.aclose()
    assert event is not None and event.type == "recorder_failed" and event.id is None
    frame = sse_frame(event).decode()
    assert not frame.startswith("id:") and '"type":"recorder_failed"' in frame


async def test_nul_characters_do_not_cost_an_event(api: Api, db_pool: asyncpg.Pool) -> None:
    """jsonb refuses \\u0000; FFmpeg's stderr may carry one. The event is stored anyway."""
    await api.cameras.events.record("recorder_failed", camera="front", stderr_tail=["a\x00b"])
    data = await db_pool.fetchval(
        "SELECT data FROM events WHERE type = 'recorder_failed' ORDER BY id DESC LIMIT 1"
    )
    assert json.loads(data)["stderr_tail"] == ["a\ufffdb"]


async def test_stream_ends_when_the_daemon_stops(api: Api) -> None:
    history = api.app[SERVICES].events
    stream = history.stream(EventFilter(), await history.start_id(None), 30.0)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    history.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 5)


async def test_bad_last_event_id_is_422(api: Api) -> None:
    headers = {**api.headers("viewer"), "Last-Event-ID": "abc"}
    async with api.session.get(api.url + "/api/v1/events/stream", headers=headers) as r:
        assert r.status == 422


async def test_events_older_than_retention_are_pruned(api: Api, db_pool: asyncpg.Pool) -> None:
    pool = db_pool
    old = datetime.now(UTC) - timedelta(days=91)
    await pool.execute(
        "INSERT INTO events (time, type, data) VALUES ($1, 'retention_pass', '{}')", old
    )
    await api.cameras.events.record("retention_pass", segments=1)
    deleted = await api.app[SERVICES].events.prune()
    assert deleted >= 1
    remaining = await pool.fetchval(
        "SELECT count(*) FROM events WHERE time < $1", old + timedelta(days=1)
    )
    assert remaining == 0
    assert (
        await pool.fetchval("SELECT count(*) FROM events WHERE time > now() - interval '1 hour'")
        >= 1
    )
