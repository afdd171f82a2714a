"""The user registry against the real database: MediaMTX verdicts (argon2 once, then memory),
dropped on any change to the users, made in this process or by `vmsd user ...`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import yaml

from vmsd.access.metrics import AccessMetrics
from vmsd.access.passwords import Passwords
from vmsd.access.principal import PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope
from vmsd.access.users import UserRegistry, UserService
from vmsd.access.verdicts import VerdictCache
from vmsd.config.access import PasswordHashConfig
from vmsd.core.metrics import Metrics
from vmsd.store.users import ADMINS_LOCK_KEY, LastAdminError, UserStore

CHEAP = PasswordHashConfig(time_cost=1, memory_kib=8192, parallelism=1)
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Parts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.clock = Clock()
        self.metrics = Metrics().group(AccessMetrics)
        passwords = Passwords(CHEAP)
        store = UserStore(pool)
        self.registry = UserRegistry(
            pool, store, passwords, VerdictCache(lambda: 60.0, self.clock), self.metrics
        )
        self.users = UserService(store, passwords, self.registry)
        # Another process's service: no registry, its changes arrive by NOTIFY only.
        self.elsewhere = UserService(store, passwords)

    def argon2_runs(self) -> float:
        return self.metrics.verdicts.labels(source="argon2")._value.get()


@pytest.fixture
async def parts(db_pool: asyncpg.Pool) -> AsyncIterator[Parts]:
    parts = Parts(db_pool)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(parts.registry.run())
        await asyncio.wait_for(parts.registry.loaded.wait(), 5)
        yield parts
        task.cancel()


async def eventually(check: object, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_verify_runs_argon2_once_then_answers_from_memory(parts: Parts) -> None:
    # Made elsewhere: one reload (by NOTIFY), not one here and its echo after, which would
    # drop the verdicts this test keeps.
    await parts.elsewhere.create(EVERY_CAMERA, "alice", Role.VIEWER, PASSWORD, cameras=["gate-1"])
    registry = parts.registry
    await eventually(lambda: registry.by_name("alice") is not None)
    assert registry.cached_principal("alice", PASSWORD) is None  # nothing verified yet
    principal = await registry.verify("alice", PASSWORD)
    assert principal is not None and principal.kind is PrincipalKind.USER
    assert principal.role is Role.VIEWER and principal.scope == CameraScope.parse(["gate-1"])
    assert registry.cached_principal("alice", PASSWORD) == principal
    assert await registry.verify("alice", PASSWORD) == principal
    assert parts.argon2_runs() == 1
    # A wrong password is kept too (MediaMTX retries it on every connection)...
    assert await registry.verify("alice", "wrong password") is None
    assert await registry.verify("alice", "wrong password") is None
    assert await registry.verify("ghost", "any password") is None
    assert parts.argon2_runs() == 3
    assert registry.cached_principal("alice", "wrong password") is None
    # ...for the configured time only.
    parts.clock.now += 61
    assert registry.cached_principal("alice", PASSWORD) is None
    assert await registry.verify("alice", PASSWORD) == principal
    assert parts.argon2_runs() == 4


async def test_concurrent_requests_with_one_new_credential_share_one_argon2(
    parts: Parts,
) -> None:
    await parts.elsewhere.create(EVERY_CAMERA, "alice", Role.VIEWER, PASSWORD)
    registry = parts.registry
    await eventually(lambda: registry.by_name("alice") is not None)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(registry.verify("alice", PASSWORD)) for _ in range(6)]
        tasks += [tg.create_task(registry.verify("alice", "a wrong one")) for _ in range(6)]
    results = [t.result() for t in tasks]
    assert all(r is not None for r in results[:6]) and all(r is None for r in results[6:])
    assert parts.argon2_runs() == 2


async def test_any_change_drops_the_verdicts(parts: Parts) -> None:
    users, registry = parts.users, parts.registry
    await users.create(EVERY_CAMERA, "alice", Role.VIEWER, PASSWORD)
    await registry.verify("alice", PASSWORD)
    await users.update(EVERY_CAMERA, "alice", role=Role.OPERATOR)
    assert registry.cached_principal("alice", PASSWORD) is None
    promoted = await registry.verify("alice", PASSWORD)
    assert promoted is not None and promoted.role is Role.OPERATOR

    await users.update(EVERY_CAMERA, "alice", enabled=False)
    assert registry.cached_principal("alice", PASSWORD) is None
    assert await registry.verify("alice", PASSWORD) is None  # a disabled user never matches
    await users.update(EVERY_CAMERA, "alice", enabled=True)
    await users.set_password(EVERY_CAMERA, "alice", "another long passphrase")
    assert await registry.verify("alice", PASSWORD) is None
    assert await registry.verify("alice", "another long passphrase") is not None
    await users.delete(EVERY_CAMERA, "alice")
    assert registry.cached_principal("alice", "another long passphrase") is None


async def test_a_change_made_elsewhere_arrives_by_notify(parts: Parts) -> None:
    registry = parts.registry
    await parts.elsewhere.create(EVERY_CAMERA, "bob", Role.VIEWER, PASSWORD)
    await eventually(lambda: registry.by_name("bob") is not None)
    assert await registry.verify("bob", PASSWORD) is not None
    await parts.elsewhere.update(EVERY_CAMERA, "bob", enabled=False)
    await eventually(lambda: registry.cached_principal("bob", PASSWORD) is None)


async def test_sessions_end_when_the_user_is_disabled_or_its_password_changes(
    parts: Parts, db_pool: asyncpg.Pool
) -> None:
    user = await parts.users.create(EVERY_CAMERA, "alice", Role.VIEWER, PASSWORD)
    live = "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"

    async def open_session(n: int) -> None:
        await db_pool.execute(
            "INSERT INTO sessions (user_id, token_hash, expires_at) "
            "VALUES ($1, $2, now() + interval '1 h')",
            user.id,
            bytes([n]) * 32,
        )

    await open_session(1)
    await parts.users.update(EVERY_CAMERA, "alice", enabled=False)
    assert await db_pool.fetchval(live) == 0
    await parts.users.update(EVERY_CAMERA, "alice", enabled=True)
    await open_session(2)
    await parts.users.set_password(EVERY_CAMERA, "alice", "another long passphrase")
    assert await db_pool.fetchval(live) == 0
    await open_session(3)
    await parts.users.delete(EVERY_CAMERA, "alice")
    assert await db_pool.fetchval("SELECT count(*) FROM sessions") == 0


async def test_two_admins_disabling_each_other_at_once_leave_one(parts: Parts) -> None:
    users = parts.users
    for name in ("ann", "bea"):
        await users.create(EVERY_CAMERA, name, Role.ADMIN, PASSWORD)
    results = await asyncio.gather(
        users.update(EVERY_CAMERA, "ann", enabled=False),
        parts.elsewhere.update(EVERY_CAMERA, "bea", enabled=False),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["LastAdminError", "UserRecord"]
    enabled = [u.name for u in await users.list_users() if u.enabled]
    assert len(enabled) == 1, enabled


async def test_the_last_admin_check_waits_for_a_change_in_flight(
    parts: Parts, db_pool: asyncpg.Pool
) -> None:
    """Another box disabling `ann` holds the lock, its transaction not committed yet: a
    delete of `bea` must wait for it and then count without `ann`, not count the `ann` it
    saw before."""
    users = parts.users
    for name in ("ann", "bea"):
        await users.create(EVERY_CAMERA, name, Role.ADMIN, PASSWORD)
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMINS_LOCK_KEY)
        await conn.execute("UPDATE users SET enabled = false WHERE name = 'ann'")
        delete = asyncio.ensure_future(parts.elsewhere.delete(EVERY_CAMERA, "bea"))
        await asyncio.sleep(0.3)
        assert not delete.done()
    with pytest.raises(LastAdminError):
        await asyncio.wait_for(delete, 5)
    assert (await users.get("bea")).enabled


async def vmsd(config: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMSD_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vmsd",
        *args,
        "--config",
        str(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_manages_users_while_the_registry_follows(
    parts: Parts, database_dsn: str, tmp_path: Path
) -> None:
    config = tmp_path / "vmsd.yml"
    settings = {
        "state_dir": str(tmp_path / "state"),
        "database": {"url": database_dsn},
        "auth": {"password_hash": CHEAP.model_dump()},
    }
    config.write_text(yaml.safe_dump(settings))
    registry = parts.registry

    status, out, err = await vmsd(
        config,
        "user", "create", "--name", "carol", "--role", "operator", "--cameras", "gate-1,group:yard",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert status == 0, err
    created = json.loads(out)
    assert created["cameras"] == ["gate-1", "group:yard"] and created["enabled"]
    await eventually(lambda: registry.by_name("carol") is not None)
    assert await registry.verify("carol", PASSWORD) is not None

    status, out, _ = await vmsd(config, "user", "list")
    assert status == 0
    [listed] = [json.loads(line) for line in out.splitlines()]
    assert listed["name"] == "carol" and "hash" not in out and "argon2" not in out

    status, _, err = await vmsd(config, "user", "disable", "--name", "carol")
    assert status == 0, err
    await eventually(lambda: registry.cached_principal("carol", PASSWORD) is None)
    assert await registry.verify("carol", PASSWORD) is None

    status, _, err = await vmsd(config, "user", "enable", "--name", "carol")
    assert status == 0, err
    new = "a brand new passphrase"
    status, _, err = await vmsd(
        config, "user", "passwd", "--name", "carol", "--password-stdin", stdin=new + "\n"
    )
    assert status == 0, err
    await eventually(lambda: registry.cached_principal("carol", PASSWORD) is None)
    assert await registry.verify("carol", new) is not None

    for args, stdin, words in (
        (("user", "passwd", "--name", "carol", "--password-stdin"), "short\n",
         "password: must be at least 10"),
        (("user", "passwd", "--name", "nobody", "--password-stdin"), PASSWORD, "no user"),
        (("user", "create", "--name", "carol", "--role", "viewer", "--password-stdin"),
         PASSWORD, "already exists"),
        (("user", "create", "--name", "vmsd-x", "--role", "viewer", "--password-stdin"),
         PASSWORD, "invalid user name"),
        (("user", "delete", "--name", "nobody"), "", "no user"),
    ):  # fmt: skip
        status, _, err = await vmsd(config, *args, stdin=stdin)
        assert status == 1 and words in err, (args, err)

    status, _, err = await vmsd(config, "user", "delete", "--name", "carol")
    assert status == 0, err
    await eventually(lambda: registry.by_name("carol") is None)


async def test_the_cli_keeps_the_last_admin_unless_forced(
    parts: Parts, database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    config = tmp_path / "vmsd.yml"
    settings = {
        "state_dir": str(tmp_path / "state"),
        "database": {"url": database_dsn},
        "auth": {"password_hash": CHEAP.model_dump()},
    }
    config.write_text(yaml.safe_dump(settings))
    await parts.users.create(EVERY_CAMERA, "root", Role.ADMIN, PASSWORD)
    for command in ("disable", "delete"):
        status, out, err = await vmsd(config, "user", command, "--name", "root")
        assert status == 1 and out == "", err
        assert "last enabled admin" in err and "--force" in err, err
    assert (await parts.users.get("root")).enabled
    status, out, err = await vmsd(config, "user", "disable", "--name", "root", "--force")
    assert status == 0, err
    assert json.loads(out)["enabled"] is False
    rows = await db_pool.fetch("SELECT action, result, details FROM audit_log ORDER BY id")
    assert [(r["action"], r["result"], json.loads(r["details"])) for r in rows] == [
        ("user.update", "failed last_admin", {"enabled": False}),
        ("user.delete", "failed last_admin", {}),
        ("user.update", "ok", {"enabled": False, "force": True}),
    ]
