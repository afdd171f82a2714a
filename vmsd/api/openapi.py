"""The OpenAPI 3 document, built from the same route declarations the app is built from."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vmsd import __version__
from vmsd.api.routes import ApiRoute
from vmsd.config.schema import OpenEndpoint

_PATH_PARAM_RE = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {}},
            },
        }
    },
}


def openapi_path(path: str) -> str:
    return _PATH_PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", path)


def build_openapi(
    routes: Sequence[ApiRoute], open_endpoints: tuple[OpenEndpoint, ...]
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        required = route.required_role(open_endpoints)
        operation: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": f"{route.method.lower()}_{route.handler.__name__}",
            "responses": {
                str(status): {"description": text} for status, text in route.responses.items()
            },
            "x-vmsd-role": required.value if required else "open",
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAM_RE.findall(route.path)
        ]
        parameters += [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in route.query.items()
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.request_model is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": route.request_model.model_json_schema()}
                },
            }
        if required is not None:
            operation["security"] = [{"bearer": []}]
            operation["responses"].setdefault("401", {"description": "missing or invalid token"})
            operation["responses"].setdefault("403", {"description": "role too low"})
        operation["responses"].setdefault(
            "default",
            {"description": "error", "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
        )
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "vmsd control API", "version": __version__},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
