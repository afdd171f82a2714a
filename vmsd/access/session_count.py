"""`vmsd_sessions_active`: the live console sessions, counted in the database every
SESSION_COUNT_INTERVAL_S. Sessions live in PostgreSQL, shared by every daemon on it and
outliving a restart, and end by time as well as by request (idle, lifetime), so a count kept
in memory would drift; a scrape reads the last count and never waits on the database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from vmsd.access.metrics import AccessMetrics
from vmsd.access.sessions import SessionService
from vmsd.core.errors import describe_error
from vmsd.core.log import get_logger
from vmsd.store.db import DB_UNAVAILABLE, QUERY_TIMEOUT_S

log = get_logger("vmsd.access")

# A session's idle end is only known to the minute (last_seen_at, TOUCH_EVERY): counting
# more often would not make the figure more exact.
SESSION_COUNT_INTERVAL_S = 30.0


class SessionCount:
    def __init__(
        self,
        sessions: SessionService,
        metrics: AccessMetrics,
        *,
        interval_s: float = SESSION_COUNT_INTERVAL_S,
        timeout_s: float = QUERY_TIMEOUT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._sleep = sleep

    async def run(self) -> None:
        """A count at once (the gauge is right soon after a start), then every interval. A
        database that is away keeps the last count: /readyz's `database` says why."""
        failing = False
        while True:
            try:
                await self.run_once()
            except DB_UNAVAILABLE as err:
                # One warning per outage, not one every interval while it lasts.
                level = log.debug if failing else log.warning
                level("sessions_count_deferred", error=describe_error(err))
                failing = True
            else:
                failing = False
            await self._sleep(self._interval_s)

    async def run_once(self) -> int:
        count = await self._sessions.count_live(self._timeout_s)
        self._metrics.sessions_active.set(count)
        return count
