"""Path, query-string and header parameters as pydantic models.

One model per route validates the request (422 naming each field) and is the route's
parameter list in the OpenAPI document, so what the server enforces and what it documents
are the same declaration.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, TypeVar

from aiohttp import web
from multidict import MultiMapping
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from vmsd.config.messages import field_errors
from vmsd.core.errors import NotFoundError, ValidationError
from vmsd.core.ints import BIGINT_MAX, parse_int
from vmsd.core.names import CAMERA_NAME_PATTERN

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# RFC 3339 date-time, ASCII digits only (`datetime.fromisoformat` takes "20260101T000000Z"
# and other ISO 8601 shapes the document's `format: date-time` does not).
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+ -])([0-9]{2}):([0-9]{2}))"
)
_SHORT = 40  # at most this much of a bad value is echoed back


def _ascii_int(value: object) -> object:
    """A query or path value is text: ASCII digits only (vmsd.core.ints). JSON ints pass."""
    return parse_int(value) if isinstance(value, str) else value


def _query_bool(value: object) -> object:
    """`true` or `false`, as the document's boolean is written in a query string."""
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError(f"must be true or false (got {value[:_SHORT]!r})")
        return value == "true"
    return value


def parse_rfc3339(value: object, *, decoded_plus: bool = False) -> object:
    """An RFC 3339 time with its offset; one that cannot be told in UTC is out of range.

    `decoded_plus`: a query string's value, where a `+` sent unencoded arrives as a space
    (form decoding: `?start=2026-12-01T10:00:00+00:00`). A space in the offset's place can
    only be that `+`, so it is read as one; a space anywhere else is still refused."""
    if not isinstance(value, str):
        return value  # pydantic rejects it: the document says string
    match = _RFC3339.fullmatch(value)
    if match is None or (match.group(9) == " " and not decoded_plus):
        raise ValueError(f"not an RFC 3339 time with an offset (got {value[:_SHORT]!r})")
    y, mo, d, h, mi, s, fraction, z, sign, oh, om = match.groups()
    try:
        offset = timedelta(hours=int(oh), minutes=int(om)) if z is None else timedelta()
        zone = timezone(-offset if sign == "-" else offset)
        micros = int(((fraction or ".")[1:] + "000000")[:6])
        parsed = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micros, zone)
        parsed.astimezone(UTC)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"not a valid time (got {value[:_SHORT]!r}): {err}") from None
    return parsed


# Field before the validator: pydantic then keeps ge/le as the schema's minimum/maximum.
ASCII_INT = BeforeValidator(_ascii_int)
Id = Annotated[int, Field(ge=1, le=BIGINT_MAX), ASCII_INT]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="page size"), ASCII_INT]
QueryBool = Annotated[bool, BeforeValidator(_query_bool)]
CameraName = Annotated[str, Field(pattern=CAMERA_NAME_PATTERN)]
# In a query string: a `+` offset sent unencoded (a space) is taken (parse_rfc3339).
Time = Annotated[
    AwareDatetime, BeforeValidator(functools.partial(parse_rfc3339, decoded_plus=True))
]
# In a JSON body, where nothing decodes a `+` into a space: RFC 3339 only.
BodyTime = Annotated[AwareDatetime, BeforeValidator(parse_rfc3339)]
# A next_cursor of this API: base64url without padding.
Cursor = Annotated[
    str,
    Field(
        min_length=1,
        max_length=400,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="next_cursor of the previous page",
    ),
]


class Params(BaseModel):
    """Base of every parameter model. Unknown query parameters are ignored (a client's cache
    buster must not fail a request); known ones are validated strictly."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class IdPath(Params):
    id: Id


class CameraPath(Params):
    name: CameraName


_CAMERA_NAME = re.compile(CAMERA_NAME_PATTERN)


def camera_name(request: web.Request) -> str:
    """The `{name}` of a CameraPath route. A name no camera can have is no camera: 404, as
    for an unknown one (the document's pattern tells clients which names can exist)."""
    name = request.match_info["name"]
    if not _CAMERA_NAME.fullmatch(name):
        raise NotFoundError(f"no camera named {name[:64]!r}")
    return name


P = TypeVar("P", bound=Params)


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return origin in (list, tuple)


def _collect(model: type[Params], source: MultiMapping[str] | Mapping[str, str]) -> dict[str, Any]:
    """The raw values the model's fields name: every value of a list field, else the one
    value (a single parameter given twice is a list, which its scalar type rejects)."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if isinstance(source, MultiMapping):
            values = source.getall(key, [])
        else:
            values = [source[key]] if key in source else []
        if values:
            data[key] = values if _is_list(info.annotation) or len(values) > 1 else values[0]
    return data


def read_params(model: type[P], source: MultiMapping[str] | Mapping[str, str]) -> P:
    """Validate parameters; 422 with one detail per bad field."""
    try:
        return model.model_validate(_collect(model, source))
    except PydanticValidationError as err:
        # A parameter is named as sent: `camera`, not the list item `camera[1]`.
        details = [{**d, "field": re.split(r"[\[.]", d["field"])[0]} for d in field_errors(err)]
        raise ValidationError("invalid parameters", details) from err
