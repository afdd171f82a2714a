"""A database that hangs rather than refuses: the test's own embedded PostgreSQL, the postmaster
and every backend SIGSTOPped (a stuck SAN, a hung external server). Connections are accepted
by the kernel and never answered. Each finished segment must still be in the journal, with its
real end reason, within about a second of closing; the index's loop must never be held by an
insert that does not come back; once the server runs again everything is indexed once, in
order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from tests.integration.test_index import indexed_paths, running, segment, wait_until
from vmsd.core.metrics import Metrics
from vmsd.recordings.index import JOURNAL_AFTER_S, JOURNAL_NAME, SegmentIndex
from vmsd.runtime.embedded import EmbeddedPostgres, dsn_for
from vmsd.store.db import apply_migrations, create_pool
from vmsd.store.recordings import INSERT_TIMEOUT_S, EndReason, RecordingStore, SegmentRecord

# The daemon's pool: database.connect_timeout_seconds (default 10) is also the command timeout.
POOL_TIMEOUT_S = 10.0


@pytest.fixture
def server(own_server: EmbeddedPostgres) -> EmbeddedPostgres:
    """This test's own PostgreSQL (conftest's own_server), to be frozen."""
    return own_server


@pytest.fixture
async def pool(server: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(
        dsn_for(server.socket_dir), min_size=1, max_size=4, timeout_s=POOL_TIMEOUT_S
    )
    async with created.acquire() as conn:
        await apply_migrations(conn)
    try:
        yield created
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(created.close(), 10)


def server_pids(server: EmbeddedPostgres) -> list[int]:
    """The postmaster and its children (backends, checkpointer, walwriter...)."""
    assert server.pid is not None
    out = subprocess.run(
        ["/usr/bin/ps", "-o", "pid=", "--ppid", str(server.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [server.pid, *(int(p) for p in out.split())]


@contextlib.contextmanager
def frozen(server: EmbeddedPostgres) -> Iterator[list[int]]:
    """SIGSTOP the whole server; SIGCONT whatever happens."""
    pids = server_pids(server)
    assert len(pids) >= 3, pids
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


class LoopWatch:
    """The longest the event loop went without running this coroutine (a held loop shows)."""

    def __init__(self) -> None:
        self.worst_s = 0.0

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.worst_s = max(self.worst_s, now - last)
            last = now


async def journal_lines(state_dir: Path) -> list[str]:
    def read() -> list[str]:
        path = state_dir / JOURNAL_NAME
        return path.read_text().splitlines() if path.exists() else []

    return await asyncio.to_thread(read)


async def test_insert_into_a_hung_server_ends_at_its_timeout(
    server: EmbeddedPostgres, pool: asyncpg.Pool
) -> None:
    """Left to asyncpg, a timed-out query waits for the server to acknowledge its cancel and
    its rollback (measured: 6 s for a 1 s wait_for, with a 5 s command timeout). The store's
    insert ends at its own timeout, on a connection from the pool and on a new one alike."""
    store = RecordingStore(pool, insert_timeout_s=1.0)
    await store.insert([segment(0)])
    with frozen(server):
        for n in (1, 2, 3):  # an idle pooled connection first, then connections being opened
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await store.insert([segment(n)])
            assert time.monotonic() - started < 1.3
    # Thawed: the pool works again. A cut-off insert whose messages reached the server's
    # socket before it froze is executed when it thaws, and commits (the server sees the
    # closed connection only when it answers): "timed out" is "not known to be committed",
    # which is why the index journals it and why every insert is idempotent on the path.
    await store.insert([segment(4)])
    paths = await indexed_paths(pool)
    assert paths[0] == segment(0).path and paths[-1] == segment(4).path
    assert paths == sorted(set(paths)) and set(paths) <= {segment(n).path for n in range(5)}


@pytest.mark.slow
async def test_hung_database_segments_are_journaled_within_a_second(
    server: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    metrics = Metrics()
    index = SegmentIndex(RecordingStore(pool), state_dir, metrics)
    await index.start()
    reasons = [EndReason.SEGMENT_COMPLETE, EndReason.RECORDER_STOPPED, EndReason.SOURCE_LOST]
    records = [replace(segment(n), end_reason=reasons[n % 3]) for n in range(14)]
    watch = LoopWatch()
    async with running(index) as task, running_watch(watch):
        index.add(records[0], time.monotonic())
        await asyncio.wait_for(index.wait_idle(), 5)
        assert await indexed_paths(pool) == [records[0].path]

        closed: list[float] = []
        seen: dict[int, float] = {}  # journal lines -> when there were first that many
        with frozen(server):
            async with running_poll(state_dir, seen):
                # A segment every 0.4 s for about four insert timeouts: new ones arrive while
                # an insert or a replay is stuck, times out, and is tried again.
                for record in records[1:]:
                    closed.append(time.monotonic())
                    index.add(record, closed[-1])
                    await asyncio.sleep(0.4)
                await wait_until(lambda: len(seen) == len(closed), 3)
            lines = await journal_lines(state_dir)
            assert watch.worst_s < 0.25, "the loop was held"
            assert not task.done()
        # Every segment reached the journal in order, with its real end reason.
        assert [SegmentRecord.from_json(line) for line in lines] == records[1:]
        lags = [seen[n + 1] - at for n, at in enumerate(closed)]
        assert max(lags) < JOURNAL_AFTER_S + 0.5, lags
        await wait_until(lambda: index.pending == 0, 30)
        await asyncio.wait_for(index.wait_idle(), 5)
    assert await indexed_paths(pool) == [r.path for r in records]
    rows = await pool.fetch("SELECT path, end_reason FROM recordings ORDER BY id")
    assert [r["end_reason"] for r in rows] == [r.end_reason.value for r in records]
    assert INSERT_TIMEOUT_S < POOL_TIMEOUT_S
    print(f"close -> journal line, s: max {max(lags):.3f} min {min(lags):.3f}")


@contextlib.asynccontextmanager
async def running_poll(state_dir: Path, seen: dict[int, float]) -> AsyncIterator[None]:
    """Notes when the journal first holds each number of lines (read every 10 ms)."""

    async def poll() -> None:
        while True:
            count = len(await journal_lines(state_dir))
            for n in range(1, count + 1):
                seen.setdefault(n, time.monotonic())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(poll())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running_watch(watch: LoopWatch) -> AsyncIterator[None]:
    task = asyncio.create_task(watch.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_stop_while_the_database_hangs_journals_what_is_in_flight(
    server: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Cancelled before the deadline (a stop), with an insert stuck in flight: run() ends at
    once and what it held is in the journal, for the next start to replay."""
    index = SegmentIndex(RecordingStore(pool), tmp_path, Metrics(), batch_window_s=0.0)
    await index.start()
    with frozen(server):
        task = asyncio.create_task(index.run())
        index.add(segment(0), time.monotonic())
        await asyncio.sleep(0.3)  # the insert is in flight, stuck
        index.add(segment(1), time.monotonic())  # queued behind it
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5
        lines = await journal_lines(tmp_path)
    assert [SegmentRecord.from_json(line) for line in lines] == [segment(0), segment(1)]
    assert index.pending == 2
    await asyncio.wait_for(index.wait_idle(), 1)
    restarted = SegmentIndex(RecordingStore(pool), tmp_path, Metrics())
    await restarted.start()
    assert await indexed_paths(pool) == [segment(0).path, segment(1).path]
    assert restarted.pending == 0


async def test_insert_that_commits_after_its_deadline_is_harmless(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A slow database rather than a hung one: the table locked by another session for 1.5 s.
    The segment is journaled at its deadline, its insert commits after it anyway, and the
    replay that follows indexes nothing twice and keeps the order."""
    index = SegmentIndex(RecordingStore(db_pool), tmp_path, Metrics(), batch_window_s=0.0)
    await index.start()
    async with running(index) as task, db_pool.acquire() as blocker:
        index.add(segment(0), time.monotonic())
        await asyncio.wait_for(index.wait_idle(), 5)
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE recordings IN EXCLUSIVE MODE")
            closed = time.monotonic()
            index.add(segment(1), closed)
            index.add(segment(2), closed)
            await wait_until(lambda: index.pending == 2, JOURNAL_AFTER_S + 0.5)
            assert time.monotonic() - closed < JOURNAL_AFTER_S + 0.5
            index.add(segment(3), time.monotonic())  # behind the journal
            await asyncio.sleep(1.5 - (time.monotonic() - closed))
        await wait_until(lambda: index.pending == 0, 10)
        await asyncio.wait_for(index.wait_idle(), 5)
        assert not task.done()
    assert await indexed_paths(db_pool) == [segment(n).path for n in range(4)]
    assert journal_lines_now(tmp_path) == []


def journal_lines_now(state_dir: Path) -> list[str]:
    path = state_dir / JOURNAL_NAME
    return path.read_text().splitlines() if path.exists() else []
