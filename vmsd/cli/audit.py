"""The audit trail from the command line: rows for what a command changes (`vmsd token ...`,
`vmsd user ...`) and `vmsd audit verify`."""

from __future__ import annotations

import contextlib
import os
import pwd
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import asyncpg

from vmsd.access.audit import cli_principal
from vmsd.access.audit_log import AuditLog
from vmsd.core.errors import EXIT_CRASH, EXIT_OK, VmsdError
from vmsd.core.metrics import Metrics
from vmsd.store.audit import AuditStore


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


async def verify(pool: asyncpg.Pool) -> int:
    """`ok: N rows` and 0, or the first broken row and 1."""
    rows, broken = await audit_log(pool).verify()
    if broken is None:
        print(f"ok: {rows} rows")
        return EXIT_OK
    print(f"broken: {broken.describe()}")
    return EXIT_CRASH
