"""The daemon's event bus: every event is stored in the events table, then handed to the
in-process listeners (live streams, webhooks) in the order the ids were drawn.

Writes are group-committed by one flush task the bus owns: events recorded while a write is
under way go into the next batch, so ids are drawn and committed in recording order. That is
what lets a stream client resume from the table with `id > Last-Event-ID` and miss nothing.
A write that fails (database away) still reaches the listeners, with no id: the operator's
webhooks matter most exactly then. It is also appended to a local journal (fsynced JSON
lines), which goes into the table, ahead of anything newer, once the database answers again,
so the history keeps it. A row the database refuses outright is logged and dropped: retrying
it could only block every event after it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import asyncpg

from vmsd.core.journal import Journal
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.redact import redact_value
from vmsd.events.metrics import EventMetrics
from vmsd.store.events import EventRow, EventStore, NewEvent

log = get_logger("vmsd.events")

WRITE_TIMEOUT_S = 2.0
JOURNAL_RETRY_S = 10.0  # how often a journal waiting for the database is tried again

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
    def __init__(
        self,
        store: EventStore,
        journal: Path,
        metrics: Metrics,
        write_timeout_s: float = WRITE_TIMEOUT_S,
        journal_retry_s: float = JOURNAL_RETRY_S,
    ) -> None:
        self._store = store
        self._journal = Journal(journal)
        self._event_metrics = metrics.group(EventMetrics)
        self._write_timeout_s = write_timeout_s
        self._journal_retry_s = journal_retry_s
        self._listeners: list[Listener] = []
        self._pending: list[_Pending] = []
        self._flush: asyncio.Task[None] | None = None
        self._journaled = 0

    async def start(self) -> None:
        """Takes up what a previous run journaled; it is replayed with the first write."""
        _, cut = await self._journal.open()
        if cut:
            log.warning("event_journal_partial_line_dropped", bytes=cut)
        self._set_journaled(self._journal.lines)
        if self._journaled:
            log.warning("event_journal_found", pending=self._journaled)

    async def run(self) -> None:
        """Replays the journal when the database is back even if no new event comes."""
        while True:
            await asyncio.sleep(self._journal_retry_s)
            if self._journaled and (self._flush is None or self._flush.done()):
                await asyncio.wait({self._start_flush()})

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
        # Redacted as log lines are: the history, its stream and webhooks never carry a secret.
        payload = json.loads(
            json.dumps(redact_value(data), default=str).replace("\\u0000", "\\ufffd")
        )
        pending = _Pending(NewEvent(datetime.now(UTC), type_, camera, payload))
        self._pending.append(pending)
        if self._flush is None or self._flush.done():
            self._start_flush()
        # wait(), not await: a caller that is cancelled must not cancel its future, which
        # the flush resolves for the batch it is in.
        await asyncio.wait({pending.done})

    async def drain(self) -> None:
        """Waits until every event recorded so far is written and delivered: the end of the
        flush task the bus owns (a stop stage, under its own timeout)."""
        while self._flush is not None and not self._flush.done():
            await asyncio.wait({self._flush})

    def _start_flush(self) -> asyncio.Task[None]:
        """The one flush task, owned here: run() and drain() await it, and every recorded
        event's future is resolved by it (it never raises: _flush_all catches)."""
        self._flush = asyncio.get_running_loop().create_task(self._flush_all())
        return self._flush

    async def _flush_all(self) -> None:
        batch: list[_Pending] = []
        try:
            if self._journaled:  # even with nothing new: run() asks for a replay this way
                await self._replay()
            while self._pending:
                batch, self._pending = self._pending, []
                await self._store_and_deliver(batch)
        except Exception:  # a bug here must not leave every caller waiting forever
            log.exception("event_flush_failed")
            for pending in (*batch, *self._pending):
                if not pending.done.done():
                    pending.done.set_result(None)
            self._pending = []

    async def _store_and_deliver(self, batch: list[_Pending]) -> None:
        events = [p.event for p in batch]
        # While the journal holds older events, newer ones queue behind them.
        result = _Failure.AWAY if self._journaled else await self._write(events)
        if result is _Failure.AWAY:
            await self._journal_events(events)
        ids = result if isinstance(result, list) else [None] * len(events)
        for pending, event_id in zip(batch, ids, strict=True):
            self._deliver(Event(event_id, *_fields(pending.event)))
            if not pending.done.done():
                pending.done.set_result(None)

    async def _write(self, events: list[NewEvent]) -> list[int | None] | _Failure:
        types = sorted({e.type for e in events})
        try:
            ids = await asyncio.wait_for(self._store.insert(events), self._write_timeout_s)
        except _REFUSED as err:
            log.error("event_refused", types=types, error=str(err))
            return _Failure.REFUSED
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning("event_record_deferred", types=types, error=str(err))
            return _Failure.AWAY
        except Exception:  # a bug here must not leave every caller waiting forever
            log.exception("event_record_failed", types=types)
            return _Failure.REFUSED
        return list(ids)

    async def _journal_events(self, events: list[NewEvent]) -> None:
        lines = [_to_line(e) for e in events]
        try:
            await self._journal.append(lines)
        except OSError as err:
            log.error("event_journal_failed", events=len(events), error=str(err))
            return
        self._set_journaled(self._journal.lines)

    async def _replay(self) -> None:
        events = [e for e in map(_from_line, await self._journal.read()) if e is not None]
        result = await self._write(events) if events else []
        if result is _Failure.AWAY:
            return  # still away: the next write or run() tries again
        if result is _Failure.REFUSED:  # one bad row must not take the others with it
            for event in events:
                if await self._write([event]) is _Failure.AWAY:
                    return
        await self._journal.clear()
        self._set_journaled(0)
        log.info("event_journal_replayed", events=len(events))

    def _set_journaled(self, count: int) -> None:
        self._journaled = count
        self._event_metrics.event_journal_pending.set(count)

    def _deliver(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the others or the writer
                log.exception("event_listener_failed", type=event.type)


class _Failure(Enum):
    AWAY = "away"  # the database did not answer: journal, retry later
    REFUSED = "refused"  # it refused the row: retrying cannot help


# A row the database refuses (not a database that is away).
_REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


def _to_line(event: NewEvent) -> str:
    return json.dumps(
        {
            "time": event.time.isoformat(),
            "type": event.type,
            "camera": event.camera,
            "data": event.data,
        },
        separators=(",", ":"),
    )


def _from_line(line: str) -> NewEvent | None:
    try:
        raw = json.loads(line)
        time, type_, camera, data = raw["time"], raw["type"], raw["camera"], raw["data"]
        if not (
            isinstance(time, str)
            and isinstance(type_, str)
            and isinstance(camera, str | None)
            and isinstance(data, dict)
        ):
            raise TypeError("a field of the wrong type")
        return NewEvent(datetime.fromisoformat(time), type_, camera, data)
    except (ValueError, KeyError, TypeError) as err:
        log.error("event_journal_line_invalid", error=str(err), line=line[:200])
        return None


def _fields(event: NewEvent) -> tuple[datetime, str, str | None, dict[str, Any]]:
    return event.time, event.type, event.camera, event.data
