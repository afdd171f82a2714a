"""Integers from text a client sent (paths, query strings, headers, cursors). Pure.

ASCII decimal digits only, bounded: `str.isdigit()` is true for a superscript three
(which `int()` then refuses) and `int()` itself reads Arabic-Indic and fullwidth digits,
" 1", "+1" and "1_000", so neither may decide what a client's integer is. The bound keeps
an id that cannot exist (10**30) from reaching PostgreSQL, whose bigint would answer it
with an overflow error rather than "no such row".
"""

from __future__ import annotations

import re

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint: every id column
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_int(raw: str, minimum: int = 0, maximum: int = BIGINT_MAX) -> int:
    """`raw` as an int in [minimum, maximum]; ValueError saying which rule it broke."""
    if _DIGITS.fullmatch(raw) is None:
        raise ValueError("must be a whole number in ASCII digits 0-9")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ValueError(f"must be from {minimum} to {maximum}")
    return value


def is_id(value: object) -> bool:
    """A decoded JSON value (a cursor's) that can be a row id: an int, not a bool, in
    [1, BIGINT_MAX]."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= BIGINT_MAX
