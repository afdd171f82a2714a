"""The segment index and its local journal, against real PostgreSQL.

The outage test runs its own embedded PostgreSQL (never the session's) and stops and starts
it. Other tests use the per-test database, reached directly or through a socket directory the
test controls: no link to the server's socket there = the database is away, a link = back.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import structlog

from vmsd.core.metrics import Metrics
from vmsd.recordings.index import JOURNAL_NAME, REPLAY_CHUNK, RETRY_S, SegmentIndex
from vmsd.runtime.embedded import PG_PORT, EmbeddedPostgres, dsn_for
from vmsd.store.db import apply_migrations, create_pool
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def segment(n: int, camera: str = "cam1", *, seconds: float = 2.0) -> SegmentRecord:
    start = T0 + timedelta(seconds=2 * n)
    return SegmentRecord(
        camera=camera,
        path=f"/srv/rec/{camera}/2026-11-23/10-00-{2 * n:02d}.mp4",
        start=start,
        end=start + timedelta(seconds=seconds),
        duration_s=max(seconds, 0.0),
        bytes=1000 + n,
        end_reason=EndReason.SEGMENT_COMPLETE,
    )


def refused(n: int) -> SegmentRecord:
    """Ends before it starts: the recordings CHECK refuses it (not a database outage)."""
    return segment(n, seconds=-1.0)


def pending_gauge(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("vmsd_journal_pending_segments")


def lag_count(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("vmsd_index_lag_seconds_count") or 0.0


def journal_text(state_dir: Path) -> str:
    path = state_dir / JOURNAL_NAME
    return path.read_text() if path.exists() else ""


async def indexed_paths(pool: asyncpg.Pool) -> list[str]:
    """In the order the rows were inserted."""
    return [r["path"] for r in await pool.fetch("SELECT path FROM recordings ORDER BY id")]


async def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(index: SegmentIndex) -> AsyncIterator[asyncio.Task[None]]:
    """The index's run() in a task of the test's own; cancelled and awaited at the end."""
    task = asyncio.create_task(index.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def idle(index: SegmentIndex, task: asyncio.Task[None], timeout_s: float = 10.0) -> None:
    """wait_idle(), failing at once (not after the timeout) if run() died meanwhile."""
    waiter = asyncio.ensure_future(index.wait_idle())
    done, _ = await asyncio.wait({waiter, task}, timeout=timeout_s, return_when="FIRST_COMPLETED")
    if waiter not in done:
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    assert not task.done(), f"run() ended: {task.exception() if not task.cancelled() else ''}"
    assert waiter in done, "wait_idle() did not return"


# --- a real outage: the index's own PostgreSQL stopped and started again ---------------------


@pytest.mark.slow
async def test_database_outage_is_bridged_by_the_journal(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg", "vmsd-postgres")
    dsn = await server.start()
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    metrics = Metrics()
    try:
        pool = await create_pool(dsn, min_size=1, max_size=2, timeout_s=2.0)
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn)
            index = SegmentIndex(RecordingStore(pool), state_dir, metrics)
            await index.start()
            assert index.pending == 0 and pending_gauge(metrics) == 0
            async with running(index) as task:
                await _outage(server, pool, index, task, metrics, state_dir)
        finally:
            await pool.close()
    finally:
        await server.stop()


async def _outage(
    server: EmbeddedPostgres,
    pool: asyncpg.Pool,
    index: SegmentIndex,
    task: asyncio.Task[None],
    metrics: Metrics,
    state_dir: Path,
) -> None:
    # Up: straight into the database, the lag observed, nothing journalled.
    for n in range(3):
        index.add(segment(n), time.monotonic())
    await idle(index, task)
    assert await indexed_paths(pool) == [segment(n).path for n in range(3)]
    assert lag_count(metrics) == 3
    assert index.pending == 0 and pending_gauge(metrics) == 0
    assert journal_text(state_dir) == ""

    # Down: every segment is still taken at once, and lands in the journal in order.
    await server.stop()
    with structlog.testing.capture_logs() as logs:
        started = time.monotonic()
        for n in range(3, 8):
            index.add(segment(n), time.monotonic())
        assert time.monotonic() - started < 0.05  # add() never waits for anything
        await idle(index, task)
    assert index.pending == 5 and pending_gauge(metrics) == 5
    assert journal_text(state_dir) == "".join(segment(n).to_json() + "\n" for n in range(3, 8))
    assert await index.journal_paths() == {segment(n).path for n in range(3, 8)}
    assert [e["path"] for e in logs if e["event"] == "segment_index_deferred"] == [
        segment(3).path  # the first one tried the database; the rest queue up behind it
    ]
    assert lag_count(metrics) == 3  # nothing reached the database

    # Up again: the retry (every RETRY_S while anything is pending) replays the journal, in
    # order, in one go; the journal is emptied.
    await server.start()
    with structlog.testing.capture_logs() as logs:
        await wait_until(lambda: index.pending == 0, timeout_s=RETRY_S + 10)
    assert await indexed_paths(pool) == [segment(n).path for n in range(8)]
    assert pending_gauge(metrics) == 0
    assert (state_dir / JOURNAL_NAME).stat().st_size == 0
    assert [e for e in logs if e["event"] == "segment_journal_replayed"] == [
        {"event": "segment_journal_replayed", "log_level": "info", "segments": 5}
    ]

    # And afterwards straight in again.
    observed = lag_count(metrics)
    index.add(segment(8), time.monotonic())
    await idle(index, task)
    paths = await indexed_paths(pool)
    assert paths == [segment(n).path for n in range(9)]
    assert len(set(paths)) == len(paths)
    assert lag_count(metrics) == observed + 1
    assert journal_text(state_dir) == ""


# --- the journal on its own, against the per-test database -----------------------------------


async def test_leftover_journal_is_replayed_at_start_without_duplicates(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A crash between the insert and the truncate: the same lines replayed again index
    nothing twice. A last line without its newline (cut short by a power loss) is ignored."""
    store = RecordingStore(db_pool)
    await store.insert([segment(0), segment(1)])  # the replay that got in before the crash
    journal = tmp_path / JOURNAL_NAME
    lines = [segment(n).to_json() + "\n" for n in range(3)]  # 0 and 1 again, 2 is new
    journal.write_text("".join(lines) + segment(3).to_json()[:40])
    metrics = Metrics()
    index = SegmentIndex(store, tmp_path, metrics)
    with structlog.testing.capture_logs() as logs:
        await index.start()
    assert await indexed_paths(db_pool) == [segment(n).path for n in range(3)]
    assert index.pending == 0 and pending_gauge(metrics) == 0
    assert journal.read_text() == ""
    found = [e for e in logs if e["event"] == "segment_journal_found"]
    assert found == [{"event": "segment_journal_found", "log_level": "warning", "pending": 3}]

    # The same journal lines again (as if the truncate never happened): still no duplicates.
    journal.write_text("".join(lines))
    index = SegmentIndex(store, tmp_path, metrics)
    await index.start()
    assert await indexed_paths(db_pool) == [segment(n).path for n in range(3)]
    assert journal.read_text() == ""


async def test_start_with_no_journal(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    metrics = Metrics()
    index = SegmentIndex(RecordingStore(db_pool), tmp_path, metrics)
    await index.start()
    assert index.pending == 0 and pending_gauge(metrics) == 0
    assert await index.journal_paths() == set()
    await asyncio.wait_for(index.wait_idle(), 1)  # nothing handed over: idle at once
    assert not (tmp_path / JOURNAL_NAME).exists()


async def test_segments_handed_over_a_moment_apart_share_one_transaction(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A round of clock-aligned cuts spreads over most of a second: after the first segment
    the index waits its batch window and inserts what came meanwhile in one transaction (the
    rows share their xmin). The window is long here so that the test does not race it."""
    index = SegmentIndex(
        RecordingStore(db_pool), tmp_path, Metrics(), batch_window_s=2.0, journal_after_s=5.0
    )
    await index.start()
    async with running(index) as task:
        index.add(segment(0))
        await asyncio.sleep(0.2)  # the index has taken the first one and waits for more
        index.add(segment(1))
        index.add(segment(2))
        await idle(index, task)
    rows = await db_pool.fetch("SELECT path, xmin::text AS tx FROM recordings ORDER BY id")
    assert [r["path"] for r in rows] == [segment(n).path for n in range(3)]
    assert len({r["tx"] for r in rows}) == 1


async def test_refused_row_is_logged_and_does_not_block_the_next(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    metrics = Metrics()
    index = SegmentIndex(RecordingStore(db_pool), tmp_path, metrics)
    await index.start()
    async with running(index) as task:
        with structlog.testing.capture_logs() as logs:
            index.add(segment(0))
            index.add(refused(1))
            index.add(segment(2))
            await idle(index, task)
    assert await indexed_paths(db_pool) == [segment(0).path, segment(2).path]
    rejected = [e for e in logs if e["event"] == "segment_index_rejected"]
    assert [(e["path"], e["log_level"]) for e in rejected] == [(refused(1).path, "error")]
    assert "check" in rejected[0]["error"].lower()
    # Refused is not "away": nothing journalled, nothing pending.
    assert index.pending == 0 and journal_text(tmp_path) == ""


async def test_refused_row_in_the_journal_does_not_hold_back_the_others(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    journal = tmp_path / JOURNAL_NAME
    journal.write_text("".join(r.to_json() + "\n" for r in [segment(0), refused(1), segment(2)]))
    metrics = Metrics()
    index = SegmentIndex(RecordingStore(db_pool), tmp_path, metrics)
    with structlog.testing.capture_logs() as logs:
        await index.start()
    assert await indexed_paths(db_pool) == [segment(0).path, segment(2).path]
    assert [e["path"] for e in logs if e["event"] == "segment_index_rejected"] == [refused(1).path]
    assert index.pending == 0 and pending_gauge(metrics) == 0
    assert journal.read_text() == ""


# --- a database that is away, then back: a socket directory of our own ------------------------


class SocketSwitch:
    """A socket directory holding (or not) a link to the session server's socket."""

    def __init__(self, server_socket_dir: Path, directory: Path) -> None:
        self._target = server_socket_dir / f".s.PGSQL.{PG_PORT}"
        self._link = directory / f".s.PGSQL.{PG_PORT}"
        self.directory = directory

    def up(self) -> None:
        self._link.symlink_to(self._target)

    def down(self) -> None:
        self._link.unlink()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Short: a unix socket path must fit in 107 bytes.
    with tempfile.TemporaryDirectory(prefix="vmsd-sw-") as directory:
        yield Path(directory)


@pytest.fixture
async def switched_pool(
    db_pool: asyncpg.Pool, pg_server: EmbeddedPostgres, socket_dir: Path
) -> AsyncIterator[tuple[asyncpg.Pool, SocketSwitch]]:
    """A pool on the per-test database (migrated) through a switch, starting switched off."""
    database = await db_pool.fetchval("SELECT current_database()")
    switch = SocketSwitch(pg_server.socket_dir, socket_dir)
    pool = await asyncpg.create_pool(
        dsn_for(socket_dir, database), min_size=0, max_size=2, timeout=2, command_timeout=2
    )
    assert pool is not None
    try:
        yield pool, switch
    finally:
        await pool.close()


async def test_away_database_journals_and_retries(
    switched_pool: tuple[asyncpg.Pool, SocketSwitch], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    pool, switch = switched_pool
    metrics = Metrics()
    index = SegmentIndex(RecordingStore(pool), tmp_path, metrics)
    await index.start()
    async with running(index) as task:
        for n in range(2):
            index.add(segment(n), time.monotonic())
        await idle(index, task)
        assert index.pending == 2 and pending_gauge(metrics) == 2
        assert await indexed_paths(db_pool) == []

        switch.up()
        # A new segment first empties the journal, then goes in itself: order kept.
        index.add(segment(2), time.monotonic())
        await idle(index, task)
        assert await indexed_paths(db_pool) == [segment(n).path for n in range(3)]
        assert index.pending == 0 and pending_gauge(metrics) == 0
        assert lag_count(metrics) == 1
        assert journal_text(tmp_path) == ""


async def test_cut_short_journal_line_then_more_segments_while_away(
    switched_pool: tuple[asyncpg.Pool, SocketSwitch], db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    pool, switch = switched_pool
    journal = tmp_path / JOURNAL_NAME
    journal.write_text(segment(0).to_json() + "\n" + segment(1).to_json()[:40])
    index = SegmentIndex(RecordingStore(pool), tmp_path, Metrics())
    await index.start()  # database away: the journal stays
    assert index.pending == 1
    async with running(index) as task:
        index.add(segment(2))  # still away: appended to the journal
        await idle(index, task)
        switch.up()
        index.add(segment(3))
        await idle(index, task)
        assert await indexed_paths(db_pool) == [segment(n).path for n in (0, 2, 3)]


def test_journal_lines_are_one_json_object_each(tmp_path: Path) -> None:
    """The journal format round-trips every field (what a replay inserts is what was added)."""
    for record in (segment(0), segment(1, "cam-2"), refused(2)):
        line = record.to_json()
        assert "\n" not in line
        assert SegmentRecord.from_json(line) == record


async def test_long_journal_is_replayed_in_chunks_in_order(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A long outage's journal: more lines than one replay chunk, some already in (a replay
    cut short), replayed at start in the order journaled, each row once."""
    total = REPLAY_CHUNK * 2 + 17
    records = [segment(n, f"cam{n % 3}") for n in range(total)]
    store = RecordingStore(db_pool)
    await store.insert(records[REPLAY_CHUNK - 5 : REPLAY_CHUNK + 5])
    (tmp_path / JOURNAL_NAME).write_text("".join(r.to_json() + "\n" for r in records))
    index = SegmentIndex(store, tmp_path, Metrics())
    with structlog.testing.capture_logs() as logs:
        await index.start()
    paths = await indexed_paths(db_pool)
    already = [r.path for r in records[REPLAY_CHUNK - 5 : REPLAY_CHUNK + 5]]
    assert paths[:10] == already
    assert paths[10:] == [r.path for r in records if r.path not in set(already)]
    assert index.pending == 0 and journal_text(tmp_path) == ""
    replayed = [e for e in logs if e["event"] == "segment_journal_replayed"]
    assert [e["segments"] for e in replayed] == [total]
