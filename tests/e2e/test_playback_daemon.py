"""Playback on the real daemon, of what its own recorder wrote (a `test://` camera, 2 s
segments): the stream of a range over several segments starts with a keyframe at time 0 and
has no timestamp jump at the joins; a client that goes away mid-stream (its socket closed,
most of the stream unread) ends FFmpeg, and the audit row says `client_gone`; Chromium's
<video src=...> plays the stream as it arrives, across segment boundaries."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.streams.sources import ffprobe_exe, require

FPS = 25
SEGMENTS = 4


def _token(config: Path, role: str) -> str:
    return create_token(config, role, role)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[DaemonProcess, dict[str, str]]]:
    config = write_config(
        tmp_path,
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": 2},
        cameras=[{"name": "cam", "source": f"test://?size=1280x720&fps={FPS}"}],
        log={"level": "info", "format": "json"},
    )
    tokens = {role: _token(config, role) for role in ("viewer", "admin")}
    process = DaemonProcess(config)
    process.start().wait_ready()
    try:
        yield process, tokens
    finally:
        process.stop()
        process.close()


def _segments(daemon: DaemonProcess, token: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, page = daemon.get("/api/v1/recordings?camera=cam&order=asc", token)
        assert status == 200, page
        if len(page["items"]) >= SEGMENTS:
            return list(page["items"])
        time.sleep(0.5)
    raise AssertionError(f"fewer than {SEGMENTS} segments recorded:\n{daemon.log_text()}")


def _query(start: str, duration: str) -> str:
    return urllib.parse.urlencode({"start": start, "duration": duration})


def _playback_children(daemon: DaemonProcess) -> list[psutil.Process]:
    assert daemon.proc is not None
    children = psutil.Process(daemon.proc.pid).children(recursive=True)
    found = []
    for child in children:
        try:
            if any("vmsd-playback-" in arg for arg in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_playback_of_the_recorders_segments(
    daemon: tuple[DaemonProcess, dict[str, str]], tmp_path: Path
) -> None:
    process, tokens = daemon
    items = _segments(process, tokens["viewer"])
    start = datetime.fromisoformat(items[0]["start"]) + timedelta(seconds=0.5)
    end = datetime.fromisoformat(items[SEGMENTS - 1]["end"]) - timedelta(seconds=0.5)
    duration = f"{(end - start).total_seconds():.3f}"
    playback = f"/api/v1/cameras/cam/playback?{_query(start.isoformat(), duration)}"
    played = process.request("GET", playback, token=tokens["viewer"])
    assert played.status == 200 and played.headers["Content-Type"] == "video/mp4"
    first = datetime.fromisoformat(played.headers["X-Playback-Start"])
    path = tmp_path / "playback.mp4"
    path.write_bytes(played.body)
    assert first <= start
    probed = subprocess.run(
        [
            *(ffprobe_exe(), "-v", "error", "-of", "json", "-select_streams", "v:0"),
            *("-show_entries", "packet=pts_time,flags", str(path)),
        ],
        capture_output=True,
        check=True,
    )
    packets = json.loads(probed.stdout)["packets"]
    assert "K" in packets[0]["flags"] and float(packets[0]["pts_time"]) == pytest.approx(0)
    times = [float(p["pts_time"]) for p in packets]
    steps = [b - a for a, b in itertools.pairwise(times)]
    # The recorder's segments join without a hole (each one's time restarts at 0 on disk).
    assert max(steps) < 1.5 / FPS and min(steps) > 0.5 / FPS, steps
    assert times[-1] == pytest.approx((end - first).total_seconds(), abs=2 / FPS + 0.3)


def test_a_client_going_away_ends_ffmpeg(daemon: tuple[DaemonProcess, dict[str, str]]) -> None:
    process, tokens = daemon
    items = _segments(process, tokens["viewer"])
    target = f"/api/v1/cameras/cam/playback?{_query(items[0]['start'], '60s')}"
    with socket.socket() as client:
        # A small receive window: the daemon's writes block soon after the stream begins.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", process.port))
        client.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {tokens['viewer']}\r\n\r\n".encode()
        )
        received = b""
        while len(received) < 4096:
            chunk = client.recv(4096)
            assert chunk, received
            received += chunk
        assert received.startswith(b"HTTP/1.1 200"), received[:200]
        assert _playback_children(process)  # still streaming
    deadline = time.monotonic() + 30
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not rows:
        status, page = process.get("/api/v1/audit?action=recording.playback", tokens["admin"])
        assert status == 200, page
        rows = page["items"]
        time.sleep(0.2)
    assert [row["details"]["outcome"] for row in rows] == ["client_gone"]
    assert _playback_children(process) == []


def test_chromium_plays_the_stream_across_segments(
    daemon: tuple[DaemonProcess, dict[str, str]],
) -> None:
    require("playwright")
    chromium = require("chromium")
    from playwright.sync_api import sync_playwright

    process, tokens = daemon
    items = _segments(process, tokens["viewer"])
    start = datetime.fromisoformat(items[0]["start"]) + timedelta(seconds=0.5)
    src = f"{process.url}/api/v1/cameras/cam/playback?{_query(start.isoformat(), '60s')}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            # The media request carries the token as a header (the console uses its cookie).
            context = browser.new_context(
                extra_http_headers={"Authorization": f"Bearer {tokens['viewer']}"}
            )
            page = context.new_page()
            page.set_content(
                "<video muted autoplay playsinline></video><script>"
                "const v = document.querySelector('video'); window.errors = [];"
                "v.addEventListener('error', () => window.errors.push(v.error.code));"
                f"v.src = {json.dumps(src)};</script>"
            )
            # Past the first two 2 s segments: playback crossed at least two joins.
            page.wait_for_function(
                "document.querySelector('video').currentTime > 4.5", timeout=30_000
            )
            assert page.evaluate("window.errors") == []
            assert page.evaluate("document.querySelector('video').videoWidth") == 1280
        finally:
            browser.close()
