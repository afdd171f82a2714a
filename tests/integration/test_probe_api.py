"""The probe endpoints over real HTTP: a saved camera and an unsaved source against the
GStreamer test RTSP server (one with G.711 audio, one that needs a password); the roles; the
unsaved source checked by the very rules of POST /api/v1/cameras."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Api
from tests.streams.sources import RtspServer

USER, PASSWORD = "admin", "Sup3r$ecret:p@ss"


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], audio=True, audio_codec="pcma", user=USER, password=PASSWORD) as s:
        yield s


async def test_probe_before_saving_then_the_saved_camera(api: Api, camera: RtspServer) -> None:
    body = {"source": camera.url(), "username": USER, "password": PASSWORD}
    status, probed = await api.call("POST", "/api/v1/probe", body=body)
    assert status == 200, probed
    assert probed["ok"] is True and probed["camera"] is None and probed["via"] == "source"
    assert probed["failure"] is None and probed["note"] is None
    assert probed["video"]["codec"] == "h264" and probed["video"]["width"] == 320
    assert probed["audio"] == {
        "codec": "pcm_alaw",
        "profile": None,
        "sample_rate": 8000,
        "channels": 1,
        "bitrate_bits": 64000.0,
    }
    assert probed["recording"]["mode"] == "transcode_audio"
    assert probed["recording"]["format"] == "mp4" and probed["recording"]["audio"] is True
    assert PASSWORD not in json.dumps(probed)

    status, _ = await api.call("POST", "/api/v1/cameras", body={"name": "gate", **body})
    assert status == 201
    status, saved = await api.call("POST", "/api/v1/cameras/gate/probe", who="operator")
    assert status == 200, saved
    assert saved["camera"] == "gate" and saved["ok"] is True
    assert saved["recording"]["mode"] == "transcode_audio"


async def test_the_verdict_follows_the_format_sent(api: Api, camera: RtspServer) -> None:
    body = {
        # credentials inside the URL, as a camera's may be
        "source": f"rtsp://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{camera.port}/cam1",
        "recording": {"format": "mkv"},
    }
    status, probed = await api.call("POST", "/api/v1/probe", body=body)
    assert status == 200, probed
    assert probed["recording"]["mode"] == "as_is" and probed["recording"]["format"] == "mkv"


async def test_a_wrong_password_is_a_200_naming_the_class(api: Api, camera: RtspServer) -> None:
    body = {"source": camera.url(), "username": USER, "password": "wrong-pw-9"}
    status, probed = await api.call("POST", "/api/v1/probe", body=body)
    assert status == 200
    assert probed["ok"] is False and probed["recording"] is None
    assert probed["failure"]["class"] == "unauthorized"
    assert "401" in probed["failure"]["message"] and "wrong-pw-9" not in json.dumps(probed)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (  # the same message as POST /api/v1/cameras
            {"source": "rtsp://192.0.2.1/x", "username": "admin"},
            "(root)",
            "username and password go together: give both or neither",
        ),
        ({"source": "ftp://192.0.2.1/x"}, "source", "must be 'publisher' or a URL starting with"),
        ({"source": "publisher", "username": "cam", "password": "pw-123456"}, "source", ""),
        ({"source": "rtsp://192.0.2.1/x", "name": "gate"}, "name", "unknown key"),
        ({"source": "rtsp://192.0.2.1/x", "recording": {"format": "avi"}}, "recording", ""),
    ],
)
async def test_an_unsaved_source_is_checked_as_a_camera_is(
    api: Api, body: dict[str, Any], field: str, message: str
) -> None:
    status, error = await api.call("POST", "/api/v1/probe", body=body)
    assert status == 422, error
    details = error["error"]["details"]
    assert any(d["field"].startswith(field) and message in d["message"] for d in details), details


async def test_roles(api: Api) -> None:
    status, _ = await api.call(
        "POST", "/api/v1/cameras", body={"name": "demo", "source": "test://?size=320x240"}
    )
    assert status == 201
    status, _ = await api.call("POST", "/api/v1/cameras/demo/probe", who="viewer")
    assert status == 403
    status, probed = await api.call("POST", "/api/v1/cameras/demo/probe", who="operator")
    assert status == 200 and probed["via"] == "synthetic"
    assert probed["video"]["width"] == 320 and probed["recording"]["mode"] == "as_is"
    body = {"source": "test://?size=320x240"}
    status, _ = await api.call("POST", "/api/v1/probe", who="operator", body=body)
    assert status == 403  # an unsaved source connects anywhere: admin, as adding a camera
    status, _ = await api.call("POST", "/api/v1/cameras/nope/probe", who="operator")
    assert status == 404
