"""The live view through the real daemon: `vmsd run` with MediaMTX `external` (and absent),
its rendered mediamtx.yml checked for the WebRTC listener, and a browser's WHEP session
through the daemon's proxy to the aiortc peer that stands in for MediaMTX (tests/whep_peer.py's
FakeMediaMtx, which asks the daemon's real hooks listener about each offer's credential, as
MediaMTX would). Frames are decoded on the browser's side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yaml
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.daemon_process import DaemonProcess, vmsd_cli, write_config
from tests.net import free_port
from tests.paths import REPO_ROOT
from tests.whep_peer import (
    FRAME_TIMEOUT_S,
    HEIGHT,
    ICE_LINK,
    WIDTH,
    FakeMediaMtx,
    offer_from,
    serving,
)
from vmsd.access.secrets import HOOK_SECRET_FILE_NAME

TURN = "turn-S3cret-9431"
CAMERAS = [
    {"name": "cam-a", "source": "rtsp://192.0.2.7/h264", "record": False},
    {"name": "cam-b", "source": "rtsp://192.0.2.8/h264", "record": False},
]


@dataclass
class Box:
    daemon: DaemonProcess
    hooks_port: int
    webrtc_port: int
    rendered: Path
    viewer: str  # a viewer token scoped to cam-a


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    tmp = tmp_path_factory.mktemp("whep")
    hooks_port, webrtc_port = free_port(), free_port()
    rendered = tmp / "mediamtx" / "mediamtx.yml"
    config = write_config(
        tmp,
        mediamtx={
            "mode": "external",
            "base_config": str(REPO_ROOT / "mediamtx.yml"),
            "config_path": str(rendered),
            "hooks_port": hooks_port,
            "api_port": free_port(),  # nothing listens: MediaMTX is not running here
        },
        console={
            "live_view": True,
            "webrtc": {
                "address": f"127.0.0.1:{webrtc_port}",
                "ice_servers": [
                    {"url": "turn:turn.example.lan:3478", "username": "u", "password": TURN}
                ],
            }
        },
        cameras=CAMERAS,
    )
    made = vmsd_cli(
        config, "token", "create", "--name", "guard", "--role", "viewer", "--cameras", "cam-a"
    )
    assert made.returncode == 0, made.stderr
    daemon = DaemonProcess(config)
    try:
        daemon.start().wait_ready()
        yield Box(daemon, hooks_port, webrtc_port, rendered, made.stdout.strip())
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_the_rendered_file_has_the_webrtc_listener_as_configured(box: Box) -> None:
    doc = yaml.safe_load(box.rendered.read_text())
    assert doc["webrtc"] is True
    assert doc["webrtcAddress"] == f"127.0.0.1:{box.webrtc_port}"
    assert doc["webrtcLocalUDPAddress"] == ":8189"
    assert doc["webrtcLocalTCPAddress"] == ""
    assert doc["webrtcICEServers2"] == [
        {"url": "turn:turn.example.lan:3478", "username": "u", "password": TURN}
    ]
    shown = vmsd_cli(box.daemon.config_path, "render-mediamtx")
    assert shown.returncode == 0, shown.stderr
    assert "webrtcICEServers2" in shown.stdout and TURN not in shown.stdout
    assert TURN not in box.daemon.log_text()


async def test_a_browser_plays_through_the_daemon(box: Box) -> None:
    key = (box.daemon.state_dir / HOOK_SECRET_FILE_NAME).read_text().strip()
    hook_url = f"http://127.0.0.1:{box.hooks_port}/hooks/mediamtx/auth?key={quote(key, safe='')}"
    browser = RTCPeerConnection()
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    browser.on("track", tracks.put_nowait)
    auth = {"Authorization": f"Bearer {box.viewer}"}
    try:
        sdp = await offer_from(browser)
        async with (
            serving(FakeMediaMtx(hook_url, other_path="cam-b"), box.webrtc_port) as mediamtx,
            aiohttp.ClientSession() as session,
        ):
            base = box.daemon.url + "/api/v1/cameras"
            async with session.post(
                f"{base}/cam-b/whep", data=sdp, headers={**auth, "Content-Type": "application/sdp"}
            ) as resp:
                assert resp.status == 404  # out of the token's scope
            async with session.post(
                f"{base}/cam-a/whep", data=sdp, headers={**auth, "Content-Type": "application/sdp"}
            ) as resp:
                answer = await resp.text()
                assert resp.status == 201, answer
                location = resp.headers["Location"]
                assert resp.headers.getall("Link") == [ICE_LINK]
            await browser.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            track = await asyncio.wait_for(tracks.get(), FRAME_TIMEOUT_S)
            frame = await asyncio.wait_for(track.recv(), FRAME_TIMEOUT_S)
            assert (frame.width, frame.height) == (WIDTH, HEIGHT)
            async with session.delete(box.daemon.url + location, headers=auth) as resp:
                assert resp.status == 204
        assert [v[1:] for v in mediamtx.verdicts] == [
            ("cam-a", "webrtc", 200),
            ("cam-b", "webrtc", 401),
            ("cam-a", "rtsp", 401),
        ]
    finally:
        await browser.close()
