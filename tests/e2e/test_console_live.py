"""The console's live tile in a real browser: Chromium (Playwright) signs in to the real daemon
(`console.live_view: true`, MediaMTX `external` and absent) as a viewer, opens the grid, and the
tile's `<video>` plays WebRTC frames through vmsd's WHEP proxy from tests/whep_peer.py's aiortc
peer standing in for MediaMTX at `console.webrtc.address`. The stand-in checks the minted Basic
credential with the daemon's real hooks listener, as MediaMTX would. Leaving the page ends the
session: the stand-in sees the DELETE.

ICE runs between two processes on this machine, with no flag: Chromium's offer hides its host
addresses behind mDNS names (`<uuid>.local`) that nothing here resolves, and aiortc's answer
has its host candidates (every interface's address but loopback's, which aioice leaves out).
Chromium's connectivity checks reach those, and aiortc learns Chromium's address from them (a
peer-reflexive candidate), as a real MediaMTX would. A machine with no interface but loopback
would leave aiortc with no candidate at all.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    async_playwright,
    expect,
)

from tests.daemon_process import DaemonProcess, create_user, write_config
from tests.net import free_port
from tests.paths import REPO_ROOT
from tests.streams.sources import require
from tests.whep_peer import FRAME_TIMEOUT_S, HEIGHT, WIDTH, FakeMediaMtx, serving
from vmsd.access.grants import LIVE_USER_PREFIX
from vmsd.access.secrets import HOOK_SECRET_FILE_NAME

CHROMIUM = "/usr/bin/chromium"  # Debian's (.ci/run installs it); Playwright downloads none
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
CAM_A, CAM_B = "cam-a", "cam-b"
USER, PASSWORD = "vera", "live-tile-pass-5521"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
WAIT_MS = int(FRAME_TIMEOUT_S * 1000)
# The grey level at the centre of the video's current picture, drawn on a canvas.
GREY = """(v) => {
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  return g.getImageData(c.width / 2, c.height / 2, 1, 1).data[1];
}"""


@dataclass
class Box:
    daemon: DaemonProcess
    hooks_port: int
    webrtc_port: int
    problems: list[str] = field(default_factory=list)  # script errors, CSP violations
    refused: list[tuple[int, str]] = field(default_factory=list)  # HTTP answers >= 400

    @property
    def hook_url(self) -> str:
        key = (self.daemon.state_dir / HOOK_SECRET_FILE_NAME).read_text().strip()
        return f"http://127.0.0.1:{self.hooks_port}/hooks/mediamtx/auth?key={quote(key, safe='')}"


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    hooks_port, webrtc_port = free_port(), free_port()
    config = write_config(
        tmp_path,
        mediamtx={
            "mode": "external",
            "base_config": str(REPO_ROOT / "mediamtx.yml"),
            "config_path": str(tmp_path / "mediamtx" / "mediamtx.yml"),
            "hooks_port": hooks_port,
            "api_port": free_port(),  # nothing listens: MediaMTX is not running here
        },
        console={"live_view": True, "webrtc": {"address": f"127.0.0.1:{webrtc_port}"}},
        cameras=[
            {"name": CAM_A, "source": "rtsp://192.0.2.7/h264", "record": False},
            {"name": CAM_B, "source": "rtsp://192.0.2.8/h264", "record": False},
        ],
        auth={"password_hash": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}},
    )
    create_user(config, USER, "viewer", PASSWORD, "--cameras", CAM_A)
    daemon = DaemonProcess(config)
    try:
        daemon.start().wait_ready()
        yield Box(daemon, hooks_port, webrtc_port)
        assert daemon.stop() == 0
    finally:
        daemon.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=require(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def signed_in_page(box: Box, browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()

    def console(message: ConsoleMessage) -> None:
        # The browser's line about a failed load is checked in `refused`, with its URL.
        if (message.type == "error" or "Content Security Policy" in message.text) and (
            "Failed to load resource" not in message.text
        ):
            box.problems.append(f"console {message.type}: {message.text}")

    def response(answer: Response) -> None:
        if answer.status >= 400:
            box.refused.append((answer.status, urlsplit(answer.url).path))

    page.on("console", console)
    page.on("response", response)
    page.on("pageerror", lambda err: box.problems.append(f"page error: {err}"))
    await page.goto(box.daemon.url + "/")
    await page.get_by_label("Username", exact=True).fill(USER)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who")).to_contain_text(USER)
    return page


async def test_the_live_tile_plays_webrtc_through_the_proxy(box: Box, browser: Browser) -> None:
    async with serving(FakeMediaMtx(box.hook_url, other_path=CAM_B), box.webrtc_port) as mediamtx:
        page = await signed_in_page(box, browser)
        tile = page.locator(f"article[data-camera='{CAM_A}']")
        await expect(page.locator("article.tile")).to_have_count(1)  # the viewer's one camera
        picture = tile.locator(".picture")
        await expect(picture).to_have_attribute("data-mode", "webrtc")
        await expect(tile.locator(".picture-label")).to_have_text("Live (WebRTC)")
        video = tile.locator("video.live")
        await expect(video).to_have_count(1)
        await expect(tile.locator("img")).to_have_count(0)  # not the snapshot fallback

        # Decoded frames: the track's size, and the clock moving on.
        await page.wait_for_function(
            "(v) => v.videoWidth > 0 && v.currentTime > 0", arg=await video.element_handle()
        )
        size = await video.evaluate("(v) => [v.videoWidth, v.videoHeight]")
        assert size == [WIDTH, HEIGHT]
        before = await video.evaluate("(v) => v.currentTime")
        await page.wait_for_function(
            "([v, t]) => v.currentTime > t + 1", arg=[await video.element_handle(), before]
        )
        assert await video.evaluate("(v) => v.paused") is False
        assert await video.evaluate("(v) => v.muted") is True  # a grid of tiles is silent
        decoded = await video.evaluate("(v) => v.getVideoPlaybackQuality().totalVideoFrames")
        assert decoded > 5, decoded
        # The picture itself moves on: the stand-in's luma ramps frame by frame.
        first = await video.evaluate(GREY)
        await page.wait_for_function(
            f"([v, g]) => ({GREY})(v) !== g", arg=[await video.element_handle(), first]
        )
        path = SCREENSHOTS / "20-live-tile.png"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, box.daemon.directory / path.name)

        # The offer came with a minted live-view credential the hook took for cam-a only.
        (creds,) = mediamtx.credentials
        assert creds.user.startswith(LIVE_USER_PREFIX)
        assert [v[1:] for v in mediamtx.verdicts] == [
            (CAM_A, "webrtc", 200),
            (CAM_B, "webrtc", 401),
            (CAM_A, "rtsp", 401),
        ]
        assert len(mediamtx.peers) == 1
        ((offer, answer),) = mediamtx.sdps
        # Non-trickle: the console's offer carries Chromium's candidates (mDNS names), no PATCH
        # follows; the answer carries aiortc's host candidates, which Chromium checks.
        assert "\r\na=candidate:" in offer
        assert mediamtx.candidates == []
        assert " typ host" in answer

        # Leaving the grid ends the session: the console DELETEs it, the proxy forwards it.
        await page.get_by_role("link", name="Events").click()
        await expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()
        for _ in range(int(FRAME_TIMEOUT_S * 10)):
            if mediamtx.deleted:
                break
            await asyncio.sleep(0.1)
        assert mediamtx.deleted == [CAM_A]
        assert mediamtx.peers == {}
        await page.context.close()
    assert box.problems == []
    assert box.refused == [(401, "/api/v1/auth/me")]  # the start, before signing in
