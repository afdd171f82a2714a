"""The login throttle with a fake clock: lockout per user name and per address, doubling,
capped, forgotten after the window, reset by a success, bounded memory."""

from __future__ import annotations

from vmsd.access.login_throttle import LoginThrottle
from vmsd.config.access import LoginConfig

CONFIG = LoginConfig(
    max_failures_per_user=3,
    max_failures_per_ip=5,
    lockout=10.0,
    max_lockout=35.0,
    failure_window=100.0,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(max_tracked: int = 100) -> tuple[LoginThrottle, Clock]:
    clock = Clock()
    return LoginThrottle(lambda: CONFIG, clock, max_tracked=max_tracked), clock


def test_the_user_is_locked_out_at_the_limit_and_doubles_per_further_failure() -> None:
    throttle, clock = make()
    assert throttle.record_failure("alice", "10.0.0.1") == []
    assert throttle.record_failure("alice", "10.0.0.2") == []
    assert throttle.retry_after("alice", "10.0.0.3") == 0
    assert throttle.record_failure("alice", "10.0.0.3") == ["user"]
    assert throttle.retry_after("alice", "10.0.0.9") == 10.0  # from any address
    assert throttle.retry_after("bob", "10.0.0.3") == 0  # the address is not locked
    clock.now += 10
    assert throttle.retry_after("alice", "10.0.0.1") == 0
    assert throttle.record_failure("alice", "10.0.0.1") == ["user"]
    assert throttle.retry_after("alice", "10.0.0.1") == 20.0
    clock.now += 20
    throttle.record_failure("alice", "10.0.0.1")
    assert throttle.retry_after("alice", "10.0.0.1") == 35.0  # 40, capped


def test_an_address_is_locked_out_whatever_the_names() -> None:
    throttle, _ = make()
    started = [throttle.record_failure(f"user{i}", "10.0.0.1") for i in range(5)]
    assert started == [[], [], [], [], ["ip"]]
    assert throttle.retry_after("anyone", "10.0.0.1") == 10.0
    assert throttle.retry_after("anyone", "10.0.0.2") == 0


def test_failures_are_forgotten_after_a_quiet_window() -> None:
    throttle, clock = make()
    throttle.record_failure("alice", "ip")
    throttle.record_failure("alice", "ip")
    clock.now += 101
    assert throttle.record_failure("alice", "ip") == []  # counting again from one


def test_a_success_resets_the_users_count_not_the_addresss() -> None:
    throttle, _ = make()
    for _ in range(2):
        throttle.record_failure("alice", "ip")
    throttle.record_success("alice")
    assert throttle.record_failure("alice", "ip") == []
    assert throttle.record_failure("alice", "ip") == []
    assert throttle.record_failure("alice", "ip") == ["user", "ip"]  # the address: 5th


def test_memory_is_bounded() -> None:
    throttle, _ = make(max_tracked=50)
    for i in range(500):
        throttle.record_failure(f"name{i}", f"10.0.{i // 250}.{i % 250}")
    assert throttle.tracked == (50, 50)
