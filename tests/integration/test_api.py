"""The HTTP API over real loopback: auth matrix, error shapes, bad input, OpenAPI."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Api
from vmsd.access.roles import Role
from vmsd.api.app import all_routes
from vmsd.config.server import ServerConfig
from vmsd.core.health import Phase

WHO = ["none", "bad", "viewer", "operator", "admin"]


def expected_status_class(required: Role | None, who: str) -> str:
    if required is None:
        return "allowed"
    if who in ("none", "bad"):
        return "401"
    return "allowed" if Role(who).allows(required) else "403"


@pytest.mark.parametrize("who", WHO)
async def test_auth_matrix(api: Api, who: str) -> None:
    """Every route x every kind of caller."""
    open_endpoints = api.holder.current.server.open_endpoints
    for route in all_routes():
        path = re.sub(r"\{[^}]+\}", "999999", route.path)
        kwargs: dict[str, object] = {"headers": api.headers(who)}
        if route.method in ("POST", "PATCH", "PUT"):
            kwargs["json"] = {}
        required = route.required_role(open_endpoints)
        if (route.method, route.path) == ("POST", "/api/v1/users/{name}/password"):
            required = Role.ADMIN  # open to a user for its own; a token is no user
        async with api.session.request(route.method, api.url + path, **kwargs) as resp:
            expected = expected_status_class(required, who)
            label = f"{route.method} {route.path} as {who}: {resp.status}"
            if expected == "allowed":
                assert resp.status not in (401, 403), label
                assert resp.status < 500, label
            else:
                assert resp.status == int(expected), label
                body = await resp.json()
                assert body["error"]["code"] in ("unauthorized", "forbidden"), label
                if resp.status == 401:
                    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_open_endpoints_are_configurable(api: Api) -> None:
    async with api.session.get(api.url + "/metrics") as resp:
        assert resp.status == 200
    api.holder.current = api.holder.current.model_copy(
        update={"server": ServerConfig(open_endpoints=())}
    )
    for path in ("/metrics", "/healthz", "/readyz"):
        async with api.session.get(api.url + path) as resp:
            assert resp.status == 401, path
        async with api.session.get(api.url + path, headers=api.headers("viewer")) as resp:
            assert resp.status == 200, path


async def test_readyz_names_failing_component(api: Api) -> None:
    async with api.session.get(api.url + "/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ready"
    api.health.set("mediamtx", False, "binary exited")
    async with api.session.get(api.url + "/readyz") as resp:
        assert resp.status == 503
        failing = [c for c in (await resp.json())["checks"] if not c["ok"]]
        assert failing == [{"name": "mediamtx", "ok": False, "detail": "binary exited"}]


async def test_token_lifecycle_over_http(api: Api) -> None:
    admin = api.headers("admin")
    async with api.session.post(
        api.url + "/api/v1/tokens", json={"name": "grafana", "role": "viewer"}, headers=admin
    ) as resp:
        assert resp.status == 201
        created = await resp.json()
    secret = created["token"]
    bearer = {"Authorization": f"Bearer {secret}"}
    async with api.session.get(api.url + "/api/v1/version", headers=bearer) as resp:
        assert resp.status == 200
    async with api.session.get(api.url + "/api/v1/tokens", headers=admin) as resp:
        listed = await resp.json()
        assert "grafana" in [t["name"] for t in listed]
        assert secret not in str(listed)
    async with api.session.delete(
        api.url + f"/api/v1/tokens/{created['id']}", headers=admin
    ) as resp:
        assert resp.status == 200
    async with api.session.get(api.url + "/api/v1/version", headers=bearer) as resp:
        assert resp.status == 401


BAD_BODIES = [
    ("malformed JSON", b"{not json", "application/json", 400, "bad_request"),
    ("not an object", b"[1, 2]", "application/json", 422, "validation_failed"),
    ("wrong content type", b"name=x", "application/x-www-form-urlencoded", 415,
     "unsupported_media_type"),
    ("no content type", b"{}", "", 415, "unsupported_media_type"),
    ("oversize", b'{"name": "' + b"x" * 10_000 + b'"}', "application/json", 413, None),
    ("invalid utf-8", b'{"name": "\xff"}', "application/json", 400, "bad_request"),
    ("bad role", b'{"name": "x", "role": "root"}', "application/json", 422, "validation_failed"),
    ("unknown field", b'{"name": "x", "role": "viewer", "x": 1}', "application/json", 422,
     "validation_failed"),
    ("empty name", b'{"name": "", "role": "viewer"}', "application/json", 422,
     "validation_failed"),
]


@pytest.mark.parametrize(
    ("case", "body", "ctype", "status", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
async def test_bad_bodies_get_clean_errors(
    api: Api, case: str, body: bytes, ctype: str, status: int, code: str | None
) -> None:
    headers = {**api.headers("admin"), "Content-Type": ctype} if ctype else api.headers("admin")
    async with api.session.post(api.url + "/api/v1/tokens", data=body, headers=headers) as resp:
        assert resp.status == status, await resp.text()
        error = (await resp.json())["error"]
        assert set(error) == {"code", "message", "details"}
        if code:
            assert error["code"] == code
        if status == 422 and case != "not an object":
            assert error["details"] and "field" in error["details"][0]


async def test_bad_path_params_and_unknown_routes(api: Api) -> None:
    admin = api.headers("admin")
    async with api.session.delete(api.url + "/api/v1/tokens/abc", headers=admin) as resp:
        assert resp.status == 422
    async with api.session.delete(api.url + "/api/v1/tokens/-1", headers=admin) as resp:
        assert resp.status == 422
    async with api.session.get(api.url + "/api/v1/nothing-here", headers=admin) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with api.session.put(api.url + "/api/v1/version", headers=admin) as resp:
        assert resp.status == 405
    async with api.session.get(
        api.url + "/api/v1/tokens?include_revoked=maybe", headers=admin
    ) as resp:
        assert resp.status == 422


async def test_request_id_round_trip(api: Api) -> None:
    async with api.session.get(api.url + "/healthz", headers={"X-Request-ID": "abc-123"}) as resp:
        assert resp.headers["X-Request-ID"] == "abc-123"
    async with api.session.get(api.url + "/healthz", headers={"X-Request-ID": "bad id; drop"}) as r:
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])


async def test_stopping_answers_503_with_retry_after(api: Api) -> None:
    api.health.set_phase(Phase.STOPPING)
    async with api.session.get(api.url + "/api/v1/version", headers=api.headers("viewer")) as r:
        assert r.status == 503
        assert r.headers["Retry-After"]


async def test_openapi_documents_every_registered_route(api: Api) -> None:
    async with api.session.get(api.url + "/api/v1/openapi.json") as resp:
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    registered = {
        (route.method.lower(), resource.canonical)
        for resource in api.app.router.resources()
        for route in resource
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert registered == documented
    assert doc["paths"]["/api/v1/tokens"]["post"]["requestBody"]


async def test_metrics_count_requests_by_route(api: Api) -> None:
    async with api.session.get(api.url + "/api/v1/version", headers=api.headers("viewer")):
        pass
    async with api.session.get(api.url + "/metrics") as resp:
        text = await resp.text()
    assert 'vmsd_http_requests_total{method="GET",route="/api/v1/version",status="200"}' in text
    assert "vmsd_build_info{" in text
    assert "process_resident_memory_bytes" in text

