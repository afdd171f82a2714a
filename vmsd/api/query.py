"""Query-string parameters shared by the list endpoints; each raises ValidationError naming
the field, never echoing more than a short prefix of what was sent."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from aiohttp import web

from vmsd.core.errors import ValidationError
from vmsd.core.names import CAMERA_NAME_PATTERN

_CAMERA = re.compile(CAMERA_NAME_PATTERN)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def _invalid(name: str, message: str) -> ValidationError:
    return ValidationError(f"invalid {name}", [{"field": name, "message": message}])


def time_query(request: web.Request, name: str, required: bool = True) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise _invalid(name, "required (RFC 3339, e.g. 2026-11-23T14:00:00Z)")
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(name, f"not an RFC 3339 time (got {raw[:40]!r})") from None
    if value.tzinfo is None:
        raise _invalid(name, "needs a time zone offset (Z or +hh:mm): naive times are ambiguous")
    return value


def required_time(request: web.Request, name: str) -> datetime:
    value = time_query(request, name)
    assert value is not None
    return value


def camera_query(request: web.Request) -> list[str]:
    cameras = request.query.getall("camera", [])
    for name in cameras:
        if not _CAMERA.match(name):
            raise _invalid("camera", f"must match {CAMERA_NAME_PATTERN}")
    return cameras


def choice_query(request: web.Request, name: str, allowed: Iterable[str]) -> list[str]:
    """Every value of a repeatable parameter, each one of `allowed`."""
    known = set(allowed)
    values = request.query.getall(name, [])
    unknown = [v[:40] for v in values if v not in known]
    if unknown:
        raise _invalid(name, f"unknown {unknown}; one of {sorted(known)}")
    return values


def limit_query(request: web.Request) -> int:
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _invalid("limit", f"a whole number from 1 to {MAX_LIMIT}")
    return int(raw)
