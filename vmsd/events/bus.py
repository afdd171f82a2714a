"""The daemon's event bus: every event is stored in the events table, then handed to the
in-process listeners (live streams, webhooks) in the order the ids were drawn.

Writes are group-committed by one flush task the bus owns: events recorded while a write is
under way go into the next batch, so ids are drawn and committed in recording order. That is
what lets a stream client resume from the table with `id > Last-Event-ID` and miss nothing.
A write that fails (database away) still reaches the listeners, with no id: the operator's
webhooks matter most exactly then.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from vmsd.log import get_logger
from vmsd.store.events import EventRow, EventStore, NewEvent

log = get_logger("vmsd.events")

WRITE_TIMEOUT_S = 2.0

RecordEvent = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Event:
    id: int | None  # None: the database could not take it; delivered live only
    time: datetime
    type: str
    camera: str | None
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: EventRow) -> Event:
        return cls(row.id, row.time, row.type, row.camera, row.data)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "type": self.type,
            "camera": self.camera,
            "data": self.data,
        }


Listener = Callable[[Event], None]


@dataclass(slots=True)
class _Pending:
    event: NewEvent
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class EventBus:
    def __init__(self, store: EventStore, write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self._store = store
        self._write_timeout_s = write_timeout_s
        self._listeners: list[Listener] = []
        self._pending: list[_Pending] = []
        self._flush: asyncio.Task[None] | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Calls `listener` for every event from now on, synchronously and in id order; it
        must not block (queue the event and return). Returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def record(self, type_: str, camera: str | None = None, **data: Any) -> None:
        """Stores the event and hands it to the listeners; returns once both are done (at
        most the write timeout). Never raises for the database: events are the operator's
        history, failing to write one must not stop the daemon."""
        # JSON-normalised now, so listeners see exactly what the table will hold; jsonb
        # refuses NUL, which FFmpeg's stderr may carry, and one refused row fails its batch.
        payload = json.loads(json.dumps(data, default=str).replace("\\u0000", "\\ufffd"))
        pending = _Pending(NewEvent(datetime.now(UTC), type_, camera, payload))
        self._pending.append(pending)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._flush_all())
        # The caller being cancelled must not cancel the write other callers wait on.
        await asyncio.shield(pending.done)

    async def drain(self) -> None:
        """Waits until every event recorded so far is written and delivered."""
        while self._flush is not None and not self._flush.done():
            await asyncio.shield(self._flush)

    async def _flush_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            ids = await self._write([p.event for p in batch])
            for pending, event_id in zip(batch, ids, strict=True):
                self._deliver(Event(event_id, *_fields(pending.event)))
                if not pending.done.done():
                    pending.done.set_result(None)

    async def _write(self, events: list[NewEvent]) -> list[int | None]:
        try:
            ids = await asyncio.wait_for(self._store.insert(events), self._write_timeout_s)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning(
                "event_record_failed", types=sorted({e.type for e in events}), error=str(err)
            )
            return [None] * len(events)
        except Exception:  # a bug here must not leave every caller waiting forever
            log.exception("event_record_failed", types=sorted({e.type for e in events}))
            return [None] * len(events)
        return list(ids)

    def _deliver(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the others or the writer
                log.exception("event_listener_failed", type=event.type)


def _fields(event: NewEvent) -> tuple[datetime, str, str | None, dict[str, Any]]:
    return event.time, event.type, event.camera, event.data
