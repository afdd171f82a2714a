"""The audit trail's cost: one append (the chain's lock, the last hash, the insert), alone and
with concurrent writers, and what it adds to a mutating API request; and retention's prune,
one batch of AUDIT_PRUNE_BATCH_ROWS at a time, with what an append waits meanwhile.

Usage: python bench/audit.py [--appends N] [--requests N] [--writers W] [--prune-rows N]

A private embedded PostgreSQL (the daemon's pool settings). The request figures come from the
real API app (create_app, its middlewares, an admin token from the real registry) over
loopback with keep-alive: `POST /api/v1/tokens` with a body that fails validation (422), so
nothing but the middlewares and the body check runs, with and without the audit middleware,
in alternating rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import aiohttp
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vmsd.access.audit import GENESIS, audit_entry, chain_hash
from vmsd.access.audit_log import AuditLog
from vmsd.access.audit_prune import AUDIT_PRUNE_BATCH_ROWS
from vmsd.access.ratelimit import RateLimiter
from vmsd.access.roles import Role
from vmsd.access.tokens import TokenRegistry, TokenService
from vmsd.api.app import create_app
from vmsd.api.audit_trail import audit_trail
from vmsd.api.services import ApiServices
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.health import Health, Phase
from vmsd.core.log import LogLevel, configure_logging
from vmsd.core.metrics import Metrics
from vmsd.runtime.embedded import EmbeddedPostgres
from vmsd.store.audit import AuditStore
from vmsd.store.audit_row import ENTRY_FIELDS, entry_values
from vmsd.store.db import apply_migrations, create_pool
from vmsd.store.tokens import TokenStore

WARMUP, ROUNDS = 50, 5


def figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50, p99 = statistics.median(ordered), ordered[math.ceil(0.99 * len(ordered)) - 1]
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"


async def timed_append(audit: AuditLog, n: int) -> float:
    started = time.perf_counter()
    ok = await audit.record(
        "token:bench", "camera.update", "ok", client_ip="127.0.0.1", target=f"camera:c{n % 64}",
        request_id=f"bench-{n}", details={"query": {"camera": ["c1", "c2"]}},
    )
    assert ok
    return (time.perf_counter() - started) * 1000


async def bench_appends(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    audit = AuditLog(AuditStore(pool), Metrics())
    for n in range(WARMUP):
        await timed_append(audit, n)
    alone = [await timed_append(audit, n) for n in range(args.appends)]
    print(f"append, one writer ({args.appends}): {figures(alone)}")
    per_writer = args.appends // args.writers

    async def writer(w: int) -> list[float]:
        return [await timed_append(audit, w * per_writer + n) for n in range(per_writer)]

    started = time.perf_counter()
    together = [ms for one in await asyncio.gather(*map(writer, range(args.writers))) for ms in one]
    elapsed = time.perf_counter() - started
    print(f"append, {args.writers} writers at once ({len(together)}): {figures(together)}, "
          f"{len(together) / elapsed:,.0f} rows/s")
    await audit.verify()  # warm
    started = time.perf_counter()
    rows, broken = await audit.verify()
    ms = (time.perf_counter() - started) * 1000
    print(f"verify {rows} rows: {ms:.0f} ms ({rows / ms * 1000:,.0f} rows/s), broken: {broken}")


async def old_rows(pool: asyncpg.Pool, count: int) -> None:
    """`count` rows 400 days old, chained after the last one, copied in at once."""
    last = await pool.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
    prev, records = bytes(last) if last is not None else GENESIS, []
    when = datetime.now(UTC) - timedelta(days=400)
    for n in range(count):
        entry = audit_entry(when + timedelta(microseconds=n), "token:bench", "camera.update",
                            "ok", target=f"camera:c{n % 64}", details={"n": n})  # fmt: skip
        digest = chain_hash(prev, entry)
        values = entry_values(entry)
        values["details"] = json.dumps(entry.details)
        records.append((*values.values(), prev, digest))
        prev = digest
    await pool.copy_records_to_table(
        "audit_log", records=records, columns=[*ENTRY_FIELDS, "prev_hash", "hash"]
    )


async def bench_prune(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    """Old rows put before the ones written so far, pruned batch by batch while one writer
    appends: each batch's time, and the appends' (which wait on the chain's lock)."""
    await pool.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")  # a fresh table: the bench's
    await pool.execute("TRUNCATE audit_log")
    await pool.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    await old_rows(pool, args.prune_rows)
    audit = AuditLog(AuditStore(pool), Metrics())
    cutoff = datetime.now(UTC) - timedelta(days=365)
    batches: list[float] = []
    appends: list[float] = []
    done = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not done.is_set():
            appends.append(await timed_append(audit, n))
            n += 1

    async def pruner() -> None:
        try:
            while True:
                started = time.perf_counter()
                pruned = await audit.prune(cutoff, AUDIT_PRUNE_BATCH_ROWS, timeout_s=60)
                if pruned == 0:
                    return
                batches.append((time.perf_counter() - started) * 1000)
        finally:
            done.set()

    await asyncio.gather(pruner(), writer())
    rows, broken = await audit.verify()
    print(f"prune {args.prune_rows} rows in batches of {AUDIT_PRUNE_BATCH_ROWS} "
          f"({len(batches)}): {figures(batches)} per batch; appends meanwhile "
          f"({len(appends)}): {figures(appends)}; then {rows} rows, broken: {broken}")


async def no_event(_type: str, **_data: object) -> None:
    return None


async def api_app(pool: asyncpg.Pool, name: str) -> tuple[web.Application, str]:
    metrics = Metrics()
    health = Health(metrics)
    health.set_phase(Phase.READY)
    store = TokenStore(pool)
    registry = TokenRegistry(pool, store)
    _, secret = await TokenService(store, registry).create(name, Role.ADMIN)
    await registry.refresh()
    # What the middlewares and the refused POST reach: the rest of ApiServices is not called.
    services = SimpleNamespace(
        # No rate limit: the bench sends far more than a principal's share, on purpose.
        config=ConfigHolder(
            Config.model_validate({"auth": {"rate_limit": {"requests_per_second": 0}}}),
            Path("unused.yml"),
        ),
        health=health,
        metrics=metrics,
        token_registry=registry,
        audit=AuditLog(AuditStore(pool), metrics),
        events=SimpleNamespace(close=lambda: None),
        playback=SimpleNamespace(close=lambda: None),
        rate_limiter=RateLimiter(),
        record_event=no_event,
    )
    return create_app(cast(ApiServices, services)), secret


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/api/v1/tokens"


async def requests(session: aiohttp.ClientSession, url: str, secret: str, n: int) -> list[float]:
    headers = {"Authorization": f"Bearer {secret}"}
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        async with session.post(url, json={"name": ""}, headers=headers) as resp:
            await resp.read()
            assert resp.status == 422, resp.status
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def bench_requests(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    with_app, secret = await api_app(pool, "bench-with")
    without_app, other = await api_app(pool, "bench-without")
    without_app.middlewares.remove(audit_trail)  # before the app starts: its list is open
    servers = [await serve(with_app), await serve(without_app)]
    samples: dict[str, list[float]] = {"with": [], "without": []}
    try:
        async with aiohttp.ClientSession() as session:
            for (_, url), token in zip(servers, (secret, other), strict=True):
                await requests(session, url, token, WARMUP)
            for _ in range(ROUNDS):
                for (_, url), token, label in zip(servers, (secret, other), samples, strict=True):
                    samples[label] += await requests(session, url, token, args.requests // ROUNDS)
    finally:
        for runner, _ in servers:
            await runner.cleanup()
    written = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'token.create'")
    print(f"POST /api/v1/tokens refused (422), {args.requests} each, keep-alive over loopback:")
    for label, values in samples.items():
        print(f"  {label} the audit middleware: {figures(values)}")
    added = statistics.median(samples["with"]) - statistics.median(samples["without"])
    print(f"  the audit row adds {added:.2f} ms at the median ({written} rows written)")


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    server = EmbeddedPostgres(tmp / "state", "vmsd-postgres")
    try:
        pool = await create_pool(await server.start(), min_size=1, max_size=10, timeout_s=60)
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn)
            print(f"PostgreSQL {await pool.fetchval('SHOW server_version')} (embedded, defaults)")
            await bench_appends(pool, args)
            await bench_prune(pool, args)
            await bench_requests(pool, args)
        finally:
            await pool.close()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--prune-rows", type=int, default=40_000)
    args = parser.parse_args()
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    configure_logging(LogLevel.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="vmsd-bench-audit-"))
    try:
        asyncio.run(bench(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
