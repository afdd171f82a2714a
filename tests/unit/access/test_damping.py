"""FailureDamper: per-IP brute-force damping with an injected clock."""

from __future__ import annotations

import time

import pytest

from vmsd.access.damping import MAX_TRACKED_IPS, FailureDamper


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def damper(
    clock: FakeClock,
    limit: int = 3,
    window_s: float = 60.0,
    block_s: float = 300.0,
    max_tracked: int = MAX_TRACKED_IPS,
) -> FailureDamper:
    return FailureDamper(limit, window_s, block_s, clock=clock, max_tracked=max_tracked)


def fail_at(d: FailureDamper, clock: FakeClock, ip: str, offsets: list[float]) -> list[bool]:
    """Failures at absolute offsets from the clock's start; what record_failure returned."""
    start = clock.now
    started = []
    for offset in offsets:
        clock.now = start + offset
        started.append(d.record_failure(ip))
    return started


@pytest.mark.parametrize(
    ("limit", "window_s", "offsets", "blocked"),
    [
        pytest.param(3, 60, [0, 1, 2], True, id="burst"),
        pytest.param(3, 60, [0, 1], False, id="below-limit"),
        pytest.param(3, 60, [0, 30, 60], True, id="exactly-the-window"),
        pytest.param(3, 60, [0, 30, 60.001], False, id="just-beyond-the-window"),
        pytest.param(3, 60, [0, 50, 100, 150, 200], False, id="spread-out"),
        pytest.param(3, 60, [0, 100, 101, 102], True, id="old-failure-slides-out"),
        pytest.param(1, 60, [0], True, id="limit-one"),
        pytest.param(5, 10, [0, 1, 2, 3, 11, 12], False, id="never-five-in-ten-seconds"),
        pytest.param(5, 10, [0, 1, 2, 3, 9.5], True, id="five-in-ten-seconds"),
    ],
)
def test_block_after_limit_within_window(
    limit: int, window_s: float, offsets: list[float], blocked: bool
) -> None:
    clock = FakeClock()
    d = damper(clock, limit=limit, window_s=window_s)
    started = fail_at(d, clock, "198.51.100.7", offsets)
    assert d.blocked("198.51.100.7") is blocked
    # Only the failure that starts the block says so.
    assert started == [False] * (len(offsets) - 1) + [blocked]
    assert d.blocked_count == int(blocked)


def test_unknown_ip_is_not_blocked() -> None:
    d = damper(FakeClock())
    assert not d.blocked("203.0.113.1")
    assert d.blocked_count == 0


def test_other_ips_unaffected() -> None:
    clock = FakeClock()
    d = damper(clock, limit=3)
    fail_at(d, clock, "198.51.100.7", [0, 1, 2])
    d.record_failure("198.51.100.8")
    d.record_failure("198.51.100.8")
    assert d.blocked("198.51.100.7")
    assert not d.blocked("198.51.100.8")
    assert not d.blocked("::1")
    assert d.blocked_count == 1


def test_failures_of_different_ips_do_not_add_up() -> None:
    clock = FakeClock()
    d = damper(clock, limit=3)
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2"):
        assert not d.record_failure(ip)
    assert d.blocked_count == 0


@pytest.mark.parametrize(
    ("after", "blocked"),
    [(0, True), (299.999, True), (300, False), (301, False), (10_000, False)],
)
def test_block_expires_after_block_seconds(after: float, blocked: bool) -> None:
    clock = FakeClock()
    d = damper(clock, limit=2, block_s=300)
    fail_at(d, clock, "198.51.100.7", [0, 1])
    clock.advance(after)
    assert d.blocked("198.51.100.7") is blocked
    assert d.blocked_count == int(blocked)


def test_block_starts_counting_afresh() -> None:
    """After a block ends, one more failure does not block again: the count was reset."""
    clock = FakeClock()
    d = damper(clock, limit=3, window_s=60, block_s=30)
    fail_at(d, clock, "198.51.100.7", [0, 1, 2])
    clock.advance(31)
    assert not d.blocked("198.51.100.7")
    assert not d.record_failure("198.51.100.7")
    assert not d.record_failure("198.51.100.7")
    assert not d.blocked("198.51.100.7")
    assert d.record_failure("198.51.100.7")
    assert d.blocked("198.51.100.7")


def test_blocked_count_expires_lazily() -> None:
    clock = FakeClock()
    d = damper(clock, limit=1, block_s=100)
    d.record_failure("10.0.0.1")
    clock.advance(50)
    d.record_failure("10.0.0.2")
    assert d.blocked_count == 2
    clock.advance(50)  # the first block ends exactly now
    assert d.blocked_count == 1
    clock.advance(50)
    assert d.blocked_count == 0


def test_tracked_failures_are_bounded_least_recently_failed_first() -> None:
    """With room for three IPs, a fourth evicts the one that failed longest ago."""
    clock = FakeClock()
    d = damper(clock, limit=3, max_tracked=3)
    d.record_failure("a")
    d.record_failure("b")
    d.record_failure("c")
    d.record_failure("a")  # a is now the most recent
    d.record_failure("d")  # evicts b, the least recent
    assert d.record_failure("a")  # a's two earlier failures were kept: blocked on the third
    d.record_failure("b")
    d.record_failure("b")
    assert not d.blocked("b")  # b's first failure was forgotten
    assert d.record_failure("b")


def test_spray_of_single_failures_is_forgotten() -> None:
    """Many IPs failing once each: none is blocked and the oldest are no longer counted."""
    clock = FakeClock()
    d = damper(clock, limit=2, max_tracked=100)
    for i in range(5_000):
        assert not d.record_failure(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert d.blocked_count == 0
    assert not d.record_failure("10.0.0.0")  # its first failure was evicted long ago
    assert d.record_failure("10.0.19.135")  # the last of the spray is still tracked


def test_blocked_table_is_bounded_under_a_spray() -> None:
    clock = FakeClock()
    d = damper(clock, limit=1, max_tracked=50)
    for i in range(500):
        d.record_failure(f"2001:db8::{i:x}")
    assert d.blocked_count <= 50


def test_blocks_expire_and_are_evicted_oldest_first() -> None:
    clock = FakeClock()
    d = damper(clock, limit=1, block_s=100, max_tracked=3)
    for ip in "abcd":  # a@0 b@10 c@20 d@30: the fourth evicts a, the block that began first
        d.record_failure(ip)
        clock.advance(10)
    assert [d.blocked(ip) for ip in "abcd"] == [False, True, True, True]
    clock.now = 1000 + 115  # b's block (10 + 100) is over, c's (20 + 100) is not
    assert d.blocked_count == 2
    d.record_failure("e")
    assert [d.blocked(ip) for ip in "bcde"] == [False, True, True, True]


def test_a_spray_of_blocks_costs_each_block_alike() -> None:
    """Each block that begins reads blocked_count (the auth hook sets a gauge): that visits
    only the blocks that have ended, not every one (a spray of 50,000 used to take seconds)."""
    clock = FakeClock()
    d = damper(clock, limit=1, block_s=5_000)
    started = time.perf_counter()
    for i in range(50_000):
        clock.advance(1)
        assert d.record_failure(f"2001:db8::{i:x}")
        assert d.blocked_count == min(i + 1, 5_000)
    assert time.perf_counter() - started < 1.5
