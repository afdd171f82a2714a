"""Parsing of human-written durations and sizes (`30d`, `90s`, `500GiB`). Pure."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?B|B)?\s*$", re.IGNORECASE)
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


def parse_duration_s(value: str | int | float) -> float:
    """`90s`, `6h`, `30d`, `2w` or a bare number of seconds -> seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 90s, 6h, 30d (got {_q(value)})")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(value)
        if match is None:
            raise ValueError(f"must be a duration like 90s, 6h, 30d (got {_q(value)})")
        seconds = float(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"must be a positive duration (got {_q(value)})")
    return seconds


def parse_size_bytes(value: str | int) -> int:
    """`500GiB`, `2TB`, `1048576` -> bytes (> 0). Binary (KiB) and decimal (KB) units."""
    if isinstance(value, bool):
        raise ValueError(f"must be a size like 500GiB or 2TB (got {_q(value)})")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE_RE.match(value)
        if match is None:
            raise ValueError(f"must be a size like 500GiB or 2TB (got {_q(value)})")
        unit = (match.group(2) or "B").lower()
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"must be a positive size (got {_q(value)})")
    return size


def _q(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)
