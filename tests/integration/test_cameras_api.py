"""Camera API over real HTTP and a real database: CRUD, validation, config-managed cameras,
credentials encrypted at rest and never shown, in responses, errors or logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.conftest import Api
from vmsd.config.cameras import CameraConfig

PASSWORD = "Sup3r$ecret:p@ss/w0rd"
SOURCE = "rtsp://192.0.2.10:554/stream1"


async def test_crud_round_trip(api: Api) -> None:
    status, created = await api.call(
        "POST",
        "/api/v1/cameras",
        body={
            "name": "front-door",
            "source": SOURCE,
            "username": "admin",
            "password": PASSWORD,
            "location": "porch",
            "recording": {"segment_seconds": 30},
        },
    )
    assert status == 201, created
    assert created["source"] == "rtsp://admin:***@192.0.2.10:554/stream1"
    assert created["has_password"] is True
    assert created["managed_by"] == "api"
    assert created["state"] == "unknown"
    assert created["recording"] == {"segment_seconds": 30}

    status, listed = await api.call("GET", "/api/v1/cameras", who="viewer")
    assert status == 200 and [c["name"] for c in listed] == ["front-door"]
    status, one = await api.call("GET", "/api/v1/cameras/front-door", who="viewer")
    assert status == 200 and one["location"] == "porch"

    status, patched = await api.call(
        "PATCH", "/api/v1/cameras/front-door", body={"enabled": False, "description": "x"}
    )
    assert status == 200
    assert patched["enabled"] is False and patched["description"] == "x"
    assert patched["has_password"] is True  # absent keys stay as they were
    assert patched["location"] == "porch"

    status, cleared = await api.call(
        "PATCH", "/api/v1/cameras/front-door", body={"username": None, "password": None}
    )
    assert status == 200 and cleared["has_password"] is False

    status, _ = await api.call("DELETE", "/api/v1/cameras/front-door")
    assert status == 204
    status, err = await api.call("GET", "/api/v1/cameras/front-door", who="viewer")
    assert status == 404 and err["error"]["code"] == "not_found"


async def test_credentials_in_the_url_are_split_out(api: Api) -> None:
    status, created = await api.call(
        "POST",
        "/api/v1/cameras",
        body={"name": "yard", "source": "rtsp://viewer:pa%3Ass%40x@192.0.2.11/live"},
    )
    assert status == 201
    assert created["username"] == "viewer" and created["has_password"] is True
    camera = api.cameras.service.get("yard")
    assert camera.source == "rtsp://192.0.2.11/live"
    assert camera.password == "pa:ss@x"
    # A new URL with credentials replaces both; one without keeps them.
    status, patched = await api.call(
        "PATCH", "/api/v1/cameras/yard", body={"source": "rtsp://other:pw2@192.0.2.12/live"}
    )
    assert status == 200 and patched["username"] == "other"
    assert api.cameras.service.get("yard").password == "pw2"


async def test_password_is_encrypted_at_rest(api: Api) -> None:
    await api.call(
        "POST",
        "/api/v1/cameras",
        body={"name": "cam", "source": SOURCE, "username": "u", "password": PASSWORD},
    )
    pool = api.cameras.store._pool  # the same database the API wrote to
    row = await pool.fetchrow("SELECT * FROM cameras WHERE name = 'cam'")
    assert row is not None
    dump = repr(dict(row)).encode()
    assert PASSWORD.encode() not in dump
    assert bytes(row["password_enc"]) != PASSWORD.encode()
    assert api.cameras.cipher.decrypt(bytes(row["password_enc"])) == PASSWORD
    events = await pool.fetch("SELECT type, data::text FROM events")
    assert PASSWORD not in repr([dict(e) for e in events])


async def test_no_response_error_or_log_line_carries_the_password(api: Api) -> None:
    with capture_logs() as logs:
        responses = [
            await api.call(
                "POST",
                "/api/v1/cameras",
                body={"name": "cam", "source": SOURCE, "username": "u", "password": PASSWORD},
            ),
            await api.call(
                "POST",
                "/api/v1/cameras",
                body={"name": "cam", "source": SOURCE, "username": "v", "password": PASSWORD},
            ),
            # Invalid: the password rides on a bad URL and on a bad field next to it.
            await api.call(
                "POST",
                "/api/v1/cameras",
                body={"name": "bad", "source": f"ftp://u:{PASSWORD}@h/x"},
            ),
            await api.call(
                "POST",
                "/api/v1/cameras",
                body={"name": "Bad Name", "source": f"rtsp://u:{PASSWORD}@h/x"},
            ),
            await api.call(
                "PATCH",
                "/api/v1/cameras/cam",
                body={"password": PASSWORD, "rtsp_transport": "carrier-pigeon"},
            ),
            await api.call(
                "PATCH",
                "/api/v1/cameras/cam",
                body={"source": f"rtsp://u:{PASSWORD}@h/x", "username": "dup"},
            ),
            await api.call("GET", "/api/v1/cameras", who="viewer"),
            await api.call("GET", "/api/v1/cameras/cam", who="viewer"),
        ]
    assert [r[0] for r in responses] == [201, 409, 422, 422, 422, 422, 200, 200]
    assert PASSWORD not in json.dumps([r[1] for r in responses])
    assert PASSWORD not in repr(logs)
    assert "camera_created" in [entry["event"] for entry in logs]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source": SOURCE}, "name"),
        ({"name": "x"}, "source"),
        ({"name": "Front Door", "source": SOURCE}, "name"),
        ({"name": "x", "source": "ftp://h/x"}, "source"),
        ({"name": "x", "source": "rtsp:///nohost"}, "source"),
        ({"name": "x", "source": "test://?size=99999x1"}, "source"),
        ({"name": "x", "source": SOURCE, "rtsp_transport": "multicast"}, "rtsp_transport"),
        (
            {"name": "x", "source": SOURCE, "recording": {"segment_seconds": 9000}},
            "recording.segment_seconds",
        ),
        ({"name": "x", "source": SOURCE, "retention": {"max_age": "forever"}}, "retention.max_age"),
        ({"name": "x", "source": SOURCE, "colour": "red"}, "colour"),
        ({"name": "x", "source": "publisher"}, "(root)"),
        ({"name": "x", "source": "rtsp://a:b@h/x", "username": "c"}, "(root)"),
        ({"name": "x", "source": "test://", "password": "p"}, "(root)"),
    ],
)
async def test_invalid_camera_gives_422_with_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    status, err = await api.call("POST", "/api/v1/cameras", body=body)
    assert status == 422, err
    assert err["error"]["code"] == "validation_failed"
    assert field in [d["field"] for d in err["error"]["details"]], err
    assert api.cameras.service.list() == []  # nothing was written


async def test_duplicate_and_unknown_names(api: Api) -> None:
    body = {"name": "cam", "source": SOURCE}
    assert (await api.call("POST", "/api/v1/cameras", body=body))[0] == 201
    status, err = await api.call("POST", "/api/v1/cameras", body=body)
    assert status == 409 and err["error"]["code"] == "conflict"
    for method in ("GET", "PATCH", "DELETE"):
        status, _ = await api.call(
            method, "/api/v1/cameras/nope", body={} if method == "PATCH" else None
        )
        assert status == 404, method
    status, _ = await api.call("GET", "/api/v1/cameras/NOT..valid", who="viewer")
    assert status == 404


async def test_config_managed_cameras_are_read_only(api: Api) -> None:
    service = api.cameras.service
    await service.sync_config(
        [CameraConfig(name="lobby", source=f"rtsp://u:{PASSWORD}@192.0.2.20/x")]
    )
    status, lobby = await api.call("GET", "/api/v1/cameras/lobby", who="viewer")
    assert status == 200 and lobby["managed_by"] == "config"
    assert PASSWORD not in json.dumps(lobby)
    for method, body in (("PATCH", {"enabled": False}), ("DELETE", None)):
        status, err = await api.call(method, "/api/v1/cameras/lobby", body=body)
        assert status == 409, method
        assert "managed by the config file" in err["error"]["message"]
    status, _ = await api.call("POST", "/api/v1/cameras", body={"name": "lobby", "source": SOURCE})
    assert status == 409


async def test_config_sync_upserts_takes_over_and_removes(api: Api) -> None:
    service = api.cameras.service
    pool = api.cameras.store._pool
    await api.call("POST", "/api/v1/cameras", body={"name": "api-cam", "source": SOURCE})
    first = [
        CameraConfig(name="a", source=SOURCE, password=None),
        CameraConfig(name="api-cam", source="rtsp://u:pw@192.0.2.30/x"),
    ]
    await service.sync_config(first)
    assert service.get("api-cam").managed_by == "config"  # the file takes it over
    assert service.get("api-cam").password == "pw"
    before = await pool.fetchval("SELECT updated_at FROM cameras WHERE name = 'api-cam'")
    await service.sync_config(first)  # unchanged: no write at all
    after = await pool.fetchval("SELECT updated_at FROM cameras WHERE name = 'api-cam'")
    assert before == after
    await service.sync_config([CameraConfig(name="a", source=SOURCE, enabled=False)])
    assert sorted(c.name for c in service.list()) == ["a"]
    assert service.get("a").enabled is False


async def test_live_state_is_in_every_camera_response(api: Api) -> None:
    await api.call("POST", "/api/v1/cameras", body={"name": "cam", "source": SOURCE})
    live = api.cameras.live
    await live.sync(api.cameras.registry.cameras)
    await live.report("cam", True, "hook_available")
    live.update_stats("cam", readers=2, inbound_bytes=12345)
    status, cam = await api.call("GET", "/api/v1/cameras/cam", who="viewer")
    assert status == 200
    assert (cam["state"], cam["state_reason"], cam["readers"], cam["inbound_bytes"]) == (
        "online",
        "hook_available",
        2,
        12345,
    )
    async with api.session.get(api.url + "/metrics") as resp:
        text = await resp.text()
    assert 'vmsd_camera_up{camera="cam"} 1.0' in text
    pool = api.cameras.store._pool
    types = [r["type"] for r in await pool.fetch("SELECT type FROM events ORDER BY id")]
    assert "camera_online" in types
