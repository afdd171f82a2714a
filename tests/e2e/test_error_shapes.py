"""One error shape everywhere, proven over real HTTP: every error status the API can be made
to answer (400, 401, 403, 404, 405, 409, 413, 415, 422, 503, 504; 500 is a bug and cannot be
reached) is driven for real, on the real daemon -- a camera on a closed port, one that
accepts and never answers, a config-file camera, a failed export -- and each body is checked
three ways: against the served OpenAPI document's ErrorBody schema, against the README's
Errors table (its status and code are listed there, and any extra detail key is the one that
row names), and against the operation's documented statuses."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import pytest
from multidict import CIMultiDictProxy

from tests.conftest import Api, ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.errors_doc import readme_errors
from tests.net import free_port
from vmsd.api.openapi import openapi_path
from vmsd.core.health import Phase

BASE_KEYS = {"field", "message"}
SNAPSHOT_TIMEOUT_S = 1  # the smallest recording.snapshot_timeout_seconds allowed
MAX_BODY_BYTES = 4096


@dataclass
class Checker:
    """Holds the served document; checks one error response against all three."""

    document: dict[str, Any]
    readme: dict[tuple[int, str], str]

    def __post_init__(self) -> None:
        components = self.document["components"]
        schema = {"$ref": "#/components/schemas/ErrorBody", "components": components}
        self.validator = jsonschema_rs.Draft202012Validator(schema)
        self.seen: set[int] = set()

    def check(self, method: str, route: str | None, status: int, body: Any) -> dict[str, Any]:
        problems = [str(e) for e in self.validator.iter_errors(body)]
        assert not problems, (method, route, status, body, problems)
        error = body["error"]
        row = self.readme.get((status, error["code"]))
        assert row is not None, f"README's Errors table has no {status} {error['code']}"
        for detail in error["details"]:
            assert set(detail) >= BASE_KEYS, detail
            for extra in set(detail) - BASE_KEYS:
                assert f"`{extra}`" in row, f"README's {error['code']} row does not name {extra}"
        if route is not None:  # an operation of the document (not aiohttp's own 404/405)
            operation = self.document["paths"][openapi_path(route)][method.lower()]
            assert str(status) in operation["responses"], (method, route, status)
        self.seen.add(status)
        return dict(error)




class Client:
    def __init__(
        self, session: aiohttp.ClientSession, base: str, tokens: dict[str, str]
    ) -> None:
        self.session, self.base, self.tokens = session, base, tokens

    async def call(
        self,
        method: str,
        path: str,
        who: str = "admin",
        *,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}
        if who == "bad":
            headers = {"Authorization": "Bearer vmsd_not-a-real-token-xxxxxxxxxxxxxxxxxxxxxxxxx"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        async with self.session.request(
            method, self.base + path, json=json_body, data=data, headers=headers
        ) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None, response.headers


@pytest.mark.slow
async def test_every_reachable_error_has_the_documented_shape(
    tmp_path: Path, silent_port: int
) -> None:
    config = write_config(
        tmp_path,
        ffmpeg={"binary": ffmpeg_binary()},
        server={"host": "127.0.0.1", "port": free_port(), "max_body_bytes": MAX_BODY_BYTES},
        recording={"snapshot_timeout_seconds": SNAPSHOT_TIMEOUT_S},
        cameras=[{"name": "fixed", "source": "test://?size=160x120&fps=5", "record": False}],
    )
    tokens = {"admin": create_token(config, "ops", "admin")}
    daemon = DaemonProcess(config)
    await asyncio.to_thread(lambda: daemon.start().wait_ready())
    try:
        async with aiohttp.ClientSession() as session:
            api = Client(session, daemon.url, tokens)
            await _drive(api, silent_port)
    finally:
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.log_text()[-3000:]
        daemon.close()


async def _drive(api: Client, silent_port: int) -> None:
    status, document, _ = await api.call("GET", "/api/v1/openapi.json")
    assert status == 200
    checker = Checker(document, readme_errors())
    status, viewer, _ = await api.call(
        "POST", "/api/v1/tokens", json_body={"name": "looker", "role": "viewer"}
    )
    assert status == 201, viewer
    api.tokens["viewer"] = viewer["token"]
    closed = free_port()
    for name, port in (("refused", closed), ("silent", silent_port)):
        status, body, _ = await api.call(
            "POST",
            "/api/v1/cameras",
            json_body={"name": name, "source": f"rtsp://127.0.0.1:{port}/x", "record": False},
        )
        assert status == 201, body
    nothing_recorded = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"}
    status, job, _ = await api.call(
        "POST", "/api/v1/exports", json_body={"camera": "fixed", **nothing_recorded}
    )
    assert status == 202, job
    for _ in range(100):  # nothing is recorded then: the job fails at once
        _, job, _ = await api.call("GET", f"/api/v1/exports/{job['id']}")
        if job["state"] == "failed":
            break
        await asyncio.sleep(0.1)
    assert job["state"] == "failed", job
    root = {"name": "root", "role": "admin", "password": "the only admin here"}
    status, made, _ = await api.call("POST", "/api/v1/users", json_body=root)
    assert status == 201, made

    cameras = "/api/v1/cameras"
    # (method, path, route or None, who, request options, status, code)
    cases: list[tuple[str, str, str | None, str, dict[str, Any], int, str]] = [
        ("GET", cameras, cameras, "none", {}, 401, "unauthorized"),
        ("GET", cameras, cameras, "bad", {}, 401, "unauthorized"),
        ("POST", cameras, cameras, "viewer", {"json_body": {}}, 403, "forbidden"),
        ("POST", cameras, cameras, "admin",
         {"data": b"{not json", "content_type": "application/json"}, 400, "bad_request"),
        ("POST", cameras, cameras, "admin",
         {"data": b"name=x", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ("POST", cameras, cameras, "admin",
         {"data": b"[" + b"1," * MAX_BODY_BYTES + b"1]", "content_type": "application/json"},
         413, "payload_too_large"),
        ("POST", cameras, cameras, "admin",
         {"json_body": {"name": "Front Door", "source": "rtsp://192.0.2.1/x"}},
         422, "validation_failed"),
        ("POST", cameras, cameras, "admin",
         {"json_body": {"name": "refused", "source": "rtsp://192.0.2.1/x"}}, 409, "conflict"),
        ("PATCH", f"{cameras}/fixed", f"{cameras}/{{name}}", "admin",
         {"json_body": {"description": "x"}}, 409, "conflict"),
        ("POST", f"{cameras}/refused/restart", f"{cameras}/{{name}}/restart", "admin", {},
         409, "conflict"),
        ("GET", f"{cameras}/nope", f"{cameras}/{{name}}", "viewer", {}, 404, "not_found"),
        ("GET", "/api/v1/recordings?limit=0", "/api/v1/recordings", "viewer", {},
         422, "validation_failed"),
        ("GET", "/api/v1/recordings?start=2026-01-01T00:00:01Z&end=2026-01-01T00:00:00Z",
         "/api/v1/recordings", "viewer", {}, 422, "validation_failed"),
        ("GET", "/api/v1/recordings/999999", "/api/v1/recordings/{id}", "viewer", {},
         404, "not_found"),
        ("GET", "/api/v1/exports?state=finished", "/api/v1/exports", "viewer", {},
         422, "validation_failed"),
        ("GET", f"/api/v1/exports/{job['id']}/download", "/api/v1/exports/{id}/download",
         "viewer", {}, 409, "conflict"),
        ("GET", "/api/v1/events?type=no_such_event", "/api/v1/events", "viewer", {},
         422, "validation_failed"),
        ("DELETE", "/api/v1/tokens/999999", "/api/v1/tokens/{id}", "admin", {}, 404, "not_found"),
        ("PATCH", "/api/v1/users/root", "/api/v1/users/{name}", "admin",
         {"json_body": {"enabled": False}}, 409, "last_admin"),
        ("DELETE", "/api/v1/users/root", "/api/v1/users/{name}", "admin", {}, 409, "last_admin"),
        ("GET", "/api/v1/no-such-thing", None, "viewer", {}, 404, "not_found"),
        ("PUT", "/api/v1/recordings", None, "admin", {}, 405, "method_not_allowed"),
        ("GET", f"{cameras}/silent/snapshot", f"{cameras}/{{name}}/snapshot", "viewer", {},
         504, "snapshot_timeout"),
    ]  # fmt: skip
    for method, path, route, who, options, status, code in cases:
        got, body, headers = await api.call(method, path, who, **options)
        assert (got, body and body.get("error", {}).get("code")) == (status, code), (path, body)
        error = checker.check(method, route, got, body)
        if status == 401:
            assert headers["WWW-Authenticate"].startswith("Bearer")
        if status == 405:
            assert "GET" in headers["Allow"]
        if status == 422:
            assert error["details"] and all(d["field"] for d in error["details"]), error
        if status == 504:
            assert error["details"] == [
                {"field": None, "message": "the camera did not answer in time", "reason": "timeout"}
            ]

    snapshot = f"{cameras}/refused/snapshot"
    route = f"{cameras}/{{name}}/snapshot"
    bodies = {}
    for who in ("viewer", "admin"):
        got, body, headers = await api.call("GET", snapshot, who)
        assert got == 503 and headers["Retry-After"], body
        bodies[who] = checker.check("GET", route, got, body)
    refused = {"field": None, "message": "the camera refused the connection", "reason": "refused"}
    assert bodies["viewer"]["code"] == "camera_unavailable"
    assert bodies["viewer"]["details"] == [refused]  # no host, port or path for a viewer
    first, stderr = bodies["admin"]["details"]
    assert first == refused
    assert stderr["field"] is None and stderr["message"] == "FFmpeg's last stderr lines"
    assert any("Connection refused" in line for line in stderr["ffmpeg_stderr"]), stderr
    assert checker.seen == {400, 401, 403, 404, 405, 409, 413, 415, 422, 503, 504}


async def test_stopping_is_a_503_in_the_same_shape(api: Api) -> None:
    """The window between SIGTERM and the HTTP site's close, held open: /api/ answers 503
    with Retry-After while the health endpoints still answer."""
    async with api.session.get(api.url + "/api/v1/openapi.json") as resp:
        checker = Checker(await resp.json(), readme_errors())
    api.health.set_phase(Phase.STOPPING)
    async with api.session.get(
        api.url + "/api/v1/recordings", headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 503 and resp.headers["Retry-After"]
        error = checker.check("GET", "/api/v1/recordings", 503, await resp.json())
    assert (error["code"], error["message"], error["details"]) == (
        "unavailable",
        "vmsd is stopping",
        [],
    )
