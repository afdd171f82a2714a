"""Parsing of human-written durations and sizes (`30d`, `90s`, `500GiB`). Pure."""

from __future__ import annotations

import re


# The grammar as JSON Schema patterns too (the API document states exactly what is taken):
# ASCII digits only (Python's \d is every script's digits, and float() reads them), a
# positive number (zero is refused) of at most 9 (durations) or 18 (sizes) whole digits,
# spaces around the parts.
def _positive(whole_digits: int) -> str:
    more = whole_digits - 1
    return rf"(?:0*[1-9][0-9]{{0,{more}}}(?:\.[0-9]+)?|0+\.[0-9]*[1-9][0-9]*)"


DURATION_PATTERN = rf"^ *({_positive(9)}) *([smhdw]) *$"
# A query string's duration: the unit may be left out (seconds), as a number would be.
TEXT_DURATION_PATTERN = rf"^ *({_positive(9)}) *([smhdw]?) *$"
SIZE_PATTERN = rf"^ *({_positive(18)}) *((?:[KkMmGgTtPp][Ii]?)?[Bb])? *$"
MAX_TEXT_CHARS = 40
MAX_DURATION_S = float(10**9 * 7 * 86400)  # what the longest text can say: 999999999w
_DURATION_RE = re.compile(DURATION_PATTERN)
_TEXT_DURATION_RE = re.compile(TEXT_DURATION_PATTERN)
_DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_SIZE_RE = re.compile(SIZE_PATTERN)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}


def _text_match(pattern: re.Pattern[str], value: str) -> re.Match[str] | None:
    return pattern.fullmatch(value) if len(value) <= MAX_TEXT_CHARS else None


def parse_duration_s(value: object) -> float:
    """`90s`, `6h`, `30d`, `2w` or a bare number of seconds -> seconds (> 0)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _text_match(_DURATION_RE, value)) is not None:
        seconds = float(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
    else:
        raise ValueError(f"must be a duration like 90s, 6h, 30d (got {_q(value)})")
    if not 0 < seconds <= MAX_DURATION_S:
        raise ValueError(f"must be a positive duration (got {_q(value)})")
    return seconds


def parse_text_duration_s(value: object) -> float:
    """A query string's duration: `90s`, `15m`, `1h`, or `90` (seconds) -> seconds (> 0)."""
    if isinstance(value, str) and (match := _text_match(_TEXT_DURATION_RE, value)) is not None:
        return parse_duration_s(match.group(1) + (match.group(2) or "s"))
    raise ValueError(f"must be seconds or a duration like 90s, 15m, 1h (got {_q(value)})")


def parse_size_bytes(value: object) -> int:
    """`500GiB`, `2TB`, `1048576` -> bytes (> 0). Binary (KiB) and decimal (KB) units; a
    positive size below one byte is one byte."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON's 1.0 is the integer 1
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _text_match(_SIZE_RE, value)) is not None:
        unit = (match.group(2) or "B").lower()
        size = max(1, int(float(match.group(1)) * _SIZE_UNITS[unit]))
    else:
        raise ValueError(f"must be a size like 500GiB or 2TB (got {_q(value)})")
    if size <= 0:
        raise ValueError(f"must be a positive size (got {_q(value)})")
    return size


def _q(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)
