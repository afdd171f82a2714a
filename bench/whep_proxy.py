"""What the WHEP proxy adds to a live view's start, and the time to the first frame.

Usage: python bench/whep_proxy.py [--rounds N] [--frames F]

1. Signalling: N offers POSTed straight to a WHEP endpoint on loopback, then N through
   vmsd's LiveView (vmsd.mediamtx.whep: a grant minted and revoked, a new connection per
   request, the Location checked, the session remembered) and N ends (DELETE). The endpoint
   answers a canned SDP at once, so the figures are the proxy's own cost. vmsd's HTTP layer
   (auth, audit, rate limit) is not in it: it is the same for every API request.
2. First frame: F live views through LiveView to an aiortc peer serving a 320x240 track (the
   stand-in for MediaMTX of tests/integration/test_whep.py, without its auth-hook call), an
   aiortc client: from the offer's creation to the first decoded frame, over loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from vmsd.access.grants import LIVE_USER_PREFIX, Grants
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.log import LogLevel, configure_logging
from vmsd.mediamtx.whep import LiveView

CANNED = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def stand_in(real_peer: bool) -> web.Application:
    peers: dict[str, RTCPeerConnection] = {}

    async def post(request: web.Request) -> web.Response:
        secret = str(uuid.uuid4())
        body = CANNED
        if real_peer:
            peer = RTCPeerConnection()
            peer.addTrack(VideoStreamTrack())
            offer = (await request.read()).decode()
            await peer.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await peer.setLocalDescription(await peer.createAnswer())
            peers[secret] = peer
            body = peer.localDescription.sdp.encode()
        location = f"/{request.match_info['path']}/whep/{secret}"
        return web.Response(
            status=201, body=body, content_type="application/sdp", headers={"Location": location}
        )

    async def delete(request: web.Request) -> web.Response:
        peer = peers.pop(request.match_info["secret"], None)
        if peer is not None:
            await peer.close()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{path}/whep", post)
    app.router.add_delete("/{path}/whep/{secret}", delete)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and server.sockets
    return runner, server.sockets[0].getsockname()[1]


def live_view(port: int) -> LiveView:
    config = Config.model_validate({"console": {"webrtc": {"address": f"127.0.0.1:{port}"}}})
    grants = Grants(LIVE_USER_PREFIX, max_grants=64)
    return LiveView(ConfigHolder(config, Path("bench.yml")), grants, mediamtx_on=True)


def report(name: str, samples_s: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"{name:28} n={len(ms):4}  p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms")


async def signalling(rounds: int) -> None:
    runner, port = await serve(stand_in(real_peer=False))
    view = live_view(port)
    direct, started, stopped = [], [], []
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(rounds):
            t0 = time.perf_counter()
            async with session.post(
                f"http://127.0.0.1:{port}/cam/whep",
                data=CANNED,
                headers={"Content-Type": "application/sdp"},
            ) as resp:
                await resp.read()
            direct.append(time.perf_counter() - t0)
    for _ in range(rounds):
        t0 = time.perf_counter()
        answer = await view.start("cam", "user:bench", CANNED)
        started.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await view.stop("cam", "user:bench", answer.session)
        stopped.append(time.perf_counter() - t0)
    await runner.cleanup()
    report("offer, direct", direct)
    report("offer, through LiveView", started)
    report("end, through LiveView", stopped)


async def first_frames(count: int) -> None:
    runner, port = await serve(stand_in(real_peer=True))
    view = live_view(port)
    samples = []
    for _ in range(count):
        browser = RTCPeerConnection()
        tracks: asyncio.Queue[object] = asyncio.Queue()
        browser.on("track", tracks.put_nowait)
        t0 = time.perf_counter()
        browser.addTransceiver("video", direction="recvonly")
        await browser.setLocalDescription(await browser.createOffer())
        answer = await view.start("cam", "user:bench", browser.localDescription.sdp.encode())
        await browser.setRemoteDescription(RTCSessionDescription(answer.sdp.decode(), "answer"))
        track = await asyncio.wait_for(tracks.get(), 20)
        await asyncio.wait_for(track.recv(), 20)  # type: ignore[attr-defined]
        samples.append(time.perf_counter() - t0)
        await view.stop("cam", "user:bench", answer.session)
        await browser.close()
    await runner.cleanup()
    report("offer to first frame", samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--frames", type=int, default=10)
    args = parser.parse_args()
    configure_logging(LogLevel.ERROR)  # a line per session start and end otherwise
    await signalling(args.rounds)
    await first_frames(args.frames)


if __name__ == "__main__":
    asyncio.run(main())
