"""The segment index: finished segment -> database row, through a local journal whenever the
database is away. Recording never waits for the database.

Segments are indexed in the order they finished. While the database is unreachable (or the
journal still holds anything, to keep that order) new segments are appended to an append-only
journal in the state dir, fsynced; when the database answers again the journal is inserted in
one transaction and then emptied. Inserts are idempotent on the path, so a journal replayed
again after a crash between insert and truncate indexes nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from vmsd.durable import append_lines, count_lines, drop_partial_tail, read_lines, truncate
from vmsd.log import get_logger
from vmsd.metrics import Metrics
from vmsd.store.recordings import RecordingStore, SegmentRecord

log = get_logger("vmsd.index")

JOURNAL_NAME = "segment-journal.jsonl"
RETRY_S = 2.0
DB_TIMEOUT_S = 5.0
MAX_BATCH = 256
# Cameras cut on the clock, but each cut waits for the camera's next keyframe, so a round of
# cuts spreads over most of a second: taking only what was already queued, every segment was
# its own transaction (measured with 32 cameras: 310 transactions for 312 segments). Waiting
# this long after the first makes one transaction of several, for that much index lag.
BATCH_WINDOW_S = 0.2
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# A row the database refuses (not a database that is away): retrying cannot help. The file stays
# on disk; startup recovery probes and indexes it from the file itself.
_REJECTED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class SegmentIndex:
    def __init__(
        self,
        store: RecordingStore,
        state_dir: Path,
        metrics: Metrics,
        *,
        batch_window_s: float = BATCH_WINDOW_S,
    ) -> None:
        self._store = store
        self._batch_window_s = batch_window_s
        self._journal = state_dir / JOURNAL_NAME
        self._metrics = metrics
        self._queue: asyncio.Queue[tuple[SegmentRecord, float | None]] = asyncio.Queue()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Segments in the journal, waiting for the database."""
        return self._pending

    def add(self, record: SegmentRecord, closed_monotonic: float | None = None) -> None:
        """Never blocks: the recorder hands over and goes on."""
        self._idle.clear()
        self._queue.put_nowait((record, closed_monotonic))

    async def start(self) -> None:
        """Count what a previous run left in the journal and try to index it now."""
        cut = await asyncio.to_thread(drop_partial_tail, self._journal)
        if cut:  # the segment journalled at a power loss: recovery indexes it from its file
            log.warning("segment_journal_partial_line_dropped", bytes=cut)
        self._pending = await asyncio.to_thread(count_lines, self._journal)
        self._metrics.journal_pending.set(self._pending)
        if self._pending:
            log.warning("segment_journal_found", pending=self._pending)
            await self._replay()

    async def run(self) -> None:
        while True:
            try:
                timeout = RETRY_S if self._pending else None
                first = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                await self._replay()
                continue
            # One transaction for all that arrive within the window, in order.
            await asyncio.sleep(self._batch_window_s)
            batch = [first]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            await self._index(batch)
            if self._queue.empty():
                self._idle.set()

    async def journal_paths(self) -> set[str]:
        lines = await asyncio.to_thread(read_lines, self._journal)
        return {record.path for record in _parse_journal(lines)}

    async def wait_idle(self) -> None:
        """Everything handed over so far is in the database or the journal (shutdown)."""
        await self._idle.wait()

    async def _index(self, batch: list[tuple[SegmentRecord, float | None]]) -> None:
        if self._pending:
            await self._replay()
        if not self._pending:
            try:
                await asyncio.wait_for(self._store.insert([r for r, _ in batch]), DB_TIMEOUT_S)
            except _REJECTED:
                # One refused row must not take the others with it.
                if await self._insert_one_by_one([r for r, _ in batch]):
                    for record, closed in batch:
                        self._indexed(record, closed)
                    return
            except _DB_ERRORS as err:
                log.warning(
                    "segment_index_deferred",
                    error=str(err),
                    path=batch[0][0].path,
                    segments=len(batch),
                )
            else:
                for record, closed in batch:
                    self._indexed(record, closed)
                return
        lines = [record.to_json() for record, _ in batch]
        await asyncio.to_thread(append_lines, self._journal, lines)
        self._pending += len(lines)
        self._metrics.journal_pending.set(self._pending)

    def _indexed(self, record: SegmentRecord, closed: float | None) -> None:
        if closed is not None:
            self._metrics.index_lag.observe(time.monotonic() - closed)
        log.debug("segment_indexed", camera=record.camera, path=record.path)

    async def _replay(self) -> None:
        lines = await asyncio.to_thread(read_lines, self._journal)
        if not lines:
            self._pending = 0
            self._metrics.journal_pending.set(0)
            return
        records = _parse_journal(lines)
        try:
            await asyncio.wait_for(self._store.insert(records), DB_TIMEOUT_S * 4)
        except _REJECTED:
            if not await self._insert_one_by_one(records):
                return
        except _DB_ERRORS:
            return  # still away; the next segment or retry tries again
        await asyncio.to_thread(truncate, self._journal)
        self._pending = 0
        self._metrics.journal_pending.set(0)
        for record in records:
            self._indexed(record, None)
        log.info("segment_journal_replayed", segments=len(records))

    async def _insert_one_by_one(self, records: list[SegmentRecord]) -> bool:
        """A batch with a refused row: index the others; False if the database went away."""
        for record in records:
            try:
                await asyncio.wait_for(self._store.insert([record]), DB_TIMEOUT_S)
            except _REJECTED as err:
                log.error("segment_index_rejected", error=str(err), path=record.path)
            except _DB_ERRORS:
                return False
        return True


def _parse_journal(lines: list[str]) -> list[SegmentRecord]:
    records = []
    for line in lines:
        try:
            records.append(SegmentRecord.from_json(line))
        except (ValueError, KeyError, TypeError) as err:
            # Not indexable; the file itself is found and indexed by startup recovery.
            log.error("segment_journal_line_invalid", error=str(err), line=line[:200])
    return records
