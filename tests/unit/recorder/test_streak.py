"""FailureStreak: what is news among a recorder's failed runs, the repeat count, and the long
wait once a camera refuses the credentials again."""

from __future__ import annotations

from vmsd.recorder.failures import FailureClass
from vmsd.recorder.streak import UNAUTHORIZED_REPEATS, FailureStreak, Streak

UNAUTHORIZED, REFUSED = FailureClass.UNAUTHORIZED, FailureClass.REFUSED


def test_a_streak_starts_once_and_counts_its_repeats() -> None:
    streak = FailureStreak()
    first = streak.failed(REFUSED)
    assert first.news and first.ended is None and first.current == Streak(REFUSED, 1)
    steps = [streak.failed(REFUSED) for _ in range(4)]
    assert [s.news for s in steps] == [False] * 4
    assert streak.current == Streak(REFUSED, 5)


def test_a_new_class_is_news_and_names_the_streak_it_ends() -> None:
    streak = FailureStreak()
    for _ in range(3):
        streak.failed(REFUSED)
    step = streak.failed(UNAUTHORIZED)
    assert (
        step.news and step.ended == Streak(REFUSED, 3) and step.current == Streak(UNAUTHORIZED, 1)
    )


def test_recovery_ends_the_streak_and_the_next_failure_is_news_again() -> None:
    streak = FailureStreak()
    streak.failed(REFUSED)
    streak.failed(REFUSED)
    assert streak.recovered() == Streak(REFUSED, 2)
    assert streak.recovered() is None
    assert streak.failed(REFUSED).news


def test_the_long_wait_comes_with_the_repeated_refusal_only() -> None:
    streak = FailureStreak()
    assert streak.retry_delay(1.0, 300.0) == 1.0  # no failure yet
    streak.failed(UNAUTHORIZED)
    assert UNAUTHORIZED_REPEATS == 2
    assert streak.retry_delay(1.0, 300.0) == 1.0  # once may be a camera rebooting
    streak.failed(UNAUTHORIZED)
    assert streak.retry_delay(2.0, 300.0) == 300.0
    assert streak.retry_delay(600.0, 300.0) == 600.0  # never shorter than the backoff
    streak.failed(REFUSED)  # the password may be right now: the port is what fails
    assert streak.retry_delay(4.0, 300.0) == 4.0
