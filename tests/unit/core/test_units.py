"""Durations and sizes: the parser takes exactly what the documented pattern says."""

from __future__ import annotations

import re

import pytest

from vmsd.core.units import (
    DURATION_PATTERN,
    MAX_TEXT_CHARS,
    SIZE_PATTERN,
    TEXT_DURATION_PATTERN,
    parse_duration_s,
    parse_size_bytes,
    parse_text_duration_s,
)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90s", 90.0), ("6h", 21600.0), (" 30d ", 2592000.0), ("0.5m", 30.0), (2, 2.0), (0.25, 0.25)],
)
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration_s(raw) == seconds


@pytest.mark.parametrize(
    ("raw", "size"),
    [("500GiB", 500 * 2**30), ("2TB", 2 * 10**12), ("1048576", 1048576), ("0.5B", 1),
     ("1.5kib", 1536), ("1.5", 1), (7, 7), (8.0, 8)],
)
def test_sizes(raw: object, size: int) -> None:
    assert parse_size_bytes(raw) == size


NEVER = ["", "\u0663", "\uff13", "1e3", "-1", "1 0", {}, [], None, True, "9" * (MAX_TEXT_CHARS + 1)]


@pytest.mark.parametrize("raw", [*NEVER, "0s", "s", "1", "\u0663d", "1e3s", "1\ts", "5x"])
def test_bad_durations_are_value_errors(raw: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s(raw)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("600", 600.0), ("90s", 90.0), (" 15m", 900.0), ("1h", 3600.0), ("2.5", 2.5)],
)
def test_text_durations_take_bare_seconds(raw: str, seconds: float) -> None:
    assert parse_text_duration_s(raw) == seconds
    assert re.fullmatch(TEXT_DURATION_PATTERN, raw)


@pytest.mark.parametrize("raw", [*NEVER, "0", "0s", "s", 600, "1 0", "5x"])
def test_bad_text_durations_are_value_errors(raw: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_text_duration_s(raw)
    assert not isinstance(raw, str) or not re.fullmatch(TEXT_DURATION_PATTERN, raw)


@pytest.mark.parametrize("raw", [*NEVER, "0B", "0", "B", "\u0663KB", 1.5, 0, -3, "5x"])
def test_bad_sizes_are_value_errors(raw: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size_bytes(raw)


@pytest.mark.parametrize(("pattern", "ok", "bad"), [
    (DURATION_PATTERN, ["1s", " 2 w ", "0.1h", "999999999w"], ["0s", "1000000000w", "1.s"]),
    (SIZE_PATTERN, ["1", "1 KiB", "0.5b", "9" * 18 + "B"], ["0", "9" * 19, "1 KiBB"]),
])
def test_patterns_are_json_schema_compatible(pattern: str, ok: list[str], bad: list[str]) -> None:
    """Plain ECMA-262 syntax (no flags, no Python-only escapes); the same verdicts."""
    assert "\\d" not in pattern and "(?i" not in pattern and "(?P" not in pattern
    compiled = re.compile(pattern)
    assert all(compiled.fullmatch(v) for v in ok)
    assert not any(compiled.fullmatch(v) for v in bad)
