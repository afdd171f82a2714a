"""Per-camera access over real HTTP and a real database: a token scoped to camera `a` gets
the very 404 of an unknown camera for `b` on every camera route (derived from the route
table), sees only `a` in every list, in events and in the event stream; camera groups grant
what carries them; a principal grants only what its own scope covers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.integration.test_events_api import SseClient
from vmsd.api.app import all_routes
from vmsd.api.services import SERVICES
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
SOURCE = "rtsp://192.0.2.10:554/stream1"
RANGE = {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T11:00:00Z"}
MISSING_ID = 987654321


async def call(
    api: Api,
    method: str,
    path: str,
    token: str,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with api.session.request(
        method, api.url + path, headers=headers, json=body, params=params
    ) as resp:
        raw = await resp.read()
        if resp.content_type == "application/json" and raw:
            return resp.status, json.loads(raw)
        return resp.status, None


async def token(api: Api, role: str, cameras: list[str], granter: str | None = None) -> str:
    name = f"{role}-{'-'.join(c.replace(':', '_').replace('*', 'all') for c in cameras)}"
    status, created = await call(
        api,
        "POST",
        "/api/v1/tokens",
        granter or api.tokens["admin"],
        {"name": name, "role": role, "cameras": cameras},
    )
    assert status == 201, created
    assert created["cameras"] == sorted(cameras)
    return str(created["token"])


async def seed(api: Api) -> dict[str, Any]:
    """Cameras `a` (group gate) and `b`, two segments each, an export of each, events of
    each and one of no camera. Returns the ids by camera."""
    admin, operator = api.tokens["admin"], api.tokens["operator"]
    for name, groups in (("a", ["gate"]), ("b", [])):
        body = {"name": name, "source": SOURCE, "enabled": False, "groups": groups}
        status, created = await call(api, "POST", "/api/v1/cameras", admin, body)
        assert status == 201, created
        assert created["groups"] == groups
    root = api.cameras.holder.current.storage.paths[0]
    records = []
    for camera in ("a", "b"):
        for i in range(2):
            start = T0 + timedelta(seconds=10 * i)
            path = root / camera / f"{i}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"segment" * 100)
            records.append(
                SegmentRecord(
                    camera,
                    str(path),
                    start,
                    start + timedelta(seconds=10),
                    10.0,
                    700,
                    EndReason.SEGMENT_COMPLETE,
                )
            )
    await RecordingStore(api.cameras.store._pool).insert(records)
    status, page = await call(api, "GET", "/api/v1/recordings", admin)
    recordings = {c: [r["id"] for r in page["items"] if r["camera"] == c] for c in "ab"}
    exports = {}
    for camera in "ab":
        body = {"camera": camera, "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T10:00:20Z"}
        status, job = await call(api, "POST", "/api/v1/exports", operator, body)
        assert status == 202, job
        exports[camera] = job["id"]
    await api.cameras.events.record("retention_pass", segments=1)
    return {"recordings": recordings, "exports": exports}


def _request_for(route_path: str, camera: str, ids: dict[str, Any]) -> str:
    return (
        route_path.replace("{name}", camera)
        .replace("/recordings/{id}", f"/recordings/{ids['recordings'][camera][0]}")
        .replace("/exports/{id}", f"/exports/{ids['exports'][camera]}")
    )


def _camera_routes() -> list[tuple[str, str]]:
    """Every route about one camera: by its name, or by a recording's or an export's id."""
    return [
        (r.method, r.path)
        for r in all_routes()
        if r.path.startswith(("/api/v1/cameras/{name}", "/api/v1/recordings/", "/api/v1/exports/"))
    ]


def test_the_camera_routes_are_those_known_here() -> None:
    """A new camera route joins the matrix below by itself; this names today's."""
    assert len(_camera_routes()) == 20  # with playback (2) and the live view (3)


async def test_out_of_scope_is_exactly_unknown_on_every_camera_route(api: Api) -> None:
    ids = await seed(api)
    scoped_admin = await token(api, "admin", ["a"])
    # The live view on (it is off by default, and off answers 409 for every camera alike).
    config = api.holder.current
    on = config.console.model_copy(update={"live_view": True})
    api.holder.current = config.model_copy(update={"console": on})
    missing = {"recordings": {"zz": [MISSING_ID]}, "exports": {"zz": MISSING_ID}}
    for method, path in _camera_routes():
        params = RANGE if path.endswith("/timeline") else None
        body = {"enabled": False} if method == "PATCH" else None
        target = _request_for(path, "b", ids)
        status, got = await call(api, method, target, scoped_admin, body, params)
        # The same request for what does not exist at all, by the same principal.
        unknown = _request_for(path, "zz", missing)
        status_u, got_u = await call(api, method, unknown, scoped_admin, body, params)
        assert status == status_u == 404, (method, path, got)
        expected = json.loads(
            json.dumps(got_u)
            .replace("'zz'", "'b'")
            .replace(str(MISSING_ID), str(_id_in(path, ids)))
        )
        assert got == expected, (method, path)
    # And `b` is still there, untouched, for a principal with every camera.
    status, b = await call(api, "GET", "/api/v1/cameras/b", api.tokens["admin"])
    assert status == 200 and b["name"] == "b"


def _id_in(path: str, ids: dict[str, Any]) -> int:
    if path.startswith("/api/v1/recordings/"):
        return int(ids["recordings"]["b"][0])
    if path.startswith("/api/v1/exports/"):
        return int(ids["exports"]["b"])
    return MISSING_ID  # no id in the path: nothing to replace


async def test_in_scope_camera_routes_answer(api: Api) -> None:
    ids = await seed(api)
    scoped = await token(api, "operator", ["a"])
    expect = {
        ("GET", "/api/v1/cameras/{name}"): 200,
        ("GET", "/api/v1/cameras/{name}/timeline"): 200,
        ("GET", "/api/v1/cameras/{name}/snapshot"): 409,  # disabled: the camera's answer
        ("POST", "/api/v1/cameras/{name}/restart"): 409,  # not recording
        ("GET", "/api/v1/recordings/{id}"): 200,
        ("GET", "/api/v1/recordings/{id}/download"): 200,
        ("GET", "/api/v1/exports/{id}"): 200,
        ("GET", "/api/v1/exports/{id}/download"): 409,  # queued
        ("DELETE", "/api/v1/recordings/{id}"): 204,
        ("DELETE", "/api/v1/exports/{id}"): 204,
    }
    for (method, path), wanted in expect.items():
        params = RANGE if path.endswith("/timeline") else None
        status, got = await call(api, method, _request_for(path, "a", ids), scoped, None, params)
        assert status == wanted, (method, path, got)


async def test_lists_show_only_the_scope(api: Api) -> None:
    await seed(api)
    scoped = await token(api, "viewer", ["a"])
    status, cameras = await call(api, "GET", "/api/v1/cameras", scoped)
    assert status == 200 and [c["name"] for c in cameras] == ["a"]
    status, page = await call(api, "GET", "/api/v1/recordings", scoped)
    assert status == 200 and {r["camera"] for r in page["items"]} == {"a"}
    assert len(page["items"]) == 2
    for query in ({"camera": "b"}, {"camera": "zz"}):
        status, page = await call(api, "GET", "/api/v1/recordings", scoped, params=query)
        assert status == 200 and page == {"items": [], "next_cursor": None}
        status, page = await call(api, "GET", "/api/v1/exports", scoped, params=query)
        assert status == 200 and page == {"items": [], "next_cursor": None}
    status, page = await call(api, "GET", "/api/v1/exports", scoped)
    assert status == 200 and [j["camera"] for j in page["items"]] == ["a"]
    status, storage = await call(api, "GET", "/api/v1/storage", scoped)
    assert status == 200 and [c["camera"] for c in storage["cameras"]] == ["a"]
    assert storage["paths"]  # the filesystems stay whole
    status, events = await call(api, "GET", "/api/v1/events", scoped, params={"limit": "1000"})
    assert status == 200 and events["items"]
    assert {e["camera"] for e in events["items"]} == {"a"}  # no `b`, and none of no camera
    status, events = await call(api, "GET", "/api/v1/events", api.tokens["viewer"])
    assert {e["camera"] for e in events["items"]} >= {"a", "b", None}


async def test_scoped_bulk_delete_spares_other_cameras(api: Api) -> None:
    await seed(api)
    scoped_admin = await token(api, "admin", ["a"])
    status, deleted = await call(api, "DELETE", "/api/v1/recordings", scoped_admin, params=RANGE)
    assert status == 200 and deleted["deleted"] == 2
    params = {**RANGE, "camera": "b"}
    status, deleted = await call(api, "DELETE", "/api/v1/recordings", scoped_admin, params=params)
    assert status == 200 and deleted == {"deleted": 0, "bytes": 0}
    status, page = await call(api, "GET", "/api/v1/recordings", api.tokens["viewer"])
    assert {r["camera"] for r in page["items"]} == {"b"}


async def test_event_stream_shows_only_the_scope(api: Api) -> None:
    await seed(api)
    scoped = await token(api, "viewer", ["a"])
    bus = api.cameras.events
    headers = {"Authorization": f"Bearer {scoped}"}
    async with api.session.get(api.url + "/api/v1/events/stream", headers=headers) as r:
        assert r.status == 200
        client = SseClient(r)
        await bus.record("camera_offline", camera="b", reason="out of scope")
        await bus.record("retention_pass", segments=2)  # no camera: `*` scopes only
        await bus.record("camera_online", camera="a", reason="in scope")
        first = await client.next_event()
    assert (first["camera"], first["type"]) == ("a", "camera_online")
    # Asking for `b` by name streams nothing of it either.
    async with api.session.get(
        api.url + "/api/v1/events/stream", headers=headers, params={"camera": "b"}
    ) as r:
        client = SseClient(r)
        await bus.record("camera_offline", camera="b", reason="still out of scope")
        with pytest.raises(TimeoutError):
            await client.next_event(timeout=1.0)


async def test_groups_grant_what_carries_them(api: Api) -> None:
    await seed(api)
    gate = await token(api, "viewer", ["group:gate"])
    status, cameras = await call(api, "GET", "/api/v1/cameras", gate)
    assert [c["name"] for c in cameras] == ["a"]
    assert (await call(api, "GET", "/api/v1/cameras/b", gate))[0] == 404
    status, patched = await call(
        api, "PATCH", "/api/v1/cameras/b", api.tokens["admin"], {"groups": ["gate", "yard"]}
    )
    assert status == 200 and patched["groups"] == ["gate", "yard"]
    status, cameras = await call(api, "GET", "/api/v1/cameras", gate)
    assert [c["name"] for c in cameras] == ["a", "b"]
    status, page = await call(api, "GET", "/api/v1/recordings", gate, params={"camera": "b"})
    assert status == 200 and len(page["items"]) == 2
    status, err = await call(
        api, "PATCH", "/api/v1/cameras/b", api.tokens["admin"], {"groups": ["gate", "gate"]}
    )
    assert status == 422 and err["error"]["details"][0]["field"] == "groups"


async def test_a_principal_grants_only_its_own_scope(api: Api) -> None:
    await seed(api)
    scoped_admin = await token(api, "admin", ["a", "group:gate"])
    status, err = await call(
        api, "POST", "/api/v1/tokens", scoped_admin, {"name": "all", "role": "viewer"}
    )
    assert status == 403 and "within its own scope" in err["error"]["message"]
    for cameras in (["b"], ["group:yard"], ["*"]):
        body = {"name": "x", "role": "viewer", "cameras": cameras}
        status, _ = await call(api, "POST", "/api/v1/tokens", scoped_admin, body)
        assert status == 403, cameras
    assert await token(api, "viewer", ["a"], granter=scoped_admin)
    # Cameras it creates, and the groups it gives them, stay within its scope too.
    new = {"source": SOURCE, "enabled": False}
    for body, wanted in (
        ({"name": "c", **new}, 403),  # not `a`, in no group it holds
        ({"name": "c", "groups": ["yard"], **new}, 403),
        ({"name": "c", "groups": ["gate", "yard"], **new}, 403),  # yard: not its to give
        ({"name": "c", "groups": ["gate"], **new}, 201),
    ):
        status, got = await call(api, "POST", "/api/v1/cameras", scoped_admin, body)
        assert status == wanted, (body, got)
    status, _ = await call(api, "PATCH", "/api/v1/cameras/c", scoped_admin, {"groups": []})
    assert status == 403  # it would lose the camera
    status, err = await call(
        api, "POST", "/api/v1/probe", scoped_admin, {"source": "rtsp://192.0.2.99/x"}
    )
    assert status == 403 and "'*'" in err["error"]["message"]
    status, err = await call(
        api,
        "POST",
        "/api/v1/tokens",
        api.tokens["admin"],
        {"name": "bad", "role": "viewer", "cameras": ["Not A Camera"]},
    )
    assert status == 422 and err["error"]["details"][0]["field"] == "cameras[0]"
    status, err = await call(
        api,
        "POST",
        "/api/v1/tokens",
        api.tokens["admin"],
        {"name": "none", "role": "viewer", "cameras": []},
    )
    assert status == 422


async def test_token_scope_survives_a_reload_of_the_registry(api: Api) -> None:
    """The scope comes from the database: a registry refreshed by NOTIFY keeps it, and
    principal_by_id answers for active tokens only."""
    scoped = await token(api, "viewer", ["a"])
    tokens = api.app[SERVICES].token_registry
    await tokens.refresh()
    principal = tokens.lookup(scoped)
    assert principal is not None and principal.scope.entries() == ["a"]
    assert tokens.principal_by_id(principal.id) == principal
    status, _ = await call(api, "DELETE", f"/api/v1/tokens/{principal.id}", api.tokens["admin"])
    assert status == 200
    assert tokens.principal_by_id(principal.id) is None
    assert tokens.lookup(scoped) is None


async def test_a_scoped_admin_sees_and_revokes_only_tokens_it_covers(api: Api) -> None:
    scoped_admin = await token(api, "admin", ["a", "group:gate"])
    for cameras in (["a"], ["group:gate"], ["b"], ["a", "b"], ["group:yard"]):
        await token(api, "viewer", cameras)
    root = api.tokens["admin"]

    async def names(who: str, **params: str) -> set[str]:
        status, listed = await call(api, "GET", "/api/v1/tokens", who, params=params)
        assert status == 200, listed
        return {t["name"] for t in listed}

    everything = await names(root)
    assert {"test-admin", "viewer-b", "viewer-a-b", "viewer-group_yard"} <= everything
    assert await names(scoped_admin) == {"admin-a-group_gate", "viewer-a", "viewer-group_gate"}

    status, listed = await call(api, "GET", "/api/v1/tokens", root)
    ids = {t["name"]: t["id"] for t in listed}
    status, unknown = await call(api, "DELETE", f"/api/v1/tokens/{MISSING_ID}", scoped_admin)
    assert status == 404
    for hidden in ("test-admin", "viewer-b", "viewer-a-b", "viewer-group_yard"):
        status, err = await call(api, "DELETE", f"/api/v1/tokens/{ids[hidden]}", scoped_admin)
        assert status == 404, hidden
        assert json.dumps(err).replace(str(ids[hidden]), "ID") == json.dumps(unknown).replace(
            str(MISSING_ID), "ID"
        )
    assert await names(root) == everything  # none of them was revoked
    status, _ = await call(api, "DELETE", f"/api/v1/tokens/{ids['viewer-a']}", scoped_admin)
    assert status == 200
    assert "viewer-a" not in await names(scoped_admin)
    assert "viewer-a" in await names(scoped_admin, include_revoked="true")
    assert "viewer-b" not in await names(scoped_admin, include_revoked="true")
    # The same rows, revoked, stay out of its sight.
    status, _ = await call(api, "DELETE", f"/api/v1/tokens/{ids['viewer-b']}", root)
    assert status == 200
    assert "viewer-b" not in await names(scoped_admin, include_revoked="true")
