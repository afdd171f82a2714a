"""SQL for the audit trail: the chained append, filtered pages, every row in id order.

The chain itself (what is hashed, how) is the access domain's (vmsd.access.audit); the store
only serialises the appends and hands the previous row's hash to the seal it is given."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from vmsd.store.db import QUERY_TIMEOUT_S, bounded_connection

# pg_advisory_xact_lock key: every box sharing the database appends to one chain, one at a
# time. "vmsd" + 2 (1 is the migrations').
AUDIT_LOCK_KEY = 0x766D_7364_0002
STREAM_BATCH_ROWS = 500
# An append waits on the chain's lock behind the others: a few seconds is a database in
# trouble, and the request that waits on it has done its act already.
APPEND_TIMEOUT_S = 3.0

_COLUMNS = (
    "id, time, principal, client_ip, action, target, result, request_id, details, "
    "prev_hash, hash"
)


class AuditContent(Protocol):
    """What a row holds besides its id and hashes (vmsd.access.audit.AuditEntry)."""

    @property
    def time(self) -> datetime: ...
    @property
    def principal(self) -> str: ...
    @property
    def client_ip(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def details(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    time: datetime
    principal: str
    client_ip: str
    action: str
    target: str
    result: str
    request_id: str
    details: dict[str, Any]
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Exact matches, and time in [start, end)."""

    principal: str | None = None
    action: str | None = None
    target: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _row(r: asyncpg.Record) -> AuditRow:
    return AuditRow(
        id=r["id"],
        time=r["time"],
        principal=r["principal"],
        client_ip=r["client_ip"],
        action=r["action"],
        target=r["target"],
        result=r["result"],
        request_id=r["request_id"],
        details=json.loads(r["details"]),
        prev_hash=bytes(r["prev_hash"]),
        hash=bytes(r["hash"]),
    )


# $1..$5: the filter; NULL matches everything.
_WHERE = """($1::text IS NULL OR principal = $1) AND ($2::text IS NULL OR action = $2)
    AND ($3::text IS NULL OR target = $3) AND ($4::timestamptz IS NULL OR time >= $4)
    AND ($5::timestamptz IS NULL OR time < $5)"""


def _args(f: AuditFilter) -> tuple[object, ...]:
    return (f.principal, f.action, f.target, f.start, f.end)


class AuditStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(
        self,
        content: AuditContent,
        seal: Callable[[bytes], bytes],
        genesis: bytes,
        timeout_s: float = APPEND_TIMEOUT_S,
    ) -> AuditRow:
        """One row after the last: under the chain's lock, `hash = seal(prev_hash)`, where
        prev_hash is the last row's hash or `genesis`. Ends within `timeout_s` whatever the
        server does (TimeoutError)."""
        async with bounded_connection(self._pool, timeout_s) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)
            last = await conn.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
            prev_hash = bytes(last) if last is not None else genesis
            row = await conn.fetchrow(
                f"""INSERT INTO audit_log (time, principal, client_ip, action, target, result,
                       request_id, details, prev_hash, hash)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)
                   RETURNING {_COLUMNS}""",  # noqa: S608 - constants only
                content.time,
                content.principal,
                content.client_ip,
                content.action,
                content.target,
                content.result,
                content.request_id,
                json.dumps(content.details),
                prev_hash,
                seal(prev_hash),
            )
        assert row is not None
        return _row(row)

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
