"""MediaMTX's WebRTC (WHEP) server stood in for by an aiortc peer, for tests only.

MediaMTX is not installable here, so `FakeMediaMtx` stands in for it: an aiohttp app with
MediaMTX's WHEP contract (internal/servers/webrtc/http_server.go: POST /<path>/whep -> 201, SDP
answer, `Location: /<path>/whep/<uuid>`, ETag, Link; PATCH with a trickle-ICE fragment -> 204;
DELETE -> 200; 404 for a session it has not) and a real aiortc peer serving a 320x240 test
video track. It authenticates each offer as MediaMTX does, by POSTing the request's Basic
credentials to vmsd's auth hook (action `read`, protocol `webrtc`), and answers 401 when the
hook refuses. It also asks the hook, with the same credentials, about another camera and about
RTSP, so a test sees the minted credential accepted for its camera only.

Used by tests/integration/test_whep.py (the proxy in process), tests/e2e/test_whep_daemon.py
(the real daemon, an aiortc client) and tests/e2e/test_console_live.py (the console in Chromium).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

WIDTH, HEIGHT = 320, 240
ICE_LINK = '<stun:stun.example.lan:3478>; rel="ice-server"'
FRAME_TIMEOUT_S = 20.0


class PatternTrack(VideoStreamTrack):
    """A 320x240 track whose luma ramps with the frame count (so frames differ)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=WIDTH, height=HEIGHT, format="yuv420p")
        self.count += 1
        for i, plane in enumerate(frame.planes):
            plane.update(bytes([(self.count * 8) % 256 if i == 0 else 128]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


@dataclass(frozen=True)
class Creds:
    user: str
    password: str


@dataclass
class FakeMediaMtx:
    """Stands in for MediaMTX's WebRTC server (see the module's docstring)."""

    hook_url: str  # vmsd's auth hook, as in MediaMTX's authHTTPAddress
    other_path: str  # another camera, asked about with each offer's credentials
    peers: dict[str, RTCPeerConnection] = field(default_factory=dict)
    verdicts: list[tuple[str, str, str, int]] = field(default_factory=list)
    credentials: list[Creds] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # the paths of the sessions ended
    offers: int = 0
    sdps: list[tuple[str, str]] = field(default_factory=list)  # (offer, answer) of each session

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{path}/whep", self.post)
        app.router.add_patch("/{path}/whep/{secret}", self.patch)
        app.router.add_delete("/{path}/whep/{secret}", self.delete)
        return app

    async def ask_hook(self, creds: Creds, path: str, protocol: str) -> int:
        body = {
            "ip": "127.0.0.1",
            "user": creds.user,
            "password": creds.password,
            "token": "",
            "action": "read",
            "path": path,
            "protocol": protocol,
            "id": str(uuid.uuid4()),
            "query": "",
        }
        connector = aiohttp.TCPConnector(force_close=True)  # MediaMTX: a connection per check
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(self.hook_url, json=body) as resp,
        ):
            self.verdicts.append((creds.user, path, protocol, resp.status))
            return resp.status

    async def post(self, request: web.Request) -> web.Response:
        self.offers += 1
        path = request.match_info["path"]
        if request.content_type != "application/sdp":
            return web.json_response({"error": "invalid Content-Type"}, status=400)
        header = request.headers.get("Authorization")
        if header is None:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="mediamtx"'})
        creds = Creds(*base64.b64decode(header.removeprefix("Basic ")).decode().split(":", 1))
        self.credentials.append(creds)
        allowed = await self.ask_hook(creds, path, "webrtc")
        await self.ask_hook(creds, self.other_path, "webrtc")
        await self.ask_hook(creds, path, "rtsp")
        if allowed != 200:
            return web.json_response({"error": "authentication failed"}, status=401)
        peer = RTCPeerConnection()
        peer.addTrack(PatternTrack())
        offer = (await request.read()).decode()
        await peer.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await peer.setLocalDescription(await peer.createAnswer())
        secret = str(uuid.uuid4())
        self.peers[secret] = peer
        self.sdps.append((offer, peer.localDescription.sdp))
        response = web.Response(
            status=201,
            body=peer.localDescription.sdp.encode(),
            content_type="application/sdp",
            headers={
                "ETag": "*",
                "ID": str(uuid.uuid4()),
                "Accept-Patch": "application/trickle-ice-sdpfrag",
                "Location": f"/{path}/whep/{secret}",
                "Access-Control-Expose-Headers": "ETag, ID, Accept-Patch, Link, Location",
            },
        )
        response.headers.add("Link", ICE_LINK)
        return response

    async def patch(self, request: web.Request) -> web.Response:
        peer = self.peers.get(request.match_info["secret"])
        if peer is None:
            return web.json_response({"error": "session not found"}, status=404)
        if request.content_type != "application/trickle-ice-sdpfrag":
            return web.json_response({"error": "invalid Content-Type"}, status=400)
        for line in (await request.read()).decode().splitlines():
            if line.startswith("a=candidate:"):
                candidate = candidate_from_sdp(line[len("a=") :])
                candidate.sdpMid = "0"
                await peer.addIceCandidate(candidate)
                self.candidates.append(line)
        return web.Response(status=204)

    async def delete(self, request: web.Request) -> web.Response:
        peer = self.peers.pop(request.match_info["secret"], None)
        if peer is None:
            return web.json_response({"error": "session not found"}, status=404)
        self.deleted.append(request.match_info["path"])
        await peer.close()
        return web.Response(status=200)


async def offer_from(peer: RTCPeerConnection) -> str:
    peer.addTransceiver("video", direction="recvonly")
    await peer.setLocalDescription(await peer.createOffer())
    return peer.localDescription.sdp


@asynccontextmanager
async def serving(mediamtx: FakeMediaMtx, port: int) -> AsyncIterator[FakeMediaMtx]:
    """The stand-in listening on 127.0.0.1:`port`; its peers closed on the way out."""
    runner = web.AppRunner(mediamtx.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield mediamtx
    finally:
        for peer in list(mediamtx.peers.values()):
            await peer.close()
        await runner.cleanup()
