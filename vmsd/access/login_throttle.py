"""Brute-force limits of the login: failures counted per user name (whether or not such a
user exists) and per client address, forgotten after `failure_window` without one (so a slow
guesser, one try per lockout, keeps its count); past a limit, a lockout that doubles with
each further failure. Pure: an injected monotonic clock, bounded memory."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from vmsd.config.access import LoginConfig

# Distinct names and addresses remembered per kind; the oldest are forgotten first (an
# attacker rotating through names must not grow the daemon's memory).
MAX_TRACKED = 10_000


@dataclass(slots=True)
class _Failures:
    count: int
    last_at: float
    locked_until: float = 0.0


class _Counter:
    def __init__(self, limit: Callable[[], int], max_tracked: int) -> None:
        self._limit = limit
        self._max = max_tracked
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    def locked_for(self, key: str, now: float) -> float:
        entry = self._entries.get(key)
        return max(0.0, entry.locked_until - now) if entry is not None else 0.0

    def fail(self, key: str, now: float, config: LoginConfig) -> bool:
        """Count a failure; True when it starts a lockout."""
        entry = self._entries.pop(key, None)
        if entry is None or now - entry.last_at > config.failure_window:
            entry = _Failures(0, now)
        entry.count += 1
        entry.last_at = now
        self._entries[key] = entry  # last: the most recent
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        over = entry.count - self._limit()
        if over < 0:
            return False
        entry.locked_until = now + min(config.max_lockout, config.lockout * 2.0**over)
        return True

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class LoginThrottle:
    """`settings` is read at each use, so a reload's new limits apply at once."""

    def __init__(
        self,
        settings: Callable[[], LoginConfig],
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._users = _Counter(lambda: settings().max_failures_per_user, max_tracked)
        self._ips = _Counter(lambda: settings().max_failures_per_ip, max_tracked)

    def retry_after(self, name: str, ip: str) -> float:
        """Seconds until a login as `name` from `ip` may be tried again; 0: now."""
        now = self._clock()
        return max(self._users.locked_for(name, now), self._ips.locked_for(ip, now))

    def record_failure(self, name: str, ip: str) -> list[str]:
        """Which lockouts this failure starts: "user", "ip", both or none."""
        now, config = self._clock(), self._settings()
        started = []
        if self._users.fail(name, now, config):
            started.append("user")
        if self._ips.fail(ip, now, config):
            started.append("ip")
        return started

    def record_success(self, name: str) -> None:
        """The user's count starts again (the address's does not: one good password from an
        address does not excuse its guesses at other names)."""
        self._users.forget(name)

    @property
    def tracked(self) -> tuple[int, int]:
        """(names, addresses) remembered now."""
        return len(self._users), len(self._ips)
