"""Request input: JSON bodies and path/query parameters, validated at the edge."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from vmsd.config.messages import field_errors
from vmsd.core.errors import BadRequestError, UnsupportedMediaTypeError, ValidationError

M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body. 415 for another content type, 400 for malformed JSON,
    413 (from aiohttp) past server.max_body_bytes, 422 with per-field details when invalid."""
    if request.content_type != "application/json":
        raise UnsupportedMediaTypeError(
            f"expected Content-Type application/json (got {request.content_type or 'none'})"
        )
    raw = await request.read()
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequestError(f"malformed JSON body: {err}") from err
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except PydanticValidationError as err:
        raise ValidationError("invalid request body", field_errors(err)) from err


def int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationError(
            f"invalid {name}",
            [{"field": name, "message": f"must be a positive integer (got {raw!r})"}],
        )
    return int(raw)


def bool_query(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ValidationError(
        f"invalid {name}", [{"field": name, "message": f"must be true or false (got {raw!r})"}]
    )
