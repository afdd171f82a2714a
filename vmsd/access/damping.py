"""Brute-force damping for the auth endpoint: too many failed credentialed attempts from one
IP within a window deny that IP outright for a cool-down, without touching other IPs.

Anonymous attempts are not failures: an RTSP client's first request normally carries no
credentials and is denied so that it sends them.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_TRACKED_IPS = 10_000  # bounded memory under a spray of source addresses


class FailureDamper:
    def __init__(
        self,
        limit: int,
        window_s: float,
        block_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED_IPS,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._block_s = block_s
        self._clock = clock
        self._max_tracked = max_tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        # Every block lasts block_s and is added when it begins, so this order is expiry
        # order: expiring and evicting take from the front (O(1) each in an OrderedDict,
        # unlike a dict, whose next(iter()) walks past every slot deleted before it).
        self._blocked_until: OrderedDict[str, float] = OrderedDict()

    def blocked(self, ip: str) -> bool:
        until = self._blocked_until.get(ip)
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._blocked_until[ip]
        return False

    def record_failure(self, ip: str) -> bool:
        """Count one failure; True when this one starts a block."""
        now = self._clock()
        times = self._failures.get(ip)
        if times is None:
            times = deque(maxlen=self._limit)
            self._failures[ip] = times
            while len(self._failures) > self._max_tracked:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(ip)
        times.append(now)
        if len(times) >= self._limit and now - times[0] <= self._window_s:
            self._blocked_until[ip] = now + self._block_s
            del self._failures[ip]
            self._blocked_until.move_to_end(ip)
            if len(self._blocked_until) > self._max_tracked:
                self._expire_blocks(now)
                while len(self._blocked_until) > self._max_tracked:
                    self._blocked_until.popitem(last=False)
            return True
        return False

    @property
    def blocked_count(self) -> int:
        self._expire_blocks(self._clock())
        return len(self._blocked_until)

    def _expire_blocks(self, now: float) -> None:
        """Only the expired ones are visited: this runs each time a block begins, and a scan
        of every block would make a spray of blocks quadratic."""
        blocked = self._blocked_until
        while blocked and blocked[next(iter(blocked))] <= now:
            blocked.popitem(last=False)
