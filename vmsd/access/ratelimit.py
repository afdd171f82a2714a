"""The API's per-principal rate limit: one token bucket per principal label. Pure (the clock
is injected), bounded in memory.

The rate and burst are passed on every check, so a reload applies at the next request. A
bucket holds `burst` tokens and gains `rate` per second; a request takes one or is refused
with the time until one is there. Past `max_principals` buckets the least recently used is
dropped (its principal starts again with a full bucket: at worst one extra burst).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_PRINCIPALS = 10_000
# A principal refused again and again is reported (event) at most this often.
REPORT_INTERVAL_S = 60.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    reported: float | None = None  # when a refusal was last reported


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: float = 0.0  # refused: until one token is back
    report: bool = False  # refused, and not reported for this principal in the last minute


ALLOWED = RateDecision(True)


class RateLimiter:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_principals: int = MAX_PRINCIPALS
    ) -> None:
        self._clock = clock
        self._max = max_principals
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, label: str, rate: float, burst: int) -> RateDecision:
        """Take one token from `label`'s bucket. `rate` > 0 (requests per second)."""
        now = self._clock()
        bucket = self._buckets.get(label)
        if bucket is None:
            bucket = _Bucket(float(burst), now)
            self._buckets[label] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(label)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(burst), bucket.tokens + elapsed * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return ALLOWED
        report = bucket.reported is None or now - bucket.reported >= REPORT_INTERVAL_S
        if report:
            bucket.reported = now
        return RateDecision(False, (1.0 - bucket.tokens) / rate, report)
