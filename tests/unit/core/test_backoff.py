from __future__ import annotations

import pytest

from vmsd.core.backoff import Backoff


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 1.0), (1, 2.0), (2, 4.0), (4, 16.0), (5, 30.0), (50, 30.0)]
)
def test_exponential_capped_without_jitter(attempt: int, expected: float) -> None:
    assert Backoff(1.0, 30.0, 2.0, jitter=0.0).delay_s(attempt) == expected


def test_jitter_bounds() -> None:
    policy = Backoff(1.0, 30.0, 2.0, jitter=0.2)
    assert policy.delay_s(2, rand=0.0) == pytest.approx(3.2)
    assert policy.delay_s(2, rand=0.999999) == pytest.approx(4.8, rel=1e-4)
    assert policy.delay_s(10, rand=0.999999) == 30.0  # never above the cap


def test_series_doubles_for_failures_in_a_row_and_starts_anew() -> None:
    series = Backoff(1.0, 30.0, 2.0, jitter=0.0, reset_after_s=60.0).series()
    assert [series.failed(ran_s=3.0) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert series.failed(ran_s=61.0) == 1.0  # a healthy run: this failure is a first one
    assert series.failed() == 2.0
    series.succeeded()
    assert (series.failed(), series.attempt) == (1.0, 1)
