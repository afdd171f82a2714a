"""Secrets in a camera's source over the real API: query-string tokens and SRT passphrases
are shown as ***, kept when a client sends the shown source back, and snapshot failures tell
viewers the class of the failure while operators also get FFmpeg's redacted stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.streams.sources import RtspServer

TOKEN = "abc123tok"
PASSPHRASE = "srt-passphrase-0815"
STREAM_PASSWORD = "streampw77"
CAMERA_USER, CAMERA_PASSWORD = "admin", "cam-pw-4711"
SECRETS = (TOKEN, PASSPHRASE, STREAM_PASSWORD, CAMERA_PASSWORD)


async def _call(
    api: Api, method: str, path: str, who: str = "admin", body: Any = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"headers": api.headers(who)}
    if body is not None:
        kwargs["json"] = body
    async with api.session.request(method, api.url + path, **kwargs) as resp:
        text = await resp.text()
        for secret in SECRETS:
            assert secret not in text, f"{method} {path} showed a secret: {text}"
        return resp.status, json.loads(text) if text else None


async def _create(api: Api, name: str, source: str, **extra: Any) -> dict[str, Any]:
    status, body = await _call(
        api, "POST", "/api/v1/cameras", body={"name": name, "source": source, **extra}
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def camera_server() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], user=CAMERA_USER, password=CAMERA_PASSWORD) as server:
        yield server


async def test_query_secrets_are_never_shown(api: Api) -> None:
    rtsp = await _create(api, "tok", f"rtsp://192.0.2.10/x?token={TOKEN}")
    srt = await _create(
        api,
        "srt",
        f"srt://192.0.2.11:9000?passphrase={PASSPHRASE}&streamid=read:cam:bob:{STREAM_PASSWORD}",
    )
    assert rtsp["source"] == "rtsp://192.0.2.10/x?token=***"
    assert srt["source"] == "srt://192.0.2.11:9000?passphrase=***&streamid=read:cam:bob:***"
    for who in ("viewer", "operator", "admin"):
        status, listed = await _call(api, "GET", "/api/v1/cameras", who=who)
        assert status == 200
        assert {c["name"]: c["source"] for c in listed} == {
            "tok": rtsp["source"],
            "srt": srt["source"],
        }
        status, one = await _call(api, "GET", "/api/v1/cameras/srt", who=who)
        assert status == 200 and one["source"] == srt["source"]
    status, events = await _call(api, "GET", "/api/v1/events", who="admin")
    assert status == 200 and {"camera_created"} <= {e["type"] for e in events["items"]}
    # Stored as given: what FFmpeg and MediaMTX are handed keeps the real values.
    stored = api.cameras.registry.cameras
    assert stored["tok"].connect_url == f"rtsp://192.0.2.10/x?token={TOKEN}"
    assert PASSPHRASE in stored["srt"].connect_url and STREAM_PASSWORD in stored["srt"].connect_url


async def test_the_shown_source_sent_back_keeps_the_secrets(api: Api) -> None:
    source = f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@192.0.2.10/x?token={TOKEN}&channel=1"
    shown = (await _create(api, "door", source))["source"]
    assert shown == f"rtsp://{CAMERA_USER}:***@192.0.2.10/x?token=***&channel=1"

    # GET, change something else, PATCH the whole thing back: nothing secret changes.
    status, patched = await _call(
        api, "PATCH", "/api/v1/cameras/door", body={"source": shown, "description": "porch"}
    )
    assert status == 200, patched
    assert patched["source"] == shown and patched["has_password"] is True
    camera = api.cameras.registry.cameras["door"]
    assert camera.password == CAMERA_PASSWORD
    assert camera.connect_url == source

    # An edited source: the *** keep their values by name, the rest is the new URL.
    edited = f"rtsp://{CAMERA_USER}:***@192.0.2.20/y?channel=2&token=***"
    status, patched = await _call(api, "PATCH", "/api/v1/cameras/door", body={"source": edited})
    assert status == 200, patched
    camera = api.cameras.registry.cameras["door"]
    assert camera.connect_url == (
        f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@192.0.2.20/y?channel=2&token={TOKEN}"
    )


@pytest.mark.parametrize(
    "source",
    [
        "rtsp://192.0.2.10/x?key=***",  # the camera has no key parameter
        "rtsp://other:***@192.0.2.10/x",  # ... nor a password
    ],
)
async def test_a_placeholder_with_nothing_behind_it_is_refused(api: Api, source: str) -> None:
    await _create(api, "plain", "rtsp://192.0.2.10/x?token=t0k3n")
    status, body = await _call(api, "PATCH", "/api/v1/cameras/plain", body={"source": source})
    assert status == 422, body
    [detail] = body["error"]["details"]
    assert detail["field"] == "source" and "***" in detail["message"]
    assert api.cameras.registry.cameras["plain"].source == "rtsp://192.0.2.10/x?token=t0k3n"
    status, body = await _call(
        api, "POST", "/api/v1/cameras", body={"name": "new", "source": source}
    )
    assert status == 422, body


async def test_snapshot_failures_by_role(api: Api, camera_server: RtspServer) -> None:
    """No credentials: the camera answers 401. Every role learns that; only operators and
    admins see FFmpeg's stderr, with the token in the URL redacted."""
    await _create(api, "locked", camera_server.url() + f"?token={TOKEN}", record=False)
    bodies = {}
    for who in ("viewer", "operator", "admin"):
        async with api.session.get(
            api.url + "/api/v1/cameras/locked/snapshot", headers=api.headers(who)
        ) as resp:
            text = await resp.text()
            assert resp.status == 503, text
            assert resp.headers["Retry-After"]
            assert TOKEN not in text
            bodies[who] = json.loads(text)["error"]
    viewer = bodies["viewer"]
    assert viewer["code"] == "camera_unavailable"
    assert (
        viewer["message"] == "no picture from camera 'locked': the camera refused the credentials"
    )
    assert viewer["details"] == [
        {"field": None, "message": "the camera refused the credentials", "reason": "unauthorized"}
    ]
    assert str(camera_server.port) not in json.dumps(viewer)  # no host, no port, no path
    for who in ("operator", "admin"):
        details = bodies[who]["details"]
        assert details[0] == viewer["details"][0]
        stderr = details[1]["ffmpeg_stderr"]
        assert any("401" in line for line in stderr)
        assert any(f"127.0.0.1:{camera_server.port}" in line for line in stderr)


async def test_snapshot_with_the_stored_password_after_an_echoed_patch(
    api: Api, camera_server: RtspServer
) -> None:
    """The echo keeps the real password: the camera still lets vmsd in."""
    source = f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@127.0.0.1:{camera_server.port}/cam1"
    shown = (await _create(api, "open", source, record=False))["source"]
    status, _ = await _call(api, "PATCH", "/api/v1/cameras/open", body={"source": shown})
    assert status == 200
    async with api.session.get(
        api.url + "/api/v1/cameras/open/snapshot", headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.read()).startswith(b"\xff\xd8")
