"""Login cost: argon2id with the configured default parameters, alone and as a whole login.

Usage: python bench/login.py [--logins 40] [--verifies 40] [--lookups 100000]

Printed: argon2 verify p50/p99 (auth.password_hash defaults, in the thread the daemon uses),
a whole login p50/p99 (lockout check, argon2, last_login_at, a new session row) against the
embedded PostgreSQL, a wrong password's and a name no user has (a dummy argon2: the two
failures must cost the same), and the MediaMTX hot path's kept-verdict lookup
(`cached_principal`) in microseconds. Targets (printed, not asserted): argon2 50-100 ms (the
issue), unknown / wrong ~= 1, lookup << 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA
from vmsd.config.access import PasswordHashConfig
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.errors import UnauthorizedError
from vmsd.runtime.embedded import EmbeddedPostgres, dsn_for
from vmsd.runtime.wiring import build_accounts, build_metrics
from vmsd.store.db import apply_migrations

PASSWORD = "correct horse battery staple"  # noqa: S105 - a bench user's


def percentiles(samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):7.1f} ms  p99 {p99:7.1f} ms  (n={len(ms)})"


async def timed(n: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def main(args: argparse.Namespace) -> None:
    params = PasswordHashConfig()
    print(
        f"argon2id time_cost={params.time_cost} memory_kib={params.memory_kib} "
        f"parallelism={params.parallelism}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cpus"
    )
    with tempfile.TemporaryDirectory(prefix="vmsd-bench-login-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg", "vmsd-postgres")
        await server.start()
        try:
            pool = await asyncpg.create_pool(dsn_for(server.socket_dir, "postgres"))
            assert pool is not None
            async with pool.acquire() as conn:
                await apply_migrations(conn)
            await run(pool, args)
            await pool.close()
        finally:
            await server.stop()


async def run(pool: asyncpg.Pool, args: argparse.Namespace) -> None:
    # The default argon2 cost; lockout limits out of the way of the unknown-user series.
    limits = {"max_failures_per_user": 1000, "max_failures_per_ip": 10_000}
    holder = ConfigHolder(Config.model_validate({"auth": {"login": limits}}), Path("unused.yml"))

    async def record(_type: str, **_data: object) -> None:
        pass

    accounts = build_accounts(pool, holder, build_metrics(), record)
    await accounts.users.create(EVERY_CAMERA, "alice", Role.VIEWER, PASSWORD)
    entry = accounts.registry.by_name("alice")
    assert entry is not None
    passwords = accounts.registry.passwords

    verify = await timed(
        args.verifies, lambda: passwords.verify_in_thread(entry.password_hash, PASSWORD)
    )
    print(f"argon2 verify          {percentiles(verify)}")

    async def login(name: str, password: str = PASSWORD) -> None:
        with contextlib.suppress(UnauthorizedError):  # a wrong password's, an unknown user's
            await accounts.logins.login(name, password, "192.0.2.1", "bench")

    ok: list[float] = []
    wrong: list[float] = []
    unknown: list[float] = []
    for _ in range(args.logins):  # interleaved: the box's other load hits all alike
        ok += await timed(1, lambda: login("alice"))
        wrong += await timed(1, lambda: login("alice", "not the password"))
        unknown += await timed(1, lambda: login("nobody"))
    print(f"login ok               {percentiles(ok)}")
    print(f"login, wrong password  {percentiles(wrong)}")
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(f"login, unknown user    {percentiles(unknown)}  (/ wrong password: {ratio:.2f})")

    await accounts.registry.verify("alice", PASSWORD)
    started = time.perf_counter()
    for _ in range(args.lookups):
        accounts.registry.cached_principal("alice", PASSWORD)
    per_lookup_us = (time.perf_counter() - started) / args.lookups * 1e6
    print(f"cached verdict lookup  {per_lookup_us:.2f} us per MediaMTX request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--verifies", type=int, default=40)
    parser.add_argument("--lookups", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))
