"""`vmsd audit verify` and the token commands' rows, through the real CLI against a real
database (the test's, as `database.url`)."""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.conftest import Api
from tests.daemon_process import write_config
from vmsd.access.audit import chain_hash, format_time, row_from_json
from vmsd.access.audit_log import AuditLog
from vmsd.core.metrics import Metrics
from vmsd.store.audit import AuditFilter, AuditStore


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
    assert rows[0]["details"] == '{"name": "ci", "role": "operator", "cameras": ["*"]}'
    assert (await AuditLog(AuditStore(db_pool), Metrics()).verify()) == (5, None)


async def test_user_commands_write_their_rows(
    database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        database={"url": database_dsn},
        auth={"password_hash": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}},
    )

    def user(*args: str, password: str | None = None) -> int:
        command = [sys.executable, "-m", "vmsd", "user", *args, "--config", str(config)]
        done = subprocess.run(
            command, input=password, capture_output=True, text=True, timeout=120, check=False
        )
        return done.returncode

    assert user("create", "--name", "guard", "--role", "viewer", "--cameras", "gate",
                "--password-stdin", password="night-watch-pass-42\n") == 0  # fmt: skip
    assert user("passwd", "--name", "guard", "--password-stdin", password="another-pass-77\n") == 0
    assert user("disable", "--name", "guard") == 0
    missing = user("passwd", "--name", "nobody", "--password-stdin", password="another-pass-77\n")
    assert missing == 1
    assert user("delete", "--name", "guard") == 0
    who = f"cli:{pwd.getpwuid(os.geteuid()).pw_name}"
    rows = await db_pool.fetch(
        "SELECT principal, action, target, result, details FROM audit_log ORDER BY id"
    )
    assert [tuple(r)[:4] for r in rows] == [
        (who, "user.create", "user:guard", "ok"),
        (who, "user.password", "user:guard", "ok"),
        (who, "user.update", "user:guard", "ok"),
        (who, "user.password", "user:nobody", "failed not_found"),
        (who, "user.delete", "user:guard", "ok"),
    ]
    created = {"role": "viewer", "cameras": ["gate"], "enabled": True}
    assert json.loads(rows[0]["details"]) == created
    assert json.loads(rows[2]["details"]) == {"enabled": False}
    assert "another-pass" not in json.dumps([dict(r) for r in rows])  # never a password


async def _superuser(dsn: str, *statements: tuple[object, ...]) -> None:
    """Each (sql, *args) with the table's triggers off, as its owner or a superuser can."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        for sql, *args in statements:
            await conn.execute(str(sql), *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    finally:
        await conn.close()


async def _export(api: Api, path: Path, **params: str) -> None:
    async with api.session.get(
        api.url + "/api/v1/audit", params={"format": "jsonl", **params},
        headers=api.headers("admin"),
    ) as resp:
        assert resp.status == 200
        path.write_bytes(await resp.read())


async def test_a_copy_shows_what_the_table_alone_cannot(
    api: Api, database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Rows removed from the end, and a chain rewritten with every hash recomputed, leave a
    table that verifies by itself; a copy exported before shows both."""
    config = write_config(tmp_path, database={"url": database_dsn})
    audit = AuditLog(AuditStore(db_pool), Metrics())
    for n in range(6):
        assert await audit.record("user:alice", "camera.delete", "ok", target=f"camera:c{n}")
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    await _export(api, whole)
    third = await db_pool.fetchval("SELECT time FROM audit_log WHERE id = 3")
    await _export(api, part, start=third.isoformat())
    for copy in (whole, part):
        held = vmsd(config, "audit", "verify", "--copy", str(copy))
        assert held.returncode == 0, held.stdout + held.stderr
    assert "the copy's 4 rows are in the table unchanged" in held.stdout

    await _superuser(database_dsn, ("DELETE FROM audit_log WHERE id > 4",))
    alone = vmsd(config, "audit", "verify")
    assert (alone.returncode, alone.stdout) == (0, "ok: 4 rows\n")
    cut = vmsd(config, "audit", "verify", "--copy", str(whole))
    assert cut.returncode == 1
    assert "row 6 (" in cut.stdout and "is not in the table: rows were removed" in cut.stdout

    # Row 2 edited and every later hash recomputed: a whole chain again, but not the copy's.
    rows = [row async for row in AuditStore(db_pool).stream(AuditFilter())]
    prev = rows[0].hash
    updates: list[tuple[object, ...]] = []
    for row in rows[1:]:
        entry = row.entry
        if row.id == 2:
            entry = dataclasses.replace(entry, principal="user:bob")
        new = chain_hash(prev, entry)
        updates.append((
            "UPDATE audit_log SET principal = $1, prev_hash = $2, hash = $3 WHERE id = $4",
            entry.principal, prev, new, row.id,
        ))
        prev = new
    await _superuser(database_dsn, *updates)
    assert vmsd(config, "audit", "verify").returncode == 0
    shorter = tmp_path / "shorter.jsonl"
    shorter.write_text("".join(whole.read_text().splitlines(keepends=True)[:4]))
    rewritten = vmsd(config, "audit", "verify", "--copy", str(shorter))
    assert rewritten.returncode == 1
    assert "row 4 (" in rewritten.stdout and "differs from the copy" in rewritten.stdout

    shorter.write_text(shorter.read_text().replace("user:alice", "user:eve", 1))
    forged = vmsd(config, "audit", "verify", "--copy", str(shorter))
    assert forged.returncode == 1 and "broken: the copy, row 1 (" in forged.stdout
    (tmp_path / "junk.jsonl").write_text('{"id": 1}\n')
    junk = vmsd(config, "audit", "verify", "--copy", str(tmp_path / "junk.jsonl"))
    assert junk.returncode == 1 and "junk.jsonl:1: not an audit row" in junk.stdout



def _forged(lines: list[str]) -> str:
    """The copy's rows with row 2's principal changed and every hash from it recomputed: a
    copy whose own chain holds."""
    rows, prev, out = [json.loads(line) for line in lines], None, []
    for data in rows:
        if data["id"] == 2:
            data["principal"] = "user:bob"
        if prev is not None:
            data["prev_hash"] = prev
            data["hash"] = chain_hash(bytes.fromhex(prev), row_from_json(data).entry).hex()
        prev = data["hash"]
        out.append(json.dumps(data) + "\n")
    return "".join(out)


async def test_verify_after_a_prune_says_so_and_checks_copies_from_before_it(
    api: Api, database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A copy exported before a prune holds more rows than the table: where they meet, the
    hashes must agree, with the table or with the anchor."""
    config = write_config(tmp_path, database={"url": database_dsn})
    now = datetime.now(UTC)
    clock = {"at": now - timedelta(days=400)}
    audit = AuditLog(AuditStore(db_pool), Metrics(), lambda: clock["at"])
    for n in range(10):
        if n == 6:
            clock["at"] = now
        assert await audit.record("user:alice", "camera.delete", "ok", target=f"camera:c{n}")
    whole = tmp_path / "whole.jsonl"
    await _export(api, whole)
    lines = whole.read_text().splitlines(keepends=True)
    copies = {"to-anchor": lines[:6], "pruned": lines[:3], "forged-to-anchor": lines[:6]}
    for name, part in copies.items():
        text = _forged(part) if name.startswith("forged") else "".join(part)
        (tmp_path / f"{name}.jsonl").write_text(text)
    (tmp_path / "forged-whole.jsonl").write_text(_forged(lines))
    assert await audit.prune(now - timedelta(days=30), 100) == 6

    anchor = await audit.anchor()
    assert anchor.pruned_at is not None and anchor.cutoff is not None
    pruned = (
        f"pruned: rows up to id 6 were pruned on {format_time(anchor.pruned_at)} by retention "
        f"(6 rows in all; that prune's cutoff {format_time(anchor.cutoff)})\n"
    )
    alone = vmsd(config, "audit", "verify")
    assert (alone.returncode, alone.stdout) == (0, pruned + "ok: 5 rows\n"), alone.stderr
    expected = {
        "whole": (0, "ok: 5 rows; the copy's 10 rows are in the table unchanged"),
        "to-anchor": (0, "ok: 5 rows; the copy's 6 rows end at the last row pruned, unchanged"),
        "pruned": (0, "ok: 5 rows; the copy's 3 rows were all pruned since: none left to compare"),
        "forged-to-anchor": (1, "of the copy is not the last row pruned: the chain was rewritten"),
        "forged-whole": (1, "row 10 ("),
    }
    for name, (code, words) in expected.items():
        done = vmsd(config, "audit", "verify", "--copy", str(tmp_path / f"{name}.jsonl"))
        assert (done.returncode, done.stdout.startswith(pruned)) == (code, True), done.stdout
        assert words in done.stdout, (name, done.stdout)
    assert "differs from the copy: the chain was rewritten" in done.stdout

    # The prune's own row and the rows after it removed behind the triggers.
    await _superuser(database_dsn, ("DELETE FROM audit_log WHERE id >= 11",))
    cut = vmsd(config, "audit", "verify")
    assert cut.returncode == 1
    assert cut.stdout == pruned + (
        f"broken: rows up to 6 were pruned on {format_time(anchor.pruned_at)}, and the prune's "
        "audit.prune row is not in the table: rows were removed\n"
    )
