"""The per-principal token bucket with a fake clock: burst, refusal with the wait, refill,
a live change of rate, the memory bound, one report a minute."""

from __future__ import annotations

from vmsd.access.ratelimit import REPORT_INTERVAL_S, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_requests_wait_for_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert all(limiter.check("token:a", 2.0, 3).allowed for _ in range(3))
    refused = limiter.check("token:a", 2.0, 3)
    assert not refused.allowed
    assert refused.retry_after_s == 0.5  # one token at 2/s
    clock.now += 0.25
    assert limiter.check("token:a", 2.0, 3).retry_after_s == 0.25
    clock.now += 0.25
    assert limiter.check("token:a", 2.0, 3).allowed
    assert not limiter.check("token:a", 2.0, 3).allowed


def test_principals_have_their_own_buckets_and_a_bucket_never_exceeds_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.check("token:a", 1.0, 1).allowed
    assert not limiter.check("token:a", 1.0, 1).allowed
    assert limiter.check("user:b", 1.0, 1).allowed
    clock.now += 3600
    assert limiter.check("token:a", 1.0, 2).allowed
    assert limiter.check("token:a", 1.0, 2).allowed
    assert not limiter.check("token:a", 1.0, 2).allowed


def test_a_new_rate_applies_at_the_next_request() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.check("token:a", 1.0, 1).allowed
    assert limiter.check("token:a", 1.0, 1).retry_after_s == 1.0
    assert limiter.check("token:a", 10.0, 1).retry_after_s == 0.1


def test_memory_is_bounded_least_recently_used_first() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, max_principals=3)
    for name in ("a", "b", "c"):
        assert limiter.check(name, 1.0, 1).allowed
    assert not limiter.check("a", 1.0, 1).allowed  # `a` is now the most recent
    assert limiter.check("d", 1.0, 1).allowed  # drops `b`
    assert len(limiter) == 3
    assert not limiter.check("a", 1.0, 1).allowed  # kept: still empty
    assert limiter.check("b", 1.0, 1).allowed  # dropped: a full bucket again


def test_a_refused_principal_is_reported_once_a_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.check("token:a", 0.001, 1)
    reports = []
    for _ in range(5):
        reports.append(limiter.check("token:a", 0.001, 1).report)
        clock.now += 10
    assert reports == [True, False, False, False, False]
    clock.now += REPORT_INTERVAL_S
    assert limiter.check("token:a", 0.001, 1).report
    assert limiter.check("user:b", 0.001, 1).allowed
    assert limiter.check("user:b", 0.001, 1).report  # its own minute
