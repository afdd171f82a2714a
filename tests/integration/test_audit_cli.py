"""`vmsd audit verify` and the token commands' rows, through the real CLI against a real
database (the test's, as `database.url`)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import asyncpg

from tests.daemon_process import write_config
from vmsd.access.audit_log import AuditLog
from vmsd.core.metrics import Metrics
from vmsd.store.audit import AuditStore


def vmsd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vmsd", *args, "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


async def test_verify_names_the_row_edited_behind_the_trigger(
    database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    config = write_config(tmp_path, database={"url": database_dsn})
    empty = vmsd(config, "audit", "verify")
    assert (empty.returncode, empty.stdout) == (0, "ok: 0 rows\n"), empty.stderr
    audit = AuditLog(AuditStore(db_pool), Metrics())
    for n in range(5):
        assert await audit.record("user:alice", "camera.delete", "ok", target=f"camera:c{n}")
    intact = vmsd(config, "audit", "verify")
    assert (intact.returncode, intact.stdout) == (0, "ok: 5 rows\n"), intact.stderr

    # The database superuser can step around the append-only trigger; the chain still shows it.
    conn = await asyncpg.connect(database_dsn)
    try:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute("UPDATE audit_log SET principal = 'user:bob' WHERE id = 3")
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        time = await conn.fetchval("SELECT time FROM audit_log WHERE id = 3")
    finally:
        await conn.close()
    edited = vmsd(config, "audit", "verify")
    assert edited.returncode == 1, edited.stderr
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert edited.stdout == f"broken: row 3 ({stamp}): content edited\n"


async def test_token_commands_write_their_rows(
    database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    config = write_config(tmp_path, database={"url": database_dsn})
    created = vmsd(config, "token", "create", "--name", "ci", "--role", "operator")
    assert created.returncode == 0, created.stderr
    token_id = await db_pool.fetchval("SELECT id FROM api_tokens WHERE name = 'ci'")
    revoked = vmsd(config, "token", "revoke", str(token_id))
    assert revoked.returncode == 0, revoked.stderr
    missing = vmsd(config, "token", "revoke", "999999")
    assert missing.returncode == 1
    duplicate = vmsd(config, "token", "create", "--name", "ci", "--role", "viewer")
    assert duplicate.returncode == 0  # revoked names may be reused
    again = vmsd(config, "token", "create", "--name", "ci", "--role", "viewer")
    assert again.returncode == 1
    who = f"cli:{pwd.getpwuid(os.geteuid()).pw_name}"
    rows = await db_pool.fetch(
        "SELECT principal, action, target, result, details::text FROM audit_log ORDER BY id"
    )
    assert [tuple(r)[:4] for r in rows] == [
        (who, "token.create", f"token:{token_id}", "ok"),
        (who, "token.revoke", f"token:{token_id}", "ok"),
        (who, "token.revoke", "token:999999", "failed not_found"),
        (who, "token.create", f"token:{token_id + 1}", "ok"),
        (who, "token.create", "", "failed conflict"),
    ]
    assert rows[0]["details"] == '{"name": "ci", "role": "operator"}'
    assert (await AuditLog(AuditStore(db_pool), Metrics()).verify()) == (5, None)
