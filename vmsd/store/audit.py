"""SQL for the audit trail: the chained append, filtered pages, every row in id order, the
anchor and the prune of the oldest rows.

The chain itself (what is hashed, how) is the access domain's (vmsd.access.audit); the store
only serialises the appends and prunes (the chain's lock) and hands the previous row's hash
to the seal it is given. The database's triggers (migrations 0009, 0010) decide what may be
deleted: only a prefix the anchor covers, with its audit.prune row."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from vmsd.store.audit_row import ENTRY_FIELDS, AuditAnchor, AuditEntry, AuditRow, entry_values
from vmsd.store.db import QUERY_TIMEOUT_S, bounded_connection

if TYPE_CHECKING:
    from vmsd.store.db import Connection

# pg_advisory_xact_lock key: every box sharing the database appends to one chain, one at a
# time. "vmsd" + 2 (1 is the migrations').
AUDIT_LOCK_KEY = 0x766D_7364_0002
STREAM_BATCH_ROWS = 500
# An append waits on the chain's lock behind the others: a few seconds is a database in
# trouble, and the request that waits on it has done its act already.
APPEND_TIMEOUT_S = 3.0

# The row's columns, from its one description (store/audit_row.py).
_COLUMNS = ", ".join(("id", *ENTRY_FIELDS, "prev_hash", "hash"))
_INSERTED = (*ENTRY_FIELDS, "prev_hash", "hash")  # id is the sequence's
_INSERT = f"""INSERT INTO audit_log ({", ".join(_INSERTED)})
    VALUES ({", ".join(f"${n}" for n in range(1, len(_INSERTED) + 1))})
    RETURNING {_COLUMNS}"""  # noqa: S608 - constants only


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Exact matches, and time in [start, end)."""

    principal: str | None = None
    action: str | None = None
    target: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _values(entry: AuditEntry) -> list[object]:
    """The content as the INSERT takes it: details as JSON text for jsonb."""
    values = entry_values(entry)
    values["details"] = json.dumps(entry.details)
    return list(values.values())


def _row(r: asyncpg.Record) -> AuditRow:
    # The content exactly as stored, not cleaned again (audit_entry): that is what was hashed.
    content = {name: r[name] for name in ENTRY_FIELDS}
    content["details"] = json.loads(r["details"])
    return AuditRow(r["id"], AuditEntry(**content), bytes(r["prev_hash"]), bytes(r["hash"]))


# $1..$5: the filter; NULL matches everything.
_WHERE = """($1::text IS NULL OR principal = $1) AND ($2::text IS NULL OR action = $2)
    AND ($3::text IS NULL OR target = $3) AND ($4::timestamptz IS NULL OR time >= $4)
    AND ($5::timestamptz IS NULL OR time < $5)"""


def _args(f: AuditFilter) -> tuple[object, ...]:
    return (f.principal, f.action, f.target, f.start, f.end)


@dataclass(frozen=True, slots=True)
class RowHead:
    """A row's place and age: what a prune chooses by."""

    id: int
    time: datetime


_ANCHOR = "SELECT last_id, last_hash, pruned_rows, pruned_at, cutoff FROM audit_anchor"


def _anchor(r: asyncpg.Record | None) -> AuditAnchor:
    assert r is not None  # migration 0010 writes the one row; its trigger refuses a DELETE
    return AuditAnchor(
        r["last_id"], bytes(r["last_hash"]), r["pruned_rows"], r["pruned_at"], r["cutoff"]
    )


class LockedChain:
    """The chain inside one transaction holding its lock (AuditStore.locked): nothing is
    appended or pruned by anyone else until it commits."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def append(
        self, entry: AuditEntry, seal: Callable[[bytes], bytes], genesis: bytes
    ) -> AuditRow:
        """One row after the last: `hash = seal(prev_hash)`, where prev_hash is the last
        row's hash or `genesis`."""
        last = await self._conn.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        prev_hash = bytes(last) if last is not None else genesis
        row = await self._conn.fetchrow(_INSERT, *_values(entry), prev_hash, seal(prev_hash))
        assert row is not None
        return _row(row)

    async def oldest(self, limit: int) -> list[RowHead]:
        rows = await self._conn.fetch("SELECT id, time FROM audit_log ORDER BY id LIMIT $1", limit)
        return [RowHead(r["id"], r["time"]) for r in rows]

    async def last_id(self) -> int | None:
        value = await self._conn.fetchval("SELECT max(id) FROM audit_log")
        return int(value) if value is not None else None

    async def prune_through(self, last_id: int, cutoff: datetime) -> tuple[AuditAnchor, int]:
        """The anchor moved to row `last_id` (the database fills its hash, count and time),
        then every row up to it deleted: (the anchor, rows deleted). The transaction must
        still append the prune's audit.prune row, or the commit is refused."""
        anchor = _anchor(
            await self._conn.fetchrow(
                "UPDATE audit_anchor SET last_id = $1, cutoff = $2 "
                "RETURNING last_id, last_hash, pruned_rows, pruned_at, cutoff",
                last_id,
                cutoff,
            )
        )
        status = await self._conn.execute("DELETE FROM audit_log WHERE id <= $1", last_id)
        return anchor, int(status.split()[-1])


class AuditStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def locked(self, timeout_s: float) -> AsyncIterator[LockedChain]:
        """A transaction holding the chain's lock, ended (committed, or rolled back on an
        error) within `timeout_s` whatever the server does (TimeoutError)."""
        async with bounded_connection(self._pool, timeout_s) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)
            yield LockedChain(conn)

    async def append(
        self,
        entry: AuditEntry,
        seal: Callable[[bytes], bytes],
        genesis: bytes,
        timeout_s: float = APPEND_TIMEOUT_S,
    ) -> AuditRow:
        """One row after the last, under the chain's lock (LockedChain.append)."""
        async with self.locked(timeout_s) as chain:
            return await chain.append(entry, seal, genesis)

    async def anchor(self) -> AuditAnchor:
        return _anchor(await self._pool.fetchrow(_ANCHOR, timeout=QUERY_TIMEOUT_S))

    async def hash_of(self, row_id: int) -> bytes | None:
        value = await self._pool.fetchval(
            "SELECT hash FROM audit_log WHERE id = $1", row_id, timeout=QUERY_TIMEOUT_S
        )
        return bytes(value) if value is not None else None

    async def page(self, f: AuditFilter, limit: int, before_id: int | None) -> list[AuditRow]:
        """Newest first; `before_id`: the last id of the previous page."""
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM audit_log
                WHERE {_WHERE} AND ($6::bigint IS NULL OR id < $6)
                ORDER BY id DESC LIMIT $7""",  # noqa: S608 - constants only
            *_args(f),
            before_id,
            limit,
            timeout=QUERY_TIMEOUT_S,
        )
        return [_row(r) for r in rows]

    async def stream(
        self, f: AuditFilter, batch_rows: int = STREAM_BATCH_ROWS
    ) -> AsyncIterator[AuditRow]:
        """Every matching row in id order (the chain's), read in keyset batches: bounded
        memory, and no connection or transaction held between batches (a slow reader of an
        export neither pins a pool connection nor holds back vacuum). Rows appended while it
        runs are read too, up to the end it reaches."""
        after = 0
        while True:
            rows = await self._pool.fetch(
                f"""SELECT {_COLUMNS} FROM audit_log WHERE {_WHERE} AND id > $6
                    ORDER BY id LIMIT $7""",  # noqa: S608 - constants only
                *_args(f),
                after,
                batch_rows,
                timeout=QUERY_TIMEOUT_S,
            )
            for r in rows:
                yield _row(r)
            if len(rows) < batch_rows:
                return
            after = rows[-1]["id"]
