"""The audit trail's retention job: every AUDIT_PRUNE_EVERY_S, the rows older than
`audit.retention_days` pruned, oldest first, in batches (AuditLog.prune: each its own short
transaction, so appends wait on the chain's lock for one batch at most)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from vmsd.access.audit import format_time
from vmsd.access.audit_log import utc_now
from vmsd.access.audit_retention import retention_cutoff
from vmsd.config.load import ConfigHolder
from vmsd.core.errors import describe_error
from vmsd.core.log import get_logger
from vmsd.store.db import DB_UNAVAILABLE, QUERY_TIMEOUT_S

log = get_logger("vmsd.audit")

AUDIT_PRUNE_EVERY_S = 3600.0  # retention is in days: an hour late costs nothing
AUDIT_PRUNE_RETRY_S = 60.0  # a pass the database did not answer is tried again this soon
# Rows per batch: the appends of every box wait on the chain's lock while a batch deletes
# (its row triggers included). Measured on a loaded 2-core box (bench/audit.py): 60 ms at
# the median, 110 ms at p99, far under an append's 3 s (APPEND_TIMEOUT_S, store/audit.py).
AUDIT_PRUNE_BATCH_ROWS = 2000


class Prunable(Protocol):
    """What the job prunes with (vmsd.access.audit_log.AuditLog.prune)."""

    async def prune(self, cutoff: datetime, batch_rows: int, timeout_s: float) -> int: ...


class AuditPruner:
    def __init__(
        self,
        holder: ConfigHolder,
        audit: Prunable,
        *,
        clock: Callable[[], datetime] = utc_now,
        batch_rows: int = AUDIT_PRUNE_BATCH_ROWS,
        timeout_s: float = QUERY_TIMEOUT_S,
        interval_s: float = AUDIT_PRUNE_EVERY_S,
        retry_s: float = AUDIT_PRUNE_RETRY_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._holder = holder
        self._audit = audit
        self._clock = clock
        self._batch_rows = batch_rows
        self._timeout_s = timeout_s
        self._interval_s = interval_s
        self._retry_s = retry_s
        self._sleep = sleep

    async def run(self) -> None:
        """A pass at once, then every interval. A database that is away is logged and the
        pass tried again sooner: what it did not prune waits for the next one."""
        while True:
            try:
                await self.run_once()
            except DB_UNAVAILABLE as err:
                log.warning("audit_prune_failed", error=describe_error(err))
                await self._sleep(self._retry_s)
                continue
            await self._sleep(self._interval_s)

    async def run_once(self) -> int:
        """Every row older than the retention pruned, batch after batch; returns how many.
        A batch that fails ends the pass (raised); the batches before it stay done."""
        days = self._holder.current.audit.retention_days
        cutoff = retention_cutoff(self._clock(), days)
        if cutoff is None:
            return 0
        pruned = 0
        while True:
            batch = await self._audit.prune(cutoff, self._batch_rows, self._timeout_s)
            pruned += batch
            if batch < self._batch_rows:  # the prefix ended at a recent row, or at the last
                break
        if pruned:
            log.info(
                "audit_pruned", rows=pruned, retention_days=days, cutoff=format_time(cutoff)
            )
        return pruned
