"""The events history: filtered pages of the table, live streams that resume from it, and the
retention job that keeps it to `events.retention_days`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg

from vmsd.config.load import ConfigHolder
from vmsd.core.errors import StoreError, ValidationError, describe_error
from vmsd.core.ints import is_id
from vmsd.core.log import get_logger
from vmsd.events.bus import Event, EventBus
from vmsd.store.db import DB_UNAVAILABLE, bounded
from vmsd.store.events import EventFilter, EventStore

log = get_logger("vmsd.events")
T = TypeVar("T")

STREAM_QUEUE = 1000  # live events a slow stream client may fall behind before catching up
CATCH_UP_PAGE = 500
PRUNE_EVERY_S = 3600.0
PRUNE_BATCH = 10_000
PRUNE_RETRY_S = 60.0  # a prune the database did not answer is tried again this soon
READ_TIMEOUT_S = 10.0  # an API page or a stream's catch-up: 503 rather than a hung request
_CLOSING = Event(None, datetime.min.replace(tzinfo=UTC), "_closing", None, {})


def encode_cursor(event_id: int, newest_first: bool) -> str:
    raw = json.dumps([event_id, newest_first]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        event_id, newest_first = json.loads(raw)
        if not is_id(event_id) or not isinstance(newest_first, bool):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as err:
        raise ValidationError(
            "invalid cursor", [{"field": "cursor", "message": "not a cursor from this API"}]
        ) from err
    return event_id, newest_first


def matches(event: Event, where: EventFilter) -> bool:
    return (
        (where.cameras is None or event.camera in where.cameras)
        and (not where.types or event.type in where.types)
        and (where.since is None or event.time >= where.since)
        and (where.until is None or event.time < where.until)
    )


class EventHistory:
    def __init__(self, holder: ConfigHolder, store: EventStore, bus: EventBus) -> None:
        self._holder = holder
        self._store = store
        self._bus = bus
        self._closing = asyncio.Event()

    async def search(
        self, where: EventFilter, limit: int, cursor: str | None, newest_first: bool
    ) -> tuple[list[Event], str | None]:
        after_id = None
        if cursor is not None:
            after_id, cursor_order = decode_cursor(cursor)
            if cursor_order != newest_first:
                raise ValidationError(
                    "invalid cursor",
                    [{"field": "cursor", "message": "made for the other order"}],
                )
        rows = await self._read(self._store.search(where, limit + 1, after_id, newest_first))
        events = [Event.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(rows[limit - 1].id, newest_first) if more else None
        return events, next_cursor

    async def start_id(self, last_id: int | None) -> int:
        """Where a stream starts: after the client's last event, or (a new client) after the
        newest stored one, which is also the reference point for catching up later."""
        return last_id if last_id is not None else await self._read(self._store.last_id())

    async def stream(
        self, where: EventFilter, start_id: int, idle_s: float
    ) -> AsyncIterator[Event | None]:
        """Events matching `where`: first those after `start_id` from the table, then live ones
        as they are recorded, until close(); None after `idle_s` without one (a heartbeat).
        A client too slow for the live queue is caught up from the table, so it misses
        nothing that was stored."""
        queue: asyncio.Queue[Event] = asyncio.Queue(STREAM_QUEUE)
        overflowed = False

        def listener(event: Event) -> None:
            nonlocal overflowed
            if matches(event, where):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    overflowed = True

        unsubscribe = self._bus.subscribe(listener)  # before reading: nothing falls between
        try:
            sent = start_id
            async for stored in self._after(where, sent):
                sent = stored.id or sent
                yield stored
            while not self._closing.is_set():
                if overflowed:
                    overflowed = False
                    _drain(queue)
                    async for missed in self._after(where, sent):
                        sent = missed.id or sent
                        yield missed
                    continue
                event = await self._next(queue, idle_s)
                if event is _CLOSING:
                    return
                if event is None or event.id is None:
                    yield event  # a heartbeat, or an event the table could not take
                elif event.id > sent:  # else: already sent by a catch-up
                    sent = event.id
                    yield event
        finally:
            unsubscribe()

    def close(self) -> None:
        """Ends every open stream (daemon stop)."""
        self._closing.set()

    async def prune(self) -> int:
        """Deletes events older than the retention, in batches; returns how many."""
        days = self._holder.current.events.retention_days
        cutoff = datetime.now(UTC) - timedelta(days=days)
        deleted = 0
        while True:
            batch = await bounded(self._store.delete_older_than(cutoff, PRUNE_BATCH))
            deleted += batch
            if batch < PRUNE_BATCH:
                break
        if deleted:
            log.info("events_pruned", deleted=deleted, older_than_days=days)
        return deleted

    async def run(self) -> None:
        while True:
            try:
                await self.prune()
            except DB_UNAVAILABLE as err:  # away: the next pass prunes what is left
                log.warning("events_prune_failed", error=describe_error(err))
                await asyncio.sleep(PRUNE_RETRY_S)
                continue
            await asyncio.sleep(PRUNE_EVERY_S)

    async def _after(self, where: EventFilter, after_id: int) -> AsyncIterator[Event]:
        while True:
            rows = await self._read(self._store.search(where, CATCH_UP_PAGE, after_id, False))
            for row in rows:
                yield Event.from_row(row)
            if len(rows) < CATCH_UP_PAGE:
                return
            after_id = rows[-1].id

    async def _next(self, queue: asyncio.Queue[Event], idle_s: float) -> Event | None:
        """The next live event; None after idle_s without one; _CLOSING once closing."""
        get = asyncio.ensure_future(queue.get())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({get, closing}, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        return _CLOSING if self._closing.is_set() else None

    async def _read(self, query: Awaitable[T]) -> T:
        try:
            return await bounded(query, READ_TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            # The database's words (host, port) are for operators: viewers see what failed.
            raise StoreError(
                "the events table is unreachable", internal_details=[describe_error(err)]
            ) from err


def _drain(queue: asyncio.Queue[Event]) -> None:
    while not queue.empty():
        queue.get_nowait()
