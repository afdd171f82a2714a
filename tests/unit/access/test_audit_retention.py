"""Audit retention's pure parts and its job: the cutoff, which rows a prune takes, verify
from an anchor catching each way the stored trail can be tampered with, and the job's loop
through a database that is away."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from vmsd.access.audit import (
    GENESIS,
    PRUNE_ACTION,
    SYSTEM,
    BreakReason,
    audit_entry,
    chain_hash,
    verify,
)
from vmsd.access.audit_prune import AuditPruner
from vmsd.access.audit_retention import prune_details, retention_cutoff, select_prune
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.store.audit import RowHead
from vmsd.store.audit_row import AuditAnchor, AuditRow

T0 = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
NOTHING_PRUNED = AuditAnchor(0, GENESIS, 0, None, None)


def test_the_cutoff_is_the_retention_back_from_now() -> None:
    assert retention_cutoff(T0, 365) == T0 - timedelta(days=365)
    assert retention_cutoff(T0, None) is None  # keep every row


def test_config_bounds_and_default() -> None:
    assert Config().audit.retention_days == 365
    assert Config.model_validate({"audit": {"retention_days": None}}).audit.retention_days is None
    for bad in (0, 6, 36_501):
        with pytest.raises(ValueError, match="retention_days"):
            Config.model_validate({"audit": {"retention_days": bad}})


OLD, NEW = T0 - timedelta(days=400), T0
SELECT = [
    # (ages of rows 1.., the chain's last id, the id pruned up to)
    ("all old but the chain's last", [OLD, OLD, OLD], 3, 2),
    ("old rows, then recent ones", [OLD, OLD, NEW, NEW], 4, 2),
    ("a recent row holds back the old ones after it", [OLD, NEW, OLD, OLD, NEW], 5, 1),
    ("the first row recent", [NEW, OLD, OLD], 3, None),
    ("one row: the chain's last", [OLD], 1, None),
    ("the batch ends before the chain does", [OLD, OLD], 9, 2),
    ("nothing", [], 0, None),
]


@pytest.mark.parametrize(("case", "ages", "last_id", "up_to"), SELECT, ids=[c[0] for c in SELECT])
def test_select_prune_takes_the_old_prefix_short_of_the_last_row(
    case: str, ages: list[datetime], last_id: int, up_to: int | None
) -> None:
    heads = [RowHead(n, age) for n, age in enumerate(ages, 1)]
    chosen = select_prune(heads, T0 - timedelta(days=365), last_id)
    assert (chosen.id if chosen else None) == up_to


def test_a_row_exactly_at_the_cutoff_stays() -> None:
    cutoff = T0 - timedelta(days=30)
    assert select_prune([RowHead(1, cutoff), RowHead(2, OLD)], cutoff, 2) is None


def link(row_id: int, prev: bytes, action: str = "camera.update", **details: object) -> AuditRow:
    entry = audit_entry(T0 + timedelta(seconds=row_id), "user:alice", action, "ok",
                        target=f"camera:c{row_id}", details=details)  # fmt: skip
    return AuditRow(row_id, entry, prev, chain_hash(prev, entry))


def trail(count: int, prune_at: int | None = None, up_to: int = 0) -> list[AuditRow]:
    """Rows 1..count chained from GENESIS; row `prune_at` a prune's row up to `up_to`."""
    rows, prev = [], GENESIS
    for n in range(1, count + 1):
        if n == prune_at:
            row = link(n, prev, PRUNE_ACTION, **prune_details(up_to, up_to, OLD))
        else:
            row = link(n, prev)
        rows.append(row)
        prev = row.hash
    return rows


def pruned(rows: list[AuditRow], up_to: int) -> tuple[list[AuditRow], AuditAnchor]:
    """What a prune up to `up_to` leaves: the rows after it, and the anchor."""
    anchor = AuditAnchor(up_to, rows[up_to - 1].hash, up_to, T0, OLD)
    return rows[up_to:], anchor


def test_verify_from_an_anchor_holds() -> None:
    left, anchor = pruned(trail(10, prune_at=7, up_to=4), 4)
    assert verify(left, anchor) is None
    assert verify(trail(5), NOTHING_PRUNED) is None
    assert verify([], NOTHING_PRUNED) is None


def _broken(rows: list[AuditRow], anchor: AuditAnchor) -> tuple[int, BreakReason]:
    broken = verify(rows, anchor)
    assert broken is not None
    return broken.id, broken.reason


def test_verify_from_an_anchor_names_each_tampering() -> None:
    rows = trail(10, prune_at=7, up_to=4)
    left, anchor = pruned(rows, 4)  # rows 5..10
    # a row in the middle deleted
    assert _broken([r for r in left if r.id != 6], anchor) == (7, BreakReason.CHAIN_BROKEN)
    # a row edited
    edited = dataclasses.replace(left[1].entry, principal="user:bob")
    assert _broken([left[0], dataclasses.replace(left[1], entry=edited), *left[2:]], anchor) == (
        6, BreakReason.CONTENT_EDITED,
    )  # fmt: skip
    # rows at the start removed past the anchor, not by a prune
    assert _broken(left[2:], anchor) == (7, BreakReason.CHAIN_BROKEN)
    # rows at the start removed with no prune at all
    assert _broken(rows[3:], NOTHING_PRUNED) == (4, BreakReason.CHAIN_BROKEN)
    # a row the anchor covers left in the table
    assert _broken(rows[3:], anchor) == (4, BreakReason.CHAIN_BROKEN)
    # the anchor's hash not the last pruned row's
    assert _broken(left, dataclasses.replace(anchor, last_hash=rows[2].hash)) == (
        5, BreakReason.CHAIN_BROKEN,
    )  # fmt: skip
    # the prune's own row and every row after it removed: a whole chain, but not the trail
    assert _broken(left[:2], anchor) == (4, BreakReason.PRUNE_ROW_MISSING)
    assert _broken([], anchor) == (4, BreakReason.PRUNE_ROW_MISSING)


def test_only_the_last_prunes_row_vouches_for_the_anchor() -> None:
    """A prune row naming another id (an earlier prune's, now pruned too) does not count."""
    left, anchor = pruned(trail(10, prune_at=7, up_to=3), 4)
    assert _broken(left, anchor) == (4, BreakReason.PRUNE_ROW_MISSING)
    broken = verify(left, anchor)
    assert broken is not None
    assert broken.describe() == (
        "rows up to 4 were pruned on 2026-12-01T10:00:00.123456Z, and the prune's "
        "audit.prune row is not in the table: rows were removed"
    )


class FakeAudit:
    """AuditLog.prune's side: batches of the given sizes, or an error from a database that
    is away."""

    def __init__(self, *results: int | Exception) -> None:
        self.results = list(results)
        self.calls: list[tuple[datetime, int]] = []

    async def prune(self, cutoff: datetime, batch_rows: int, timeout_s: float) -> int:
        self.calls.append((cutoff, batch_rows))
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


def holder(retention_days: int | None) -> ConfigHolder:
    return ConfigHolder(
        Config.model_validate({"audit": {"retention_days": retention_days}}), Path("unused.yml")
    )


async def test_a_pass_prunes_batch_after_batch_until_one_is_short() -> None:
    audit = FakeAudit(10, 10, 3)
    pruner = AuditPruner(holder(30), audit, clock=lambda: T0, batch_rows=10)
    with capture_logs() as logs:
        assert await pruner.run_once() == 23
    assert audit.calls == [(T0 - timedelta(days=30), 10)] * 3
    assert [e for e in logs if e["event"] == "audit_pruned"] == [
        {"event": "audit_pruned", "log_level": "info", "rows": 23, "retention_days": 30,
         "cutoff": "2026-11-01T10:00:00.123456Z"},
    ]  # fmt: skip


async def test_keeping_everything_prunes_nothing() -> None:
    audit = FakeAudit()
    assert await AuditPruner(holder(None), audit, clock=lambda: T0).run_once() == 0
    assert audit.calls == []


async def test_a_database_away_is_logged_and_tried_again_sooner() -> None:
    audit = FakeAudit(OSError("connection refused"), TimeoutError(), 0, 0)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 4:
            raise asyncio.CancelledError

    pruner = AuditPruner(
        holder(30), audit, clock=lambda: T0, interval_s=3600, retry_s=60, sleep=sleep
    )
    with capture_logs() as logs, pytest.raises(asyncio.CancelledError):
        await pruner.run()
    assert slept == [60, 60, 3600, 3600]
    failures = [e for e in logs if e["event"] == "audit_prune_failed"]
    assert [e["log_level"] for e in failures] == ["warning", "warning"]
    assert "connection refused" in failures[0]["error"]


def test_the_prune_row_is_the_systems() -> None:
    entry = audit_entry(T0, SYSTEM, PRUNE_ACTION, "ok", details=prune_details(5, 812, OLD))
    cutoff = "2025-10-27T10:00:00.123456Z"
    assert dict(entry.details) == {"rows": 5, "up_to_id": 812, "cutoff": cutoff}
