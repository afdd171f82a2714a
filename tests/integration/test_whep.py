"""The live view's WHEP proxy over real HTTP, with real WebRTC on both sides.

MediaMTX is played by tests/whep_peer.py's `FakeMediaMtx` (an aiortc peer serving a test video
track with MediaMTX's WHEP contract), which asks vmsd's real auth hook about each offer's Basic
credentials, and about another camera and RTSP with the same ones.

The browser side is an aiortc client talking to vmsd's proxy only: offer -> answer -> ICE
(PATCH) -> decoded frames -> DELETE.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.conftest import Api
from tests.integration.test_camera_scope_api import call, token
from tests.net import free_port
from tests.whep_peer import (
    FRAME_TIMEOUT_S,
    HEIGHT,
    ICE_LINK,
    WIDTH,
    FakeMediaMtx,
    offer_from,
    serving,
)
from vmsd.access.damping import FailureDamper
from vmsd.access.grants import LIVE_USER_PREFIX, READER_USER_PREFIX, Grants
from vmsd.api.hooks import HookServices, create_hooks_app
from vmsd.api.metrics import ApiMetrics
from vmsd.api.services import SERVICES
from vmsd.runtime.sites import auth_context_factory

HOOK_SECRET = "hook-secret-for-whep-tests"
SOURCE = "rtsp://192.0.2.10:554/stream1"
FRAMES = 5


@dataclass
class Live:
    api: Api
    mediamtx: FakeMediaMtx
    viewer: str  # a viewer token scoped to camera `a`


@pytest.fixture
async def live(api: Api) -> AsyncIterator[Live]:
    admin = api.tokens["admin"]
    for name in ("a", "b"):
        body = {"name": name, "source": SOURCE, "record": False}
        status, created = await call(api, "POST", "/api/v1/cameras", admin, body)
        assert status == 201, created
    hooks_app = create_hooks_app(
        HookServices(
            secret=HOOK_SECRET,
            auth_context=auth_context_factory(
                api.cameras.registry,
                api.app[SERVICES].token_registry,
                HOOK_SECRET,
                "internal-pass",
                Grants(READER_USER_PREFIX),
                api.accounts.registry,
                api.live_grants,
            ),
            damper=FailureDamper(limit=3, window_s=60, block_s=300),
            registry=api.cameras.registry,
            live=api.cameras.live,
            metrics=api.cameras.metrics.group(ApiMetrics),
        )
    )
    hooks = TestServer(hooks_app, host="127.0.0.1")
    await hooks.start_server()
    hook_url = str(hooks.make_url("/hooks/mediamtx/auth")) + f"?key={HOOK_SECRET}"
    port = free_port()
    try:
        async with serving(FakeMediaMtx(hook_url, other_path="b"), port) as mediamtx:
            point_at(api, f"127.0.0.1:{port}")
            yield Live(api, mediamtx, await token(api, "viewer", ["a"]))
    finally:
        await hooks.close()


def point_at(api: Api, address: str, *, live_view: bool = True) -> None:
    """A reload: console.webrtc.address and console.live_view are read at each request."""
    config = api.holder.current
    console = config.console.model_copy(
        update={
            "live_view": live_view,
            "webrtc": config.console.webrtc.model_copy(update={"address": address}),
        }
    )
    api.holder.current = config.model_copy(update={"console": console})


async def post_offer(
    live: Live, camera: str, sdp: str, who: str | None = None
) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {who or live.viewer}", "Content-Type": "application/sdp"}
    url = f"{live.api.url}/api/v1/cameras/{camera}/whep"
    async with live.api.session.post(url, data=sdp.encode(), headers=headers) as resp:
        await resp.read()
        return resp


def ice_fragment(sdp: str) -> str:
    """The offer's ICE credentials and candidates as a trickle-ICE fragment (RFC 8840)."""
    lines = sdp.splitlines()
    keep = [ln for ln in lines if ln.startswith(("a=ice-ufrag:", "a=ice-pwd:"))][:2]
    candidates = [ln for ln in lines if ln.startswith("a=candidate:")]
    return "\r\n".join([*keep, "m=video 9 UDP/TLS/RTP/SAVPF 0", "a=mid:0", *candidates, ""])


async def test_a_browser_plays_a_camera_through_the_proxy(live: Live) -> None:
    api, mediamtx = live.api, live.mediamtx
    browser = RTCPeerConnection()
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    browser.on("track", tracks.put_nowait)
    try:
        sdp = await offer_from(browser)
        async with api.session.post(
            f"{api.url}/api/v1/cameras/a/whep",
            data=sdp.encode(),
            headers={"Authorization": f"Bearer {live.viewer}", "Content-Type": "application/sdp"},
        ) as resp:
            answer = (await resp.read()).decode()
            assert resp.status == 201, answer
            assert resp.content_type == "application/sdp"
            location = resp.headers["Location"]
            assert location.startswith("/api/v1/cameras/a/whep/")
            assert resp.headers["ETag"] == "*"
            assert resp.headers["Accept-Patch"] == "application/trickle-ice-sdpfrag"
            assert resp.headers.getall("Link") == [ICE_LINK]
            assert "ID" not in resp.headers
        # MediaMTX's own session secret never reaches the browser.
        (secret,) = mediamtx.peers
        assert secret not in location and secret not in answer
        await browser.setRemoteDescription(RTCSessionDescription(answer, "answer"))

        async with api.session.patch(
            api.url + location,
            data=ice_fragment(sdp).encode(),
            headers={
                "Authorization": f"Bearer {live.viewer}",
                "Content-Type": "application/trickle-ice-sdpfrag",
                "If-Match": "*",
            },
        ) as resp:
            assert resp.status == 204, await resp.text()
        assert mediamtx.candidates  # forwarded whole, and taken by the peer

        track = await asyncio.wait_for(tracks.get(), FRAME_TIMEOUT_S)
        assert track.kind == "video"
        frames = [await asyncio.wait_for(track.recv(), FRAME_TIMEOUT_S) for _ in range(FRAMES)]
        assert {(f.width, f.height) for f in frames} == {(WIDTH, HEIGHT)}
        assert len({f.pts for f in frames}) == FRAMES

        headers = {"Authorization": f"Bearer {live.viewer}"}
        async with api.session.delete(api.url + location, headers=headers) as resp:
            assert resp.status == 204, await resp.text()
        assert mediamtx.peers == {}
        async with api.session.delete(api.url + location, headers=headers) as resp:
            assert resp.status == 404  # forgotten
    finally:
        await browser.close()

    # The minted credential: a live-view grant, accepted by the hook for its camera over
    # WebRTC, refused for another camera and for RTSP, and revoked once MediaMTX answered.
    (creds,) = mediamtx.credentials
    assert creds.user.startswith(LIVE_USER_PREFIX)
    assert [v[1:] for v in mediamtx.verdicts] == [
        ("a", "webrtc", 200),
        ("b", "webrtc", 401),
        ("a", "rtsp", 401),
    ]
    assert await mediamtx.ask_hook(creds, "a", "webrtc") == 401
    assert len(api.live_grants) == 0


async def test_scope_owner_and_state_decide_who_may_use_it(live: Live) -> None:
    api, mediamtx = live.api, live.mediamtx
    sdp = await offer_from(browser := RTCPeerConnection())
    try:
        # A viewer scoped to `a`: `b` is the 404 of an unknown camera, before MediaMTX.
        resp = await post_offer(live, "b", sdp)
        assert resp.status == 404
        assert mediamtx.offers == 0
        resp = await post_offer(live, "a", sdp)
        assert resp.status == 201
        location = resp.headers["Location"]
        session = location.rsplit("/", 1)[1]
        fragment = ice_fragment(sdp).encode()
        ice = {"Content-Type": "application/trickle-ice-sdpfrag"}
        other = await token(api, "viewer", ["*"])
        # Another camera's URL, another principal, a made-up session: all unknown sessions.
        for path, who in (
            (f"/api/v1/cameras/b/whep/{session}", other),
            (location, other),
            (location, api.tokens["admin"]),
            ("/api/v1/cameras/a/whep/AAAAAAAAAAAAAAAAAAAAAA", live.viewer),
            ("/api/v1/cameras/a/whep/not-a-session", live.viewer),
        ):
            for method in ("PATCH", "DELETE"):
                status, body = await call_raw(api, method, path, who, fragment, ice)
                assert status == 404, (method, path, body)
        assert len(mediamtx.peers) == 1
        # Wrong body types and sizes are refused before MediaMTX is asked.
        status, body = await call_raw(api, "PATCH", location, live.viewer, fragment, {})
        assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
        status, body = await call_raw(
            api, "POST", "/api/v1/cameras/a/whep", live.viewer, b"hello", {
                "Content-Type": "application/sdp"}
        )
        assert (status, body["error"]["code"]) == (400, "bad_request")
        status, body = await call_raw(
            api, "POST", "/api/v1/cameras/a/whep", live.viewer, b"v=0\r\n" * 20_000, {
                "Content-Type": "application/sdp"}
        )
        assert status == 413
        assert mediamtx.offers == 1

        # The live view turned off (a reload): 409, and the console falls back to snapshots.
        point_at(api, api.holder.current.console.webrtc.address, live_view=False)
        resp = await post_offer(live, "a", sdp)
        assert resp.status == 409
        status, body = await call_raw(api, "DELETE", location, live.viewer, b"", {})
        assert (status, body["error"]["code"]) == (409, "live_view_off")

        # MediaMTX's WebRTC server gone: 502, never a 500.
        point_at(api, f"127.0.0.1:{free_port()}")
        status, body = await call_raw(api, "DELETE", location, live.viewer, b"", {})
        assert (status, body["error"]["code"]) == (502, "mediamtx_unreachable")
        status, body = await call_raw(
            api, "POST", "/api/v1/cameras/a/whep", live.viewer, sdp.encode(), {
                "Content-Type": "application/sdp"}
        )
        assert (status, body["error"]["code"]) == (502, "mediamtx_unreachable")
        assert len(api.live_grants) == 0  # revoked whatever happened
    finally:
        await browser.close()


async def test_a_camera_mediamtx_has_no_stream_of_is_503(live: Live) -> None:
    """MediaMTX answers 404 for a path with no stream: the console shows snapshots."""
    mediamtx = live.mediamtx
    mediamtx_app_404 = web.Application()

    async def no_stream(_request: web.Request) -> web.Response:
        return web.json_response({"error": "no stream is available on path 'a'"}, status=404)

    mediamtx_app_404.router.add_post("/{path}/whep", no_stream)
    runner = web.AppRunner(mediamtx_app_404)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        point_at(live.api, f"127.0.0.1:{port}")
        sdp = await offer_from(browser := RTCPeerConnection())
        await browser.close()
        status, body = await call_raw(
            live.api, "POST", "/api/v1/cameras/a/whep", live.viewer, sdp.encode(), {
                "Content-Type": "application/sdp"}
        )
        assert (status, body["error"]["code"]) == (503, "unavailable")
        assert mediamtx.offers == 0
    finally:
        await runner.cleanup()


async def call_raw(
    api: Api, method: str, path: str, who: str, data: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with api.session.request(
        method, api.url + path, data=data, headers={"Authorization": f"Bearer {who}", **headers}
    ) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if resp.content_type == "application/json" else None
