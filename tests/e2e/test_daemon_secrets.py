"""The real daemon with cameras whose sources carry query-string secrets (an RTSP token, an
SRT passphrase and stream id password) that its recorders fail to read: the secrets appear in
no API response, event or log line, while the redacted forms do. And every response of both
listeners carries nosniff and no-store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.net import free_port
from vmsd.access.secrets import HOOK_SECRET_FILE_NAME

TOKEN = "abc123-rtsp-token"
PASSPHRASE = "srt-passphrase-4711"
STREAM_PASSWORD = "streampw-0815"
SECRETS = (TOKEN, PASSPHRASE, STREAM_PASSWORD)
NOSNIFF = ("X-Content-Type-Options", "nosniff")
NO_STORE = ("Cache-Control", "no-store")


def _daemon(tmp_path: Path, **overrides: Any) -> Iterator[tuple[DaemonProcess, str]]:
    config = write_config(tmp_path, ffmpeg={"binary": ffmpeg_binary()}, **overrides)
    token = create_token(config, "ops", "admin")
    process = DaemonProcess(config)
    process.start().wait_ready()
    try:
        yield process, token
        assert process.stop() == 0
    finally:
        process.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[DaemonProcess, str]]:
    yield from _daemon(tmp_path)


@pytest.fixture
def hooks_daemon(tmp_path: Path, repo_root: Path) -> Iterator[tuple[DaemonProcess, str]]:
    """MediaMTX external (not running here): with MediaMTX off no hooks listener is bound."""
    mediamtx = {
        "mode": "external",
        "base_config": str(repo_root / "mediamtx.yml"),
        "config_path": str(tmp_path / "mediamtx" / "mediamtx.yml"),
        "api_port": free_port(),
        "hooks_port": free_port(),
    }
    yield from _daemon(tmp_path, mediamtx=mediamtx)


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as resp:
        text = await resp.text()
        assert resp.status < 300, text
        for secret in SECRETS:
            assert secret not in text, f"{method} {url}: {text}"
        return await resp.json()


async def _failures(session: aiohttp.ClientSession, url: str, cameras: set[str]) -> list[Any]:
    """The recorder_failed events, once every camera has one (FFmpeg ran and failed)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        body = await _json(session, "GET", url + "/api/v1/events?type=recorder_failed")
        if cameras <= {e["camera"] for e in body["items"]}:
            return body["items"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no recorder_failed for each of {cameras}")


async def test_query_secrets_appear_nowhere(daemon: tuple[DaemonProcess, str]) -> None:
    process, token = daemon
    closed = free_port()
    cameras = {
        "tok": f"rtsp://127.0.0.1:{closed}/x?token={TOKEN}",
        "srt": f"srt://127.0.0.1:{closed}?passphrase={PASSPHRASE}"
        f"&streamid=read:cam:bob:{STREAM_PASSWORD}",
    }
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        for name, source in cameras.items():
            body = {"name": name, "source": source}
            await _json(session, "POST", process.url + "/api/v1/cameras", json=body)
        failures = await _failures(session, process.url, set(cameras))
        listed = await _json(session, "GET", process.url + "/api/v1/cameras")
        one = await _json(session, "GET", process.url + "/api/v1/cameras/srt")
        await _json(session, "GET", process.url + "/api/v1/events")
    shown = {
        "tok": f"rtsp://127.0.0.1:{closed}/x?token=***",
        "srt": f"srt://127.0.0.1:{closed}?passphrase=***&streamid=read:cam:bob:***",
    }
    assert {c["name"]: c["source"] for c in listed} == shown
    assert one["source"] == shown["srt"]
    # FFmpeg named the URLs it failed on: the events carry them, redacted.
    tails = " ".join(line for e in failures for line in e["data"].get("stderr_tail", []))
    assert "token=***" in tails, failures
    log = process.log_text()
    for secret in SECRETS:
        assert secret not in log
    assert "token=***" in log and "passphrase=***" in log  # logged, and redacted


def _assert_headers(resp: aiohttp.ClientResponse, what: str) -> None:
    for name, value in (NOSNIFF, NO_STORE):
        assert resp.headers.get(name) == value, f"{what}: {name} {resp.headers.get(name)}"


async def test_every_response_of_both_listeners_has_the_headers(
    hooks_daemon: tuple[DaemonProcess, str],
) -> None:
    process, token = hooks_daemon
    auth = {"Authorization": f"Bearer {token}"}
    api = process.url
    hooks = f"http://127.0.0.1:{process.config['mediamtx']['hooks_port']}"
    key = (process.state_dir / HOOK_SECRET_FILE_NAME).read_text().strip()
    admin_api = {"action": "api", "user": "", "password": "", "token": token, "path": ""}
    requests: list[tuple[str, str, dict[str, str], int]] = [
        ("GET", api + "/healthz", {}, 200),
        ("GET", api + "/metrics", {}, 200),
        ("GET", api + "/api/v1/cameras", auth, 200),
        ("GET", api + "/api/v1/cameras", {}, 401),
        ("GET", api + "/api/v1/cameras/nope", auth, 404),
        ("GET", api + "/no/such/route", {}, 404),
        ("DELETE", api + "/healthz", {}, 405),
        ("POST", hooks + f"/hooks/mediamtx/auth?key={key}", {}, 200),
        ("POST", hooks + "/hooks/mediamtx/auth?key=wrong", {}, 401),
        ("GET", hooks + f"/hooks/mediamtx/auth?key={key}", {}, 405),
        ("GET", hooks + "/nope", {}, 404),
    ]
    async with aiohttp.ClientSession() as session:
        for method, url, headers, expected in requests:
            body = admin_api if "/auth?" in url and method == "POST" else None
            async with session.request(method, url, headers=headers, json=body) as resp:
                await resp.read()
                assert resp.status == expected, f"{method} {url}: {resp.status}"
                _assert_headers(resp, f"{method} {url} ({resp.status})")
        # The event stream: its own no-cache becomes no-store too.
        async with session.get(api + "/api/v1/events/stream", headers=auth) as resp:
            assert resp.status == 200
            _assert_headers(resp, "event stream")
