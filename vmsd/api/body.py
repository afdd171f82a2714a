"""Request bodies: JSON, validated at the edge against the route's model."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from vmsd.config.messages import field_errors
from vmsd.core.errors import BadRequestError, UnsupportedMediaTypeError, ValidationError
from vmsd.core.jsonbody import load_json

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
        data: Any = load_json(raw)  # strict: UTF-8, no duplicate keys, no NaN
        # A \ud800 escape decodes to a lone surrogate, which no database or file takes.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        raise BadRequestError("malformed JSON body: a string is not valid Unicode") from err
    except ValueError as err:
        raise BadRequestError(f"malformed JSON body: {err}") from err
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except PydanticValidationError as err:
        raise ValidationError("invalid request body", field_errors(err)) from err
