"""The segment index: finished segment -> database row, through a local journal whenever the
database is not quick enough. Recording never waits for the database, and no segment waits for
it longer than a deadline.

Segments are indexed in the order they finished. Each one is handed over with the moment it
closed; if its row is not committed `journal_after_s` (1 s) later, it is appended to an
append-only journal in the state dir, fsynced, with everything it found there: a database that
refuses connections, one that hangs (a stuck SAN, a SIGSTOPped server), or one that is merely
slow all cost the same second. While the journal holds anything not yet replayed, no segment
goes in directly (that would overtake the journal); the journal is replayed in order, in
chunks, and emptied once all of it is in.

The database work runs in one task at a time, owned by run(): the loop waits for it only up to
the next deadline and never longer, and cancels and awaits it when it ends. An insert that
misses its deadline may still commit afterwards; its segments are then in the database and in
the journal, and the replay inserts nothing twice: inserts are idempotent on the path. A crash
between a replay and the truncate replays the same lines again, to the same effect.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from vmsd.core.journal import Journal
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.recordings.metrics import IndexMetrics
from vmsd.store.recordings import RecordingStore, SegmentRecord

log = get_logger("vmsd.index")

JOURNAL_NAME = "segment-journal.jsonl"
RETRY_S = 2.0
# A finished segment is in the database or in the journal this long after it closed.
JOURNAL_AFTER_S = 1.0
MAX_BATCH = 256
REPLAY_CHUNK = 1024
# Cameras cut on the clock, but each cut waits for the camera's next keyframe, so a round of
# cuts spreads over most of a second: taking only what was already queued, every segment was
# its own transaction (measured with 32 cameras: 310 transactions for 312 segments). Waiting
# this long after the first makes one transaction of several, for that much index lag.
BATCH_WINDOW_S = 0.2
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# A row the database refuses (not a database that is away): retrying cannot help. The file stays
# on disk; startup recovery probes and indexes it from the file itself.
_REJECTED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


@dataclass(frozen=True, slots=True)
class _Queued:
    record: SegmentRecord
    closed: float | None  # monotonic, when FFmpeg reported it closed
    added: float  # monotonic, when it was handed over
    deadline: float  # monotonic: in the journal by then unless committed


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one database attempt did with its records, in order: the first `done` are in the
    database or refused for good; the rest wait (`error` says why)."""

    done: int
    rejected: frozenset[str] = frozenset()
    error: str | None = None


@dataclass(slots=True)
class _Attempt:
    task: asyncio.Task[_Outcome]
    items: list[_Queued]  # a direct insert; empty for a replay
    replay_end: int = 0  # a replay: the journal lines it covers end here
    journaled: bool = False  # a direct insert whose deadline passed: its items are journaled

    @property
    def holds_segments(self) -> bool:
        """A direct insert whose segments are neither committed nor journaled yet."""
        return bool(self.items) and not self.journaled


class SegmentIndex:
    def __init__(
        self,
        store: RecordingStore,
        state_dir: Path,
        metrics: Metrics,
        *,
        batch_window_s: float = BATCH_WINDOW_S,
        journal_after_s: float = JOURNAL_AFTER_S,
    ) -> None:
        self._store = store
        self._batch_window_s = batch_window_s
        self._journal_after_s = journal_after_s
        self._journal = Journal(state_dir / JOURNAL_NAME)
        self._index_metrics = metrics.group(IndexMetrics)
        self._queue: collections.deque[_Queued] = collections.deque()
        self._wakeup: asyncio.Future[None] | None = None  # set while run() sleeps
        self._attempt: _Attempt | None = None
        self._replayed = 0  # the journal's first lines known to be in the database
        self._replayed_total = 0  # segments replayed since the journal was last empty
        self._retry_at = 0.0  # monotonic: no replay before this (the database was away)
        self._kicked = False  # a new segment: try the replay now rather than at _retry_at
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Segments in the journal, waiting for the database."""
        return self._journal.lines - self._replayed

    def add(self, record: SegmentRecord, closed_monotonic: float | None = None) -> None:
        """Never blocks: the recorder hands over and goes on."""
        now = time.monotonic()
        base = closed_monotonic if closed_monotonic is not None else now
        self._queue.append(_Queued(record, closed_monotonic, now, base + self._journal_after_s))
        self._kicked = True
        self._idle.clear()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def start(self) -> None:
        """Count what a previous run left in the journal and try to index it now."""
        lines, cut = await self._journal.open()
        if cut:  # the segment journalled at a power loss: recovery indexes it from its file
            log.warning("segment_journal_partial_line_dropped", bytes=cut)
        self._replayed = 0
        self._set_gauge()
        if not lines:
            return
        log.warning("segment_journal_found", pending=self.pending)
        while self.pending:  # nothing else is running yet: the replay may be awaited here
            records = _parse_journal(lines[self._replayed : self._replayed + REPLAY_CHUNK])
            end = min(self._replayed + REPLAY_CHUNK, len(lines))
            outcome = await self._insert(records)
            if outcome.done < len(records):
                return  # away: run() retries
            await self._replay_done(end, len(records))

    async def run(self) -> None:
        try:
            while True:
                await self._step()
        finally:
            await self._wind_down()

    async def journal_paths(self) -> set[str]:
        return {record.path for record in _parse_journal(await self._journal.read())}

    async def wait_idle(self) -> None:
        """Everything handed over so far is in the database or the journal (shutdown)."""
        await self._idle.wait()

    # --- the loop ----------------------------------------------------------------------------

    async def _step(self) -> None:
        attempt = self._attempt
        if attempt is not None and attempt.task.done():
            self._attempt = None
            try:
                outcome = attempt.task.result()
            except BaseException:  # a bug: the segments go back, ahead of the rest
                if attempt.holds_segments:
                    self._queue.extendleft(reversed(attempt.items))
                raise
            await self._finished(attempt, outcome)
        await self._journal_overdue(time.monotonic())
        if self._attempt is None:
            self._begin(time.monotonic())
        self._update_idle()
        await self._sleep(self._next_wakeup(time.monotonic()))

    def _begin(self, now: float) -> None:
        """Start the next database attempt, if any is due: the journal first, always."""
        if self.pending:
            if now >= self._retry_at or self._kicked:
                self._kicked = False
                self._attempt = self._replay_attempt()
        elif self._queue and now >= self._queue[0].added + self._batch_window_s:
            items = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            task = asyncio.create_task(self._insert([i.record for i in items]))
            self._attempt = _Attempt(task, items)

    def _replay_attempt(self) -> _Attempt:
        # Only the loop touches the journal file, so the lines read here are still its lines
        # when the attempt ends; lines appended meanwhile come after them.
        start, end = self._replayed, min(self._replayed + REPLAY_CHUNK, self._journal.lines)
        task = asyncio.create_task(self._replay_lines(start, end))
        return _Attempt(task, [], replay_end=end)

    async def _replay_lines(self, start: int, end: int) -> _Outcome:
        records = _parse_journal((await self._journal.read())[start:end])
        outcome = await self._insert(records)
        # Unparseable lines were logged and count as done: recovery finds their files.
        if outcome.done < len(records):
            return _Outcome(0, outcome.rejected, outcome.error)
        return _Outcome(end - start, outcome.rejected)

    async def _finished(self, attempt: _Attempt, outcome: _Outcome) -> None:
        if not attempt.items:  # a replay
            if outcome.error is None:
                self._retry_at = 0.0
                await self._replay_done(attempt.replay_end, outcome.done)
            else:
                self._retry_at = time.monotonic() + RETRY_S
                self._kicked = False  # segments that came meanwhile wait for the retry
            return
        if attempt.journaled:
            if outcome.error is None:
                self._retry_at = 0.0  # it came back: replay what was journaled meanwhile
            return
        for item in attempt.items[: outcome.done]:
            if item.record.path not in outcome.rejected:
                self._indexed(item.record, item.closed)
        rest = attempt.items[outcome.done :]
        if rest:
            log.warning(
                "segment_index_deferred",
                error=outcome.error,
                path=rest[0].record.path,
                segments=len(rest),
            )
            # Ahead of everything still queued: the journal keeps the order they finished in.
            self._queue.extendleft(reversed(rest))
            await self._append([i.record for i in self._queue])
            self._queue.clear()
            self._retry_at = time.monotonic() + RETRY_S

    async def _journal_overdue(self, now: float) -> None:
        """Whatever has waited for the database up to its deadline goes to the journal now, in
        order: the batch in flight first, then the queue up to the last overdue segment."""
        attempt = self._attempt
        last = max((n for n, i in enumerate(self._queue) if now >= i.deadline), default=-1)
        overdue: list[SegmentRecord] = []
        if attempt is not None and attempt.holds_segments:
            if last < 0 and now < min(i.deadline for i in attempt.items):
                return  # in flight and in time: what is queued behind it waits for it
            overdue = [i.record for i in attempt.items]
            attempt.journaled = True
        overdue += [self._queue.popleft().record for _ in range(last + 1)]
        if overdue:
            # Once per outage, not per segment: while the journal holds anything, new
            # segments join it as a matter of course.
            late = log.warning if not self.pending else log.debug
            late("segment_index_late", path=overdue[0].path, segments=len(overdue))
            await self._append(overdue)

    def _next_wakeup(self, now: float) -> float | None:
        times = [i.deadline for i in self._queue]
        attempt = self._attempt
        if attempt is not None and attempt.holds_segments:
            times += [i.deadline for i in attempt.items]
        if attempt is None and self._queue and not self.pending:
            times.append(self._queue[0].added + self._batch_window_s)
        if attempt is None and self.pending:
            times.append(self._retry_at)
        return max(0.0, min(times) - now) if times else None

    async def _sleep(self, seconds: float | None) -> None:
        """Until the timeout, the attempt's end or a new segment, whichever comes first."""
        # A plain future that add() resolves, not a task: nothing left to reap afterwards.
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wakeup = wakeup
        waits: set[asyncio.Future[Any]] = {wakeup}
        if self._attempt is not None:
            waits.add(self._attempt.task)
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wakeup = None
            wakeup.cancel()

    def _update_idle(self) -> None:
        attempt = self._attempt
        if self._queue or (attempt is not None and attempt.holds_segments):
            self._idle.clear()
        else:
            self._idle.set()

    async def _wind_down(self) -> None:
        """run() ends (cancelled): the attempt in flight is cancelled and awaited (the store
        ends a query at once when cancelled), and what was neither committed nor journaled is
        journaled, so that a stop loses nothing whatever the database does."""
        attempt, self._attempt = self._attempt, None
        left: list[SegmentRecord] = []
        if attempt is not None:
            attempt.task.cancel()
            # wait() does not raise the attempt's cancellation or error; ours still propagates.
            await asyncio.wait({attempt.task})
            task = attempt.task
            outcome = None if task.cancelled() or task.exception() else task.result()
            if attempt.holds_segments:
                done = outcome.done if outcome is not None else 0
                left = [i.record for i in attempt.items[done:]]
        left += [i.record for i in self._queue]
        self._queue.clear()
        if left:
            await self._append(left)
        self._update_idle()

    # --- database and journal ----------------------------------------------------------------

    async def _insert(self, records: list[SegmentRecord]) -> _Outcome:
        """The records in one transaction; if the database refuses one of them, one by one so
        that a refused row does not take the others with it. Never raises a database error."""
        if not records:
            return _Outcome(0)
        try:
            await self._store.insert(records)
        except _REJECTED:
            pass
        except _DB_ERRORS as err:
            return _Outcome(0, error=str(err) or type(err).__name__)
        else:
            return _Outcome(len(records))
        rejected = set()
        for n, record in enumerate(records):
            try:
                await self._store.insert([record])
            except _REJECTED as err:
                log.error("segment_index_rejected", error=str(err), path=record.path)
                rejected.add(record.path)
            except _DB_ERRORS as err:
                return _Outcome(n, frozenset(rejected), str(err) or type(err).__name__)
        return _Outcome(len(records), frozenset(rejected))

    async def _append(self, records: list[SegmentRecord]) -> None:
        await self._journal.append([r.to_json() for r in records])
        self._set_gauge()

    async def _replay_done(self, end: int, segments: int) -> None:
        self._replayed = end
        self._replayed_total += segments
        if self._replayed < self._journal.lines:
            self._set_gauge()
            return
        await self._journal.clear()
        self._replayed = 0
        self._set_gauge()
        log.info("segment_journal_replayed", segments=self._replayed_total)
        self._replayed_total = 0

    def _indexed(self, record: SegmentRecord, closed: float | None) -> None:
        if closed is not None:
            self._index_metrics.index_lag.observe(time.monotonic() - closed)
        log.debug("segment_indexed", camera=record.camera, path=record.path)

    def _set_gauge(self) -> None:
        self._index_metrics.journal_pending.set(self.pending)


def _parse_journal(lines: list[str]) -> list[SegmentRecord]:
    records = []
    for line in lines:
        try:
            records.append(SegmentRecord.from_json(line))
        except (ValueError, KeyError, TypeError) as err:
            # Not indexable; the file itself is found and indexed by startup recovery.
            log.error("segment_journal_line_invalid", error=str(err), line=line[:200])
    return records
