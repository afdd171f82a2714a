"""Restart policy as data. Pure: the caller supplies the attempt number and the randomness."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2  # +/- this fraction of the delay, so restarts do not synchronise
    reset_after_s: float = 60.0  # a run this long counts as healthy: the next delay is initial_s

    def delay_s(self, attempt: int, rand: float | None = None) -> float:
        """Delay before retry number `attempt` (0-based). `rand` in [0, 1) replaces random()."""
        base = min(self.max_s, self.initial_s * self.factor ** max(0, attempt))
        r = random.random() if rand is None else rand  # noqa: S311 - jitter, not crypto
        return max(0.0, min(self.max_s, base * (1 + self.jitter * (2 * r - 1))))

    def series(self) -> BackoffSeries:
        """A counter of consecutive failures under this policy: one per retry loop."""
        return BackoffSeries(self)


@dataclass(slots=True)
class BackoffSeries:
    """The one retry counter of every restart loop (supervisor, recorders, MediaMTX, the
    database's listener and embedded server): exponential delays for failures in a row, a new
    series after a run that lasted `reset_after_s`, or after a success."""

    policy: Backoff
    attempt: int = field(default=0)

    def failed(self, ran_s: float = 0.0, rand: float | None = None) -> float:
        """The delay before the next try, after a try that ran `ran_s` seconds and failed."""
        if ran_s >= self.policy.reset_after_s:
            self.attempt = 0  # it ran well for a while: this failure starts a new series
        delay = self.policy.delay_s(self.attempt, rand)
        self.attempt += 1
        return delay

    def succeeded(self) -> None:
        self.attempt = 0
