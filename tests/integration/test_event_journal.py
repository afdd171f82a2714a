"""Events the database could not take are journaled and reach the table later, in order,
ahead of newer ones: the history keeps what happened while PostgreSQL was away."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from vmsd.core.metrics import Metrics
from vmsd.events import bus as bus_module
from vmsd.events.bus import Event, EventBus
from vmsd.events.metrics import EventMetrics
from vmsd.store.events import EventStore


async def _closed_pool(dsn: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=1)
    await pool.close()  # every write through it fails, as with the database away
    return pool


async def _types_after(pool: asyncpg.Pool, after_id: int) -> list[tuple[str, str | None]]:
    rows = await pool.fetch("SELECT type, camera FROM events WHERE id > $1 ORDER BY id", after_id)
    return [(r["type"], r["camera"]) for r in rows]


async def test_journaled_events_go_in_first_when_the_database_answers(
    database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    journal = tmp_path / "event-journal.jsonl"
    start_id = await EventStore(db_pool).last_id()
    metrics = Metrics()
    away = EventBus(EventStore(await _closed_pool(database_dsn)), journal, metrics, 1.0)
    await away.start()
    seen: list[Event] = []
    away.subscribe(seen.append)
    for camera in ("a", "b", "c"):
        await away.record("camera_offline", camera=camera)
    assert [e.id for e in seen] == [None, None, None]  # delivered live all the same
    assert len(journal.read_text().splitlines()) == 3
    assert metrics.group(EventMetrics).event_journal_pending._value.get() == 3

    # The next start (or the database's return) takes the journal up before anything newer.
    metrics = Metrics()
    back = EventBus(EventStore(db_pool), journal, metrics)
    await back.start()
    assert metrics.group(EventMetrics).event_journal_pending._value.get() == 3
    await back.record("daemon_started")
    assert await _types_after(db_pool, start_id) == [
        ("camera_offline", "a"),
        ("camera_offline", "b"),
        ("camera_offline", "c"),
        ("daemon_started", None),
    ]
    assert journal.read_text() == ""
    assert metrics.group(EventMetrics).event_journal_pending._value.get() == 0
    # Their own times are kept, not the time of the replay.
    times = await db_pool.fetch("SELECT time FROM events WHERE id > $1 ORDER BY id", start_id)
    assert times[0]["time"] < times[-1]["time"]


async def test_the_journal_is_retried_without_new_events(
    database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "event-journal.jsonl"
    start_id = await EventStore(db_pool).last_id()
    away = EventBus(EventStore(await _closed_pool(database_dsn)), journal, Metrics(), 1.0)
    await away.start()
    await away.record("recorder_failed", camera="x", reason="exit 1")
    monkeypatch.setattr(bus_module, "JOURNAL_RETRY_S", 0.05)
    back = EventBus(EventStore(db_pool), journal, Metrics())
    await back.start()
    task = asyncio.create_task(back.run())
    try:
        for _ in range(200):
            if await _types_after(db_pool, start_id):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert await _types_after(db_pool, start_id) == [("recorder_failed", "x")]


async def test_a_refused_or_torn_line_costs_only_itself(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    journal = tmp_path / "event-journal.jsonl"
    start_id = await EventStore(db_pool).last_id()
    good = {"time": "2026-11-23T10:00:00+00:00", "camera": "a", "data": {}}
    lines = [
        json.dumps({**good, "type": "camera_online"}),
        json.dumps({**good, "type": None}),  # not an event: skipped
        # jsonb refuses NUL (a journal from before vmsd replaced it): the row is refused.
        json.dumps({**good, "type": "recorder_failed", "data": {"tail": "a\u0000b"}}),
        json.dumps({**good, "type": "camera_offline"}),
        "not json",
    ]
    # The last line was being written at a power loss: no newline.
    journal.write_text("\n".join(lines) + "\n" + '{"time": "2026')
    bus = EventBus(EventStore(db_pool), journal, Metrics())
    await bus.start()
    await bus.record("daemon_started")
    assert await _types_after(db_pool, start_id) == [
        ("camera_online", "a"),
        ("camera_offline", "a"),
        ("daemon_started", None),
    ]
    assert journal.read_text() == ""
