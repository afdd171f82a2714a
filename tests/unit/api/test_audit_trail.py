"""The audit middleware's pure parts: the target a path names, the result an answer is."""

from __future__ import annotations

import pytest
from aiohttp import web

from vmsd.access.roles import Role
from vmsd.api.audit_trail import path_target, result_of
from vmsd.api.middleware import error_body
from vmsd.api.routes import ApiRoute


async def _handler(_request: web.Request) -> web.Response:
    return web.Response()


def route(path: str) -> ApiRoute:
    return ApiRoute("POST", path, _handler, "x", role=Role.ADMIN, action="x.y")


@pytest.mark.parametrize(
    ("path", "params", "target"),
    [
        ("/api/v1/cameras/{name}", {"name": "gate-1"}, "camera:gate-1"),
        ("/api/v1/cameras/{name}/restart", {"name": "gate-1"}, "camera:gate-1"),
        ("/api/v1/recordings/{id}/download", {"id": "42"}, "recording:42"),
        ("/api/v1/tokens/{id}", {"id": "7"}, "token:7"),
        ("/api/v1/users/{name}/sessions/{id}", {"name": "al", "id": "3"}, "user:al/session:3"),
        ("/api/v1/tokens", {}, ""),
    ],
)
def test_the_path_names_the_target(path: str, params: dict[str, str], target: str) -> None:
    assert path_target(route(path), params) == target


def test_the_result_is_ok_or_the_status_and_the_error_code() -> None:
    assert result_of(web.Response(status=201)) == "ok"
    assert result_of(web.Response(status=204)) == "ok"
    refused = web.json_response(error_body("forbidden", "no"), status=403)
    assert result_of(refused) == "403 forbidden"
    assert result_of(web.Response(status=304)) == "304"
    assert result_of(web.json_response({"not": "an error body"}, status=409)) == "409"
