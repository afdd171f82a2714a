"""The segment index at scale: recordings query, timeline, retention planner, startup recovery.

Usage: python bench/recordings.py [--rows 5000000] [--files 100000]

A private embedded PostgreSQL gets `--rows` synthetic rows by COPY: 64 cameras, contiguous 10 s
segments ending now, oldest first with the cameras interleaved (the order a fleet writes them),
paths under /srv/rec (absent: retention unlinks nothing). Then the index is replaced by `--files`
real files, all indexed (nothing is probed), for recover(): warm, and after drop_caches if allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import asyncpg
import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vmsd.cameras.registry import CameraRegistry
from vmsd.config.load import ConfigHolder
from vmsd.config.recording import RetentionConfig, StorageConfig
from vmsd.config.schema import Config
from vmsd.core.log import LogLevel, configure_logging
from vmsd.core.metrics import Metrics
from vmsd.recordings.deletion import SegmentDeleter
from vmsd.recordings.recovery import find_segments, recover
from vmsd.recordings.service import RecordingsService
from vmsd.retention.planner import plan_retention
from vmsd.retention.service import RetentionService, camera_rules
from vmsd.runtime.embedded import EmbeddedPostgres
from vmsd.store.db import apply_migrations, create_pool
from vmsd.store.recordings import RecordingQueries, RecordingStore

CAMERAS = [f"cam{i:02d}" for i in range(64)]
SEGMENT_S = 10
ROOT = Path("/srv/rec")
COLUMNS = ["camera", "path", "start_time", "end_time", "duration_s", "bytes", "end_reason"]
WARMUP, QUERIES, TIMELINES, PLANNER_RUNS = 20, 200, 50, 3
QUERY_P99_MS, TIMELINE_MS, RECOVERY_S = 20.0, 50.0, 15.0  # the targets
Row = tuple[str, str, datetime, datetime, float, int, str]
T = TypeVar("T")


def latency(label: str, samples: list[float], target_ms: float) -> None:
    ordered = sorted(samples)
    p50, p99 = statistics.median(ordered), ordered[math.ceil(0.99 * len(ordered)) - 1]
    held = "held" if p99 < target_ms else "MISSED"
    print(f"{label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 < {target_ms:.0f} ms: {held})")


async def once(call: Awaitable[T]) -> tuple[float, T]:  # (milliseconds, result)
    started = time.perf_counter()
    result = await call
    return (time.perf_counter() - started) * 1000, result


def segments(n: int, root: Path, now: datetime) -> Iterator[Row]:
    """n rows: every camera's contiguous segments ending at `now`, oldest first, interleaved."""
    rng = random.Random(1)
    prefixes = [f"{root}/{camera}/" for camera in CAMERAS]
    emitted = 0
    for step in range(-(-n // len(CAMERAS)), 0, -1):
        start = now - timedelta(seconds=step * SEGMENT_S)
        end = start + timedelta(seconds=SEGMENT_S)
        name = start.strftime("%Y-%m-%d/%H-%M-%S.mp4")
        for camera, prefix in zip(CAMERAS, prefixes, strict=True):
            if emitted == n:
                return
            size = rng.randint(1_000_000, 2_000_000)
            yield camera, prefix + name, start, end, float(SEGMENT_S), size, "segment_complete"
            emitted += 1


async def copy_rows(pool: asyncpg.Pool, rows: Iterable[Row]) -> tuple[float, float]:
    """(COPY s, VACUUM ANALYZE s). VACUUM stands in for autovacuum, which in a running daemon
    keeps the visibility map current, so the timeline's index-only scans stay index-only."""
    async with pool.acquire() as conn:
        copy_ms, _ = await once(conn.copy_records_to_table("recordings", records=rows,
                                                           columns=COLUMNS))
        analyze_ms, _ = await once(conn.execute("VACUUM ANALYZE recordings"))
    return copy_ms / 1000, analyze_ms / 1000


class Capture:  # a stand-in pool: keeps the SQL and arguments a query method sends
    sql, args = "", ()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "ARRAY[" + ",".join(f"'{v}'" for v in value) + "]::text[]"
    return f"'{value.isoformat()}'::timestamptz" if isinstance(value, datetime) else str(value)


async def explain(pool: asyncpg.Pool, camera: str, start: datetime) -> None:
    """The query's custom and generic plans; which kind the benchmark's statement used."""
    capture = Capture()
    await RecordingQueries(cast(asyncpg.Pool, capture)).overlapping(
        [camera], start, start + timedelta(hours=1), 1000
    )
    args = ", ".join(literal(a) for a in capture.args)
    async with pool.acquire() as conn:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}; PREPARE q AS {capture.sql}")
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE q({args})")
            await conn.execute("DEALLOCATE q; RESET plan_cache_mode")
            print(f"EXPLAIN ANALYZE, {mode} ({camera}, {start:%Y-%m-%d %H:%M:%S}, 1 h):")
            print("\n".join(f"    {row[0]}" for row in plan))
        stats = await conn.fetch(  # the statement the query method sent, by its own text
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement = $1",
            capture.sql,
        )
    counts = [(r["generic_plans"], r["custom_plans"]) for r in stats]
    print(f"plans the benchmark's prepared statement used (generic, custom): {counts}")


async def no_event(*_: Any, **__: Any) -> None:
    return None


def retention(pool: asyncpg.Pool, max_age_s: float | None = None) -> RetentionService:
    rules = RetentionConfig(max_age=max_age_s, min_free_percent=0, target_free_percent=0)
    holder = ConfigHolder(Config(storage=StorageConfig(paths=(ROOT,)), retention=rules), Path())
    store, registry = RecordingStore(pool), cast(CameraRegistry, SimpleNamespace(cameras={}))
    return RetentionService(holder, store, SegmentDeleter(store), registry, Metrics(), no_event)


async def bench_planner(pool: asyncpg.Pool, oldest: datetime, rows: int) -> None:
    noop = retention(pool)
    runs = [(await once(noop.run_once()))[0] for _ in range(PLANNER_RUNS)]
    print(f"retention run_once, rules delete nothing: median {statistics.median(runs):.0f} ms "
          f"(runs: {', '.join(f'{r:.0f}' for r in runs)} ms)")
    totals_ms, totals = await once(RecordingStore(pool).camera_totals())
    cands_ms, cands = await once(noop._candidates(noop._holder.current, totals))
    print(f"  camera_totals {totals_ms:.0f} ms; candidates ({len(cands)} cameras x up to 2000) "
          f"{cands_ms:.0f} ms, {sum(len(c.oldest) for c in cands.values())} segments")
    span_s = (datetime.now(UTC) - oldest).total_seconds()
    due = retention(pool, span_s - 0.01 * rows / len(CAMERAS) * SEGMENT_S)
    for label, service in (("delete nothing", noop), ("max_age, ~1% due", due)):
        rules = camera_rules(service._holder.current, service._registry, list(cands))
        started = time.perf_counter()
        plan = plan_retention(cands, rules, {}, datetime.now(UTC))
        print(f"  plan_retention alone ({label}): "
              f"{(time.perf_counter() - started) * 1000:.1f} ms, {len(plan.deletions)} chosen")
    due_ms, done = await once(due.run_once())
    print(f"retention run_once, max_age with ~1% due: {due_ms:.0f} ms, {len(done)} deleted "
          f"({100 * len(done) / rows:.2f}% of {rows})")


def make_files(rows: list[Row]) -> None:
    for directory in {Path(row[1]).parent for row in rows}:
        directory.mkdir(parents=True, exist_ok=True)
    for row in rows:
        Path(row[1]).write_bytes(b"\0" * 1024)


def drop_caches() -> str:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as err:
        return f"caches NOT dropped ({err.strerror}): warm again"
    return "after dropping page cache, dentries and inodes"


async def bench_recovery(pool: asyncpg.Pool, files: int, tmp: Path, now: datetime) -> None:
    root, started = tmp / "storage", time.perf_counter()
    rows = list(segments(files, root, now))
    await asyncio.to_thread(make_files, rows)
    await pool.execute("TRUNCATE recordings RESTART IDENTITY")
    copy_s, _ = await copy_rows(pool, rows)
    print(f"recovery setup: {files} files of 1 KiB and their rows "
          f"({time.perf_counter() - started:.1f} s, of which COPY {copy_s:.1f} s)")
    store, ffmpeg = RecordingStore(pool), imageio_ffmpeg.get_ffmpeg_exe()
    for label in ("warm", "cold"):
        note = await asyncio.to_thread(drop_caches) if label == "cold" else "files just written"
        ms, report = await once(recover([root], store, ffmpeg, no_event, exclude=set()))
        if report.recovered or report.quarantined or report.missing:
            raise RuntimeError(f"recovery changed the index: {report}")
        held = "held" if ms < RECOVERY_S * 1000 else "MISSED"
        print(f"startup reconciliation, {label} ({note}): {ms / 1000:.2f} s "
              f"(target < {RECOVERY_S:.0f} s: {held})")
    walk_ms, _ = await once(asyncio.to_thread(find_segments, [root]))
    paths_ms, _ = await once(store.paths())
    print(f"  measured apart (warm): find_segments {walk_ms:.0f} ms, "
          f"store.paths() {paths_ms:.0f} ms")


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    server = EmbeddedPostgres(tmp / "state", "vmsd-postgres")
    try:
        # One connection: the figures are per query, and the plan statistics are its own.
        # The daemon's own pool (its session settings), one connection so that the plans
        # PostgreSQL chose can be read back from pg_prepared_statements.
        pool = await create_pool(await server.start(), min_size=1, max_size=1, timeout_s=60)
        try:
            await run(pool, args, tmp)
        finally:
            await pool.close()
    finally:
        await server.stop()


async def run(pool: asyncpg.Pool, args: argparse.Namespace, tmp: Path) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    print(f"PostgreSQL {await pool.fetchval('SHOW server_version')} (embedded, defaults)")
    now = datetime.now(UTC).replace(microsecond=0)
    now -= timedelta(seconds=now.second % SEGMENT_S)
    copy_s, analyze_s = await copy_rows(pool, segments(args.rows, ROOT, now))
    size = await pool.fetchval("SELECT pg_size_pretty(pg_total_relation_size('recordings'))")
    print(f"load {args.rows} rows, {len(CAMERAS)} cameras: COPY {copy_s:.1f} s "
          f"({args.rows / copy_s:,.0f} rows/s), VACUUM ANALYZE {analyze_s:.1f} s; "
          f"table + indexes {size}")
    oldest = await pool.fetchval("SELECT min(start_time) FROM recordings")
    rng = random.Random(7)

    def window(length: timedelta) -> tuple[str, datetime]:
        seconds = max(int((now - oldest - length).total_seconds()), 1)
        return rng.choice(CAMERAS), oldest + timedelta(seconds=rng.randrange(seconds))

    queries, hour, day = RecordingQueries(pool), timedelta(hours=1), timedelta(days=1)
    hours = [window(hour) for _ in range(WARMUP + QUERIES)]
    found = [await once(queries.overlapping([c], s, s + hour, 1000)) for c, s in hours]
    rows = statistics.mean(len(r) for _, r in found[WARMUP:])
    latency(f"recordings query, 1 camera x 1 h ({QUERIES} after {WARMUP} warm-up, "
            f"{rows:.0f} rows each)", [ms for ms, _ in found[WARMUP:]], QUERY_P99_MS)
    await explain(pool, *window(hour))
    holder = ConfigHolder(Config(storage=StorageConfig(paths=(ROOT,))), Path())
    service = RecordingsService(holder, queries, SegmentDeleter(RecordingStore(pool)))
    days = [window(day) for _ in range(TIMELINES)]
    spans = [await once(service.timeline(c, s, s + day)) for c, s in days]
    latency(f"timeline, 1 camera x 1 day ({TIMELINES} calls, "
            f"{statistics.mean(len(r) for _, r in spans):.1f} spans each)",
            [ms for ms, _ in spans], TIMELINE_MS)
    await bench_planner(pool, oldest, args.rows)
    await bench_recovery(pool, args.files, tmp, now)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    configure_logging(LogLevel.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="vmsd-bench-recordings-"))
    try:
        asyncio.run(bench(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
