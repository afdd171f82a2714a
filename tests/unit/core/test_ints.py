"""Integers a client sent: ASCII digits, bounded."""

from __future__ import annotations

import pytest

from vmsd.core.ints import BIGINT_MAX, is_id, parse_int


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0", 0), ("1", 1), ("007", 7), (str(BIGINT_MAX), BIGINT_MAX), ("1000", 1000)],
)
def test_ascii_digits_parse(raw: str, expected: int) -> None:
    assert parse_int(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "\u00b3",  # isdigit() but not int()
        "\u0663",  # int() reads 3
        "\uff13",  # int() reads 3
        "1\u0663",
        "-1",
        "+1",
        "1_000",
        " 1",
        "1 ",
        "1\n",
        "",
        "1e3",
        "0x10",
        str(10**30),
        str(BIGINT_MAX + 1),
        "9" * 5000,  # past Python's int() digit limit: a ValueError, not a crash
    ],
)
def test_anything_else_is_a_value_error(raw: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse_int(raw)


def test_bounds_are_inclusive() -> None:
    assert parse_int("5", minimum=5, maximum=5) == 5
    with pytest.raises(ValueError, match="from 1 to 4"):
        parse_int("5", minimum=1, maximum=4)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(1, True), (BIGINT_MAX, True), (0, False), (-1, False), (BIGINT_MAX + 1, False),
     (10**30, False), (True, False), (1.0, False), ("1", False), (None, False)],
)
def test_is_id(value: object, ok: bool) -> None:
    assert is_id(value) is ok
