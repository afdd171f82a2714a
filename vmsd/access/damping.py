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
        self._blocked_until: dict[str, float] = {}

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
            if len(self._blocked_until) > self._max_tracked:
                self._expire_blocks(now)
                # Every block lasts block_s, so insertion order is expiry order.
                while len(self._blocked_until) > self._max_tracked:
                    del self._blocked_until[next(iter(self._blocked_until))]
            return True
        return False

    @property
    def blocked_count(self) -> int:
        self._expire_blocks(self._clock())
        return len(self._blocked_until)

    def _expire_blocks(self, now: float) -> None:
        for ip in [ip for ip, until in self._blocked_until.items() if until <= now]:
            del self._blocked_until[ip]
