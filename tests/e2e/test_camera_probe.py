"""Probe before you save, on the real daemon (MediaMTX off, the bundled FFmpeg), as an
operator does it: an unsaved source against the GStreamer RTSP server with G.711 audio and a
password, the same with a wrong password, a closed port; then the saved camera, by an
operator token; a test pattern of the config file. The daemon's log says each probe once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.net import free_port
from tests.streams.sources import RtspServer

USER, PASSWORD = "admin", "right-pw-4711"


@pytest.fixture
def camera() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], audio=True, audio_codec="pcma", user=USER, password=PASSWORD) as s:
        yield s


def _token(config: Path, role: str) -> str:
    return create_token(config, role, role)


async def _post(
    session: aiohttp.ClientSession, url: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_probe_before_saving_and_after(camera: RtspServer, tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        ffmpeg={"binary": ffmpeg_binary()},
        cameras=[{"name": "demo", "source": "test://?size=320x240&fps=10", "record": False}],
        log={"level": "info", "format": "json"},
    )
    admin, operator = _token(config, "admin"), _token(config, "operator")
    daemon = DaemonProcess(config)
    await asyncio.to_thread(lambda: daemon.start().wait_ready())
    try:
        async with aiohttp.ClientSession() as session:
            probe = daemon.url + "/api/v1/probe"
            source = {"source": camera.url(), "username": USER}
            status, wrong = await _post(session, probe, admin, {**source, "password": "nope-1"})
            assert status == 200 and wrong["ok"] is False
            assert wrong["failure"]["class"] == "unauthorized"
            status, closed = await _post(
                session, probe, admin, {"source": f"rtsp://127.0.0.1:{free_port()}/x"}
            )
            assert status == 200 and closed["failure"]["class"] == "refused"
            status, right = await _post(session, probe, admin, {**source, "password": PASSWORD})
            assert status == 200 and right["ok"] is True, right
            assert right["recording"]["mode"] == "transcode_audio"
            assert right["audio"]["codec"] == "pcm_alaw" and right["video"]["codec"] == "h264"

            created = {"name": "gate", **source, "password": PASSWORD, "record": False}
            status, _ = await _post(session, daemon.url + "/api/v1/cameras", admin, created)
            assert status == 201
            status, saved = await _post(
                session, daemon.url + "/api/v1/cameras/gate/probe", operator
            )
            assert status == 200 and saved["ok"] is True and saved["camera"] == "gate"
            assert saved["via"] == "source" and saved["recording"] == right["recording"]
            status, demo = await _post(session, daemon.url + "/api/v1/cameras/demo/probe", operator)
            assert status == 200 and demo["via"] == "synthetic"
    finally:
        assert daemon.stop() == 0, daemon.log_text()[-3000:]
        daemon.close()
    probed = [e for e in daemon.log_events() if e.get("event") == "camera_probed"]
    assert [(e["camera"], e["failure"], e["mode"]) for e in probed] == [
        (None, "unauthorized", None),
        (None, "refused", None),
        (None, None, "transcode_audio"),
        ("gate", None, "transcode_audio"),
        ("demo", None, "as_is"),
    ]
    assert PASSWORD not in daemon.log_text() and "nope-1" not in json.dumps(probed)
