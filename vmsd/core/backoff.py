"""Restart policy as data. Pure: the caller supplies the attempt number and the randomness."""

from __future__ import annotations

import random
from dataclasses import dataclass


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

    def next_attempt(self, attempt: int, healthy_run_s: float) -> int:
        """The attempt counter after a run that lasted `healthy_run_s` seconds."""
        return 0 if healthy_run_s >= self.reset_after_s else attempt + 1
