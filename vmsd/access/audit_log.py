"""The audit trail as a service: record an act (the row chained under the lock), page and
export the rows, verify the chain from its anchor, prune the oldest rows."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from vmsd.access.audit import (
    GENESIS,
    PRUNE_ACTION,
    SYSTEM,
    ChainBreak,
    TrailVerifier,
    audit_entry,
    chain_hash,
)
from vmsd.access.audit_metrics import AuditMetrics
from vmsd.access.audit_retention import prune_details, select_prune
from vmsd.core.errors import StoreError, ValidationError, describe_error
from vmsd.core.ints import is_id
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.store.audit import AuditFilter, AuditStore
from vmsd.store.audit_row import AuditAnchor, AuditEntry, AuditRow
from vmsd.store.db import DB_UNAVAILABLE, QUERY_TIMEOUT_S

log = get_logger("vmsd.audit")
OK = "ok"
# A verify that meets a prune (the daemon's, while it reads) starts again from the new anchor
# this many times at most: a prune moves the anchor at most once per batch.
VERIFY_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class TrailCheck:
    """What a verify found: the rows read, the first break (None: the trail holds), and the
    anchor it started from."""

    rows: int
    broken: ChainBreak | None
    anchor: AuditAnchor


def utc_now() -> datetime:
    return datetime.now(UTC)


def encode_cursor(row: AuditRow) -> str:
    return base64.urlsafe_b64encode(json.dumps([row.id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        (row_id,) = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not is_id(row_id):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as err:
        raise ValidationError(
            "invalid cursor", [{"field": "cursor", "message": "not a cursor from this API"}]
        ) from err
    return int(row_id)


# What a read of a database that is away raises (a StoreError: 503 in the API).
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _unreachable(err: Exception) -> StoreError:
    # The database's words (host, port) are for operators: others see what failed.
    return StoreError("the audit log is unreachable", internal_details=[describe_error(err)])


class AuditLog:
    def __init__(
        self, store: AuditStore, metrics: Metrics, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._store = store
        self._metrics = metrics.group(AuditMetrics)
        self._clock = clock

    async def record(
        self,
        principal: str,
        action: str,
        result: str,
        *,
        client_ip: str = "",
        target: str = "",
        request_id: str = "",
        details: Mapping[str, object] | None = None,
    ) -> bool:
        """Append one row; False if it could not be written. The act it records has
        happened either way, so a failure is not raised: it is logged as
        `audit_write_failed` with the row's content (the journal keeps what the table
        lacks) and counted in vmsd_audit_write_failures_total."""
        entry = audit_entry(
            self._clock(),
            principal,
            action,
            result,
            client_ip=client_ip,
            target=target,
            request_id=request_id,
            details=details,
        )
        started = time.perf_counter()
        try:
            await self._store.append(entry, functools.partial(chain_hash, entry=entry), GENESIS)
        except DB_UNAVAILABLE as err:
            self._metrics.write_failures.inc()
            log.error(
                "audit_write_failed",
                error=describe_error(err),
                principal=entry.principal,
                audit_action=entry.action,
                target=entry.target,
                result=entry.result,
                client_ip=entry.client_ip,
                audit_request_id=entry.request_id,
                audit_time=entry.time.isoformat(),
            )
            return False
        self._metrics.append_duration.observe(time.perf_counter() - started)
        self._metrics.rows.labels("ok" if entry.result == OK else "error").inc()
        return True

    async def page(
        self, f: AuditFilter, limit: int, cursor: str | None
    ) -> tuple[list[AuditRow], str | None]:
        """A page, newest first, and the cursor of the next one (None: the last page)."""
        before = decode_cursor(cursor) if cursor else None
        try:
            rows = await self._store.page(f, limit + 1, before)
        except _DB_ERRORS as err:
            raise _unreachable(err) from err
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]) if more and rows else None

    async def rows(self, f: AuditFilter) -> AsyncIterator[AuditRow]:
        """Every matching row, oldest first (the chain's order)."""
        try:
            async for row in self._store.stream(f):
                yield row
        except _DB_ERRORS as err:
            raise _unreachable(err) from err

    async def hash_of(self, row_id: int) -> bytes | None:
        """The stored hash of one row (None: no such row)."""
        try:
            return await self._store.hash_of(row_id)
        except _DB_ERRORS as err:
            raise _unreachable(err) from err

    async def anchor(self) -> AuditAnchor:
        try:
            return await self._store.anchor()
        except _DB_ERRORS as err:
            raise _unreachable(err) from err

    async def verify(self) -> tuple[int, ChainBreak | None]:
        """The rows read and the first broken one (None: the chain holds)."""
        checked = await self.check()
        return checked.rows, checked.broken

    async def check(self) -> TrailCheck:
        """The trail verified from its anchor. Rows are read in batches, not in one
        snapshot, so a prune that runs meanwhile looks like a break at its new first row:
        a break with the anchor moved since is checked again from the new anchor."""
        anchor = await self.anchor()
        for _ in range(VERIFY_ATTEMPTS):
            verifier = TrailVerifier(anchor)
            async for row in self.rows(AuditFilter()):
                if verifier.feed(row) is not None:
                    break
            broken = verifier.finish()
            moved = await self.anchor() if broken is not None else anchor
            if moved == anchor:
                break
            anchor = moved
        return TrailCheck(verifier.rows, broken, anchor)

    async def prune(
        self, cutoff: datetime, batch_rows: int, timeout_s: float = QUERY_TIMEOUT_S
    ) -> int:
        """One batch: the oldest rows older than `cutoff`, at most `batch_rows`, deleted in one
        transaction under the chain's lock with the anchor moved past them and the prune's
        own row appended (principal `system`, action `audit.prune`). Returns the rows
        deleted (0: none to prune). Raises what a database that is away raises."""
        async with self._store.locked(timeout_s) as chain:
            last_id = await chain.last_id()
            chosen = select_prune(await chain.oldest(batch_rows), cutoff, last_id or 0)
            if chosen is None:
                return 0
            _, deleted = await chain.prune_through(chosen.id, cutoff)
            entry = self._prune_entry(deleted, chosen.id, cutoff)
            await chain.append(entry, functools.partial(chain_hash, entry=entry), GENESIS)
        self._metrics.pruned.inc(deleted)
        self._metrics.rows.labels(OK).inc()
        return deleted

    def _prune_entry(self, deleted: int, up_to_id: int, cutoff: datetime) -> AuditEntry:
        details = prune_details(deleted, up_to_id, cutoff)
        return audit_entry(self._clock(), SYSTEM, PRUNE_ACTION, OK, details=details)
