"""Retention of the audit trail against the real database: the prune deletes the oldest rows
in batches with the anchor and its own row, the triggers refuse every other way of deleting
or changing rows (and of moving the anchor), verify holds after a prune and names each kind
of tampering, and appends from two pools during a prune keep one chain."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from vmsd.access.audit import PRUNE_ACTION, BreakReason
from vmsd.access.audit_log import AuditLog
from vmsd.access.audit_metrics import AuditMetrics
from vmsd.access.audit_prune import AuditPruner
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.metrics import Metrics
from vmsd.store.audit import AuditFilter, AuditStore
from vmsd.store.audit_row import AuditRow

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)


class Clock:
    """vmsd's clock, set by the test: rows written "400 days ago" are what retention takes."""

    def __init__(self, at: datetime = OLD) -> None:
        self.at = at
        self._tick = itertools.count()

    def __call__(self) -> datetime:
        return self.at + timedelta(microseconds=next(self._tick))


def holder(tmp_path: Path, retention_days: int | None = 30) -> ConfigHolder:
    config = Config.model_validate(
        {"state_dir": str(tmp_path), "audit": {"retention_days": retention_days}}
    )
    return ConfigHolder(config, Path("unused.yml"))


async def write(audit: AuditLog, count: int, prefix: str = "c") -> None:
    for n in range(count):
        assert await audit.record("user:alice", "camera.update", "ok", target=f"camera:{prefix}{n}")


async def stored(pool: asyncpg.Pool) -> list[AuditRow]:
    return [row async for row in AuditStore(pool).stream(AuditFilter())]


async def test_prune_takes_the_oldest_rows_in_batches_with_the_anchor_and_its_rows(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    clock, metrics = Clock(), Metrics()
    audit = AuditLog(AuditStore(db_pool), metrics, clock)
    await write(audit, 25, "old")
    clock.at = NOW
    await write(audit, 5, "new")
    before = await stored(db_pool)
    pruner = AuditPruner(holder(tmp_path), audit, clock=clock, batch_rows=10)

    assert await pruner.run_once() == 25
    after = await stored(db_pool)
    assert after[:5] == before[25:]  # the recent rows, untouched
    prunes = [(r.entry.principal, r.entry.action, r.entry.result, dict(r.entry.details))
              for r in after[5:]]  # fmt: skip
    cutoff = prunes[0][3]["cutoff"]
    assert prunes == [
        ("system", PRUNE_ACTION, "ok", {"rows": 10, "up_to_id": 10, "cutoff": cutoff}),
        ("system", PRUNE_ACTION, "ok", {"rows": 10, "up_to_id": 20, "cutoff": cutoff}),
        ("system", PRUNE_ACTION, "ok", {"rows": 5, "up_to_id": 25, "cutoff": cutoff}),
    ]
    anchor = await audit.anchor()
    assert (anchor.last_id, anchor.last_hash, anchor.pruned_rows) == (25, before[24].hash, 25)
    assert anchor.pruned_at is not None and anchor.cutoff is not None
    assert anchor.cutoff < NOW - timedelta(days=29)
    assert metrics.group(AuditMetrics).pruned._value.get() == 25
    assert await audit.verify() == (8, None)
    assert await pruner.run_once() == 0  # nothing left older than the retention
    assert await AuditPruner(holder(tmp_path, None), audit, clock=clock).run_once() == 0


async def test_prune_takes_a_prefix_only_and_never_the_last_row(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    clock = Clock()
    audit = AuditLog(AuditStore(db_pool), Metrics(), clock)
    await write(audit, 2)
    clock.at = NOW  # a recent row between old ones (another box's clock ahead)
    await write(audit, 1)
    clock.at = OLD
    await write(audit, 2)
    pruner = AuditPruner(holder(tmp_path), audit, clock=Clock(NOW))
    assert await pruner.run_once() == 2
    assert [r.id for r in await stored(db_pool)] == [3, 4, 5, 6]



async def test_prune_never_takes_the_chains_last_row(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    """Appends go on from the last row's hash: with every row old, all but it go."""
    audit = AuditLog(AuditStore(db_pool), Metrics(), Clock())
    await write(audit, 4)
    last = (await stored(db_pool))[-1]
    assert await AuditPruner(holder(tmp_path), audit, clock=Clock(NOW)).run_once() == 3
    rows = await stored(db_pool)
    assert rows[0] == last and rows[1].entry.details["up_to_id"] == 3
    assert await audit.verify() == (2, None)


async def _refused(pool: asyncpg.Pool, *statements: str, match: str) -> None:
    """The statements, in one transaction, refused (by a statement or at the commit)."""
    with pytest.raises(asyncpg.RaiseError, match=match):
        async with pool.acquire() as conn, conn.transaction():
            for statement in statements:
                await conn.execute(statement)


def move_anchor(last_id: int, cutoff: str = "now() - interval '30 days'") -> str:
    return f"UPDATE audit_anchor SET last_id = {last_id}, cutoff = {cutoff}"  # noqa: S608


async def test_every_other_delete_update_or_anchor_move_is_refused(
    db_pool: asyncpg.Pool,
) -> None:
    """Only the prune's door: a prefix the anchor covers, deleted with it, with its own row."""
    clock = Clock()
    audit = AuditLog(AuditStore(db_pool), Metrics(), clock)
    await write(audit, 6)
    clock.at = NOW
    await write(audit, 2)  # rows 7, 8: recent
    assert await audit.prune(NOW - timedelta(days=30), 3) == 3  # rows 1-3; its row is 9
    before = await stored(db_pool)
    for statement in (
        "UPDATE audit_log SET result = 'x'",
        "UPDATE audit_log SET result = 'x' WHERE id = 4",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 4",  # the oldest row, without the anchor
        "DELETE FROM audit_log WHERE id = 8",  # a row in the middle
        "TRUNCATE audit_log",
    ):
        await _refused(db_pool, statement, match="append-only")
    for statement, match in {
        # backwards; onto a row not there; onto the chain's last row; over a recent row
        move_anchor(2): "only moves forward",
        move_anchor(100): "not in the chain",
        move_anchor(9): "before its last row",
        move_anchor(7): "not all older",
        move_anchor(4, "now() - interval '5 days'"): "6 days",
        move_anchor(4, "NULL"): "6 days",
        "UPDATE audit_anchor SET last_hash = '\\x00'": "last_id and cutoff only",
        "UPDATE audit_anchor SET pruned_rows = 0": "last_id and cutoff only",
        "UPDATE audit_anchor SET pruned_at = now()": "last_id and cutoff only",
        "DELETE FROM audit_anchor": "one row",
        "TRUNCATE audit_anchor": "one row",
        "INSERT INTO audit_anchor (singleton, last_id, last_hash, pruned_rows) "
        "VALUES (false, 0, '\\x00', 0)": "one row",
    }.items():
        await _refused(db_pool, statement, match=match)
    move = move_anchor(4)
    delete = "DELETE FROM audit_log WHERE id <= 4"

    def prune_row(up_to: int) -> str:
        details = json.dumps({"up_to_id": up_to})
        columns = "time, principal, action, result, details, prev_hash, hash"
        values = f"now(), 'system', 'audit.prune', 'ok', '{details}', '\\x00', '\\x00'"
        return f"INSERT INTO audit_log ({columns}) VALUES ({values})"  # noqa: S608 - the test's

    await _refused(db_pool, move, prune_row(4), match="must all be deleted")  # rows left
    await _refused(db_pool, move, delete, match="needs its audit.prune row")
    await _refused(db_pool, move, delete, prune_row(5), match="needs its audit.prune row")
    assert await stored(db_pool) == before
    assert (await audit.anchor()).last_id == 3
    assert await audit.verify() == (6, None)


async def _superuser(dsn: str, *statements: str) -> None:
    """Statements with the triggers off, as the tables' owner or a superuser can."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table in ("audit_log", "audit_anchor"):
                await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            for statement in statements:
                await conn.execute(statement)
            for table in ("audit_log", "audit_anchor"):
                await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    finally:
        await conn.close()


# After a prune of rows 1-4 (anchor 4; rows 5-8 recent, 9 the prune's row, 10-11 later):
# what was done behind the triggers, and the break verify names.
TAMPERING = {
    "a row in the middle deleted": (["DELETE FROM audit_log WHERE id = 7"], 8, "chain broken"),
    "a row edited": (["UPDATE audit_log SET principal = 'user:bob' WHERE id = 6"], 6,
                     "content edited"),
    "rows at the start deleted past the anchor": (["DELETE FROM audit_log WHERE id <= 6"], 7,
                                                  "chain broken"),
    "the anchor's hash changed": (["UPDATE audit_anchor SET last_hash = '\\x01'"], 5,
                                  "chain broken"),
    "the anchor moved without a prune": (["UPDATE audit_anchor SET last_id = 6",
                                          "DELETE FROM audit_log WHERE id <= 6"], 7,
                                         "chain broken"),
    "the prune's row and every row after it deleted": (["DELETE FROM audit_log WHERE id >= 9"],
                                                       4, BreakReason.PRUNE_ROW_MISSING.value),
}


@pytest.mark.parametrize("case", list(TAMPERING))
async def test_verify_after_a_prune_names_each_tampering(
    database_dsn: str, db_pool: asyncpg.Pool, case: str
) -> None:
    clock = Clock()
    audit = AuditLog(AuditStore(db_pool), Metrics(), clock)
    await write(audit, 4)
    clock.at = NOW
    await write(audit, 4)
    assert await audit.prune(NOW - timedelta(days=30), 100) == 4
    await write(audit, 2)
    assert await audit.verify() == (7, None)
    statements, row_id, reason = TAMPERING[case]
    await _superuser(database_dsn, *statements)
    checked = await audit.check()
    assert checked.broken is not None
    assert (checked.broken.id, checked.broken.reason.value) == (row_id, reason)


async def test_rows_missing_at_the_start_without_a_prune_break_the_chain(
    database_dsn: str, db_pool: asyncpg.Pool
) -> None:
    audit = AuditLog(AuditStore(db_pool), Metrics(), Clock())
    await write(audit, 5)
    await _superuser(database_dsn, "DELETE FROM audit_log WHERE id <= 2")
    checked = await audit.check()
    assert checked.anchor.last_id == 0
    assert checked.broken is not None
    assert (checked.broken.id, checked.broken.reason) == (3, BreakReason.CHAIN_BROKEN)


async def test_appends_from_two_pools_during_a_prune_keep_one_chain(
    database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Two boxes appending while one prunes in small batches: the chain's lock orders them,
    every appended row is there, and the trail verifies from the anchor."""
    clock = Clock()
    audit = AuditLog(AuditStore(db_pool), Metrics(), clock)
    await write(audit, 120)
    clock.at = NOW
    other = await asyncpg.create_pool(database_dsn, min_size=1, max_size=5)
    assert other is not None
    try:
        boxes = [AuditLog(AuditStore(pool), Metrics(), Clock(NOW)) for pool in (db_pool, other)]
        pruner = AuditPruner(holder(tmp_path), audit, clock=Clock(NOW), batch_rows=7)
        appends = [
            box.record(f"token:box{b}", "camera.update", "ok", target=f"camera:c{n}")
            for n in range(40)
            for b, box in enumerate(boxes)
        ]
        pruned, *written = await asyncio.gather(pruner.run_once(), *appends)
        assert pruned == 120 and all(written)
        rows = await stored(db_pool)
        assert sum(r.entry.principal.startswith("token:box") for r in rows) == 80
        assert sum(r.entry.action == PRUNE_ACTION for r in rows) == 18  # 120 / 7, rounded up
        assert rows[0].prev_hash == (await audit.anchor()).last_hash
        for before, after in itertools.pairwise(rows):
            assert after.prev_hash == before.hash
        assert await audit.verify() == (len(rows), None)
    finally:
        await other.close()


class PruneWhileReading(AuditStore):
    """The real store, whose first read is met by a prune (another box's, or the daemon's,
    while `vmsd audit verify` reads batch after batch)."""

    def __init__(self, pool: asyncpg.Pool, pruner: AuditPruner) -> None:
        super().__init__(pool)
        self._pruner: AuditPruner | None = pruner

    async def stream(self, f: AuditFilter, batch_rows: int = 2) -> AsyncIterator[AuditRow]:
        async for row in super().stream(f, batch_rows):
            yield row
            if self._pruner is not None:
                pruner, self._pruner = self._pruner, None
                assert await pruner.run_once() == 5


async def test_verify_met_by_a_prune_starts_again_from_the_new_anchor(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    clock = Clock()
    writer = AuditLog(AuditStore(db_pool), Metrics(), clock)
    await write(writer, 5)
    clock.at = NOW
    await write(writer, 3)
    pruner = AuditPruner(holder(tmp_path), writer, clock=Clock(NOW))
    reader = AuditLog(PruneWhileReading(db_pool, pruner), Metrics())
    checked = await reader.check()
    assert (checked.rows, checked.broken, checked.anchor.last_id) == (4, None, 5)
