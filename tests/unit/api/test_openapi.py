"""The OpenAPI document is exact: every $ref resolves inside it, ids are bounded integers,
required parameters are required, every response has its schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vmsd.access.links import MAX_TOKEN_CHARS, TOKEN_PATTERN
from vmsd.api.app import all_routes
from vmsd.api.console import ConsoleAsset
from vmsd.api.openapi import build_openapi
from vmsd.api.routes import ApiRoute
from vmsd.api.whep import SESSION_PATTERN
from vmsd.config.server import OpenEndpoint
from vmsd.core.ints import BIGINT_MAX

DOC = build_openapi(all_routes(), tuple(OpenEndpoint))


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in DOC["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def test_every_ref_resolves_and_nothing_is_left_in_defs() -> None:
    refs = [value for key, value in _walk(DOC) if key == "$ref"]
    assert refs
    schemas = DOC["components"]["schemas"]
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    assert not [key for key, _ in _walk(DOC) if key == "$defs"]
    assert {"SegmentFormat", "Role", "RtspTransport", "RecordingOverrides"} <= set(schemas)


def test_ids_are_bounded_integers_and_names_patterns() -> None:
    seen = 0
    for _, path, operation in _operations():
        for param in operation.get("parameters", []):
            if param["in"] != "path":
                continue
            assert param["required"] is True
            if param["name"] == "id":
                assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}
                seen += 1
            elif param["name"] == "session":  # a live view's: vmsd's random id
                assert param["schema"]["pattern"] == SESSION_PATTERN
            elif param["name"] == "token":  # a link: the token's shape, bounded
                assert param["schema"]["pattern"] == TOKEN_PATTERN
                assert param["schema"]["maxLength"] == MAX_TOKEN_CHARS
            elif param["name"] == "file":  # the console's: exactly the files it ships
                enum = DOC["components"]["schemas"]["ConsoleAsset"]["enum"]
                assert param["schema"] == {"$ref": "#/components/schemas/ConsoleAsset"}
                assert set(enum) == set(ConsoleAsset), path
            else:
                assert param["schema"]["pattern"].startswith("^[a-z0-9]"), path
    assert seen == 11


def test_required_and_constrained_query_parameters() -> None:
    params = {p["name"]: p for p in DOC["paths"]["/api/v1/recordings"]["get"]["parameters"]}
    assert not params["start"]["required"] and not params["end"]["required"]
    assert params["start"]["schema"] == {"type": "string", "format": "date-time"}
    assert params["order"]["schema"]["enum"] == ["asc", "desc"]
    timeline = DOC["paths"]["/api/v1/cameras/{name}/timeline"]["get"]["parameters"]
    assert all(p["required"] for p in timeline if p["name"] in ("start", "end"))
    exports = {p["name"]: p for p in DOC["paths"]["/api/v1/exports"]["get"]["parameters"]}
    assert exports["state"]["schema"]["items"]["enum"] == ["queued", "running", "done", "failed"]
    assert params["camera"]["schema"]["items"]["pattern"]  # an empty camera= is schema-invalid
    assert params["limit"]["schema"]["maximum"] == 1000
    assert not params["limit"]["required"]
    events = {p["name"]: p for p in DOC["paths"]["/api/v1/events"]["get"]["parameters"]}
    assert events["order"]["schema"]["enum"] == ["desc", "asc"]
    assert "daemon_started" in events["type"]["schema"]["items"]["enum"]
    stream = {p["name"]: p for p in DOC["paths"]["/api/v1/events/stream"]["get"]["parameters"]}
    assert stream["Last-Event-ID"]["in"] == "header"


def test_every_response_has_its_schema() -> None:
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for method, path, operation in _operations():
        statuses = {int(s) for s in operation["responses"]}
        assert any(200 <= s < 300 for s in statuses), (method, path)
        assert "default" not in operation["responses"]
        for status, response in operation["responses"].items():
            if status in ("204", "304"):  # no body: no content, 304 the console's revalidation
                assert "content" not in response
                continue
            content = response["content"]
            for media in content.values():
                assert media["schema"], (method, path, status)
            if int(status) >= 400 and path.startswith("/api/"):
                assert content == {"application/json": {"schema": error}}, (method, path, status)


def test_every_error_detail_has_field_and_message_and_only_documented_extras() -> None:
    schemas = DOC["components"]["schemas"]
    info = schemas["ErrorInfo"]
    assert info["properties"]["details"]["items"] == {"$ref": "#/components/schemas/ErrorDetail"}
    detail = schemas["ErrorDetail"]
    assert detail["additionalProperties"] is False
    assert detail["required"] == ["field", "message"]
    assert detail["properties"]["field"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert set(detail["properties"]) == {"field", "message", "reason", "ffmpeg_stderr"}
    assert "unauthorized" in schemas["FailureClass"]["enum"]


def test_authenticated_routes_document_401_with_its_header() -> None:
    for _, path, operation in _operations():
        if operation["x-vmsd-role"] == "open":
            # Only the login answers 401 without asking for credentials: a wrong password.
            assert "401" not in operation["responses"] or path == "/api/v1/auth/login"
            continue
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        assert operation["security"] == [{"bearer": []}]


def test_a_path_parameter_without_its_model_is_refused() -> None:
    async def handler(_: Any) -> Any:
        raise NotImplementedError

    route = ApiRoute("GET", "/x/{id}", handler, "x", role=None)
    with pytest.raises(ValueError, match="path parameters"):
        build_openapi([route], ())
