"""The audit trail from the command line: rows for what a command changes (`vmsd token ...`,
`vmsd user ...`) and `vmsd audit verify`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from vmsd.access.audit import ChainVerifier, cli_principal, format_time, row_from_json
from vmsd.access.audit_log import AuditLog
from vmsd.core.errors import EXIT_CRASH, EXIT_OK, VmsdError
from vmsd.core.metrics import Metrics
from vmsd.store.audit import AuditStore
from vmsd.store.audit_row import AuditAnchor, AuditRow


def unix_user() -> str:
    """Who runs the command, by the process's user id (not $USER, which anyone can set)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (a container)
        return str(uid)


def audit_log(pool: asyncpg.Pool) -> AuditLog:
    return AuditLog(AuditStore(pool), Metrics())


async def record_cli(
    pool: asyncpg.Pool,
    action: str,
    target: str,
    result: str,
    details: Mapping[str, object] | None = None,
) -> None:
    """One audit row for a command's change: principal `cli:<unix user>`, result `ok` or
    `failed <error code>`. A row that cannot be written is logged (`audit_write_failed`, on
    stderr) and the command's own outcome stands."""
    await audit_log(pool).record(
        cli_principal(unix_user()), action, result, target=target, details=details
    )


@dataclass(slots=True)
class CliRow:
    """What the command learns while it acts (a created token's id)."""

    target: str
    details: dict[str, object] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def audited(
    pool: asyncpg.Pool, action: str, target: str, details: Mapping[str, object]
) -> AsyncIterator[CliRow]:
    """One row for the change made inside the block: `ok`, or `failed <code>` when a
    VmsdError ends it (then raised on)."""
    row = CliRow(target, dict(details))
    try:
        yield row
    except VmsdError as err:
        await record_cli(pool, action, row.target, f"failed {err.code}", row.details)
        raise
    await record_cli(pool, action, row.target, "ok", row.details)


async def verify(pool: asyncpg.Pool, copy: Path | None = None) -> int:
    """`ok: N rows` and 0, or the first broken row and 1; first a `pruned:` line when
    retention has pruned rows (the chain is then verified from the anchor's hash). With `copy`
    (a JSON Lines export without principal, action or target filters), also what the table
    alone cannot show: the copy's chain must hold, and its last row must still be in the
    table with the same hash (else rows were removed from the end, or the chain rewritten
    from some row on); a copy from before a prune is checked where it meets the table."""
    log = audit_log(pool)
    checked = await log.check()
    anchor = checked.anchor
    if anchor.last_id:
        print(f"pruned: {describe_anchor(anchor)}")
    if checked.broken is not None:
        print(f"broken: {checked.broken.describe()}")
        return EXIT_CRASH
    if copy is None:
        print(f"ok: {checked.rows} rows")
        return EXIT_OK
    copied, last, problem = await asyncio.to_thread(read_copy, copy)
    note = f"the copy's {copied} rows are in the table unchanged"  # an empty copy: none
    if problem is None and last is not None:
        problem, note = await _against_table(log, last, copied, anchor)
    if problem is not None:
        print(f"broken: {problem}")
        return EXIT_CRASH
    print(f"ok: {checked.rows} rows; {note}")
    return EXIT_OK


async def _against_table(
    log: AuditLog, last: AuditRow, copied: int, anchor: AuditAnchor
) -> tuple[str | None, str]:
    """(what is wrong or None, what was shown) for a copy whose last row is `last`. A copy
    from before a prune holds rows the table lost: its last row is compared with the
    table's, or with the anchor when it is the last row pruned."""
    if last.id < anchor.last_id:
        return None, f"the copy's {copied} rows were all pruned since: none left to compare"
    if last.id == anchor.last_id:
        note = f"the copy's {copied} rows end at the last row pruned, unchanged"
        return compare_copy(last, anchor.last_hash, anchor), note
    note = f"the copy's {copied} rows are in the table unchanged"
    return compare_copy(last, await log.hash_of(last.id), anchor), note


def describe_anchor(anchor: AuditAnchor) -> str:
    when = format_time(anchor.pruned_at) if anchor.pruned_at else "?"
    cutoff = format_time(anchor.cutoff) if anchor.cutoff else "?"
    return (
        f"rows up to id {anchor.last_id} were pruned on {when} by retention "
        f"({anchor.pruned_rows} rows in all; that prune's cutoff {cutoff})"
    )


def compare_copy(last: AuditRow, stored: bytes | None, anchor: AuditAnchor) -> str | None:
    """The copy's last row against the table (or, for the last row pruned, the anchor):
    equal hashes vouch for every row of the copy that the table or the anchor still covers,
    since each hash seals all the rows before it."""
    when = format_time(last.entry.time)
    if stored is None:
        return f"row {last.id} ({when}) of the copy is not in the table: rows were removed"
    if stored == last.hash:
        return None
    if last.id == anchor.last_id:
        pruned = "is not the last row pruned"
        return f"row {last.id} ({when}) of the copy {pruned}: the chain was rewritten"
    return f"row {last.id} ({when}) differs from the copy: the chain was rewritten"


def read_copy(path: Path) -> tuple[int, AuditRow | None, str | None]:
    """A JSON Lines export, one row at a time: (rows, the last one, what is wrong or None).
    It may begin at any row (an export with `start`): its first prev_hash is taken as given,
    the table's chain vouches for the rows before it."""
    verifier = ChainVerifier(start=None)
    last = None
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    last = row_from_json(json.loads(line))
                except ValueError as err:
                    return verifier.rows, None, f"{path}:{number}: {err}"
                if verifier.feed(last) is not None:
                    break
    except OSError as err:
        return 0, None, f"cannot read {path}: {err.strerror}"
    broken = verifier.finish()
    if broken is not None:
        return verifier.rows, None, f"the copy, {broken.describe()}"
    return verifier.rows, last, None
