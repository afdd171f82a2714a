"""The real daemon: an event stream receives the events of a real camera's state changes as
they happen, and after a disconnect resumes with Last-Event-ID without losing or repeating
one."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.integration.test_events_api import SseClient


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[DaemonProcess, str]]:
    config = write_config(tmp_path, ffmpeg={"binary": ffmpeg_binary()})
    token = create_token(config, "ops", "admin")
    process = DaemonProcess(config)
    process.start().wait_ready()
    try:
        yield process, token
        assert process.stop() == 0
    finally:
        process.close()


async def _until(client: SseClient, *wanted: str) -> list[dict[str, Any]]:
    """Events until one of each type in `wanted` has come."""
    seen: list[dict[str, Any]] = []
    while not set(wanted) <= {e["type"] for e in seen}:
        seen.append(await client.next_event(timeout=30))
    return seen


@pytest.mark.slow
async def test_camera_state_changes_stream_and_resume(daemon: tuple[DaemonProcess, str]) -> None:
    process, token = daemon
    auth = {"Authorization": f"Bearer {token}"}
    stream_url = process.url + "/api/v1/events/stream?camera=demo"
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.get(stream_url) as response:
            assert response.status == 200
            client = SseClient(response)
            body = {"name": "demo", "source": "test://?size=320x240&fps=10"}
            async with session.post(process.url + "/api/v1/cameras", json=body) as r:
                assert r.status == 201, await r.text()
            # The recorder's FFmpeg runs and finds the source: the camera goes online.
            first = await _until(client, "camera_online")
            assert first[0]["type"] == "camera_created"
            last_id = first[-1]["id"]
        # Disconnected while the camera is disabled: those events happen unseen.
        patch = {"enabled": False}
        async with session.patch(process.url + "/api/v1/cameras/demo", json=patch) as r:
            assert r.status == 200, await r.text()
        headers = {"Last-Event-ID": str(last_id)}
        async with session.get(stream_url, headers=headers) as response:
            client = SseClient(response)
            resumed = await _until(client, "camera_updated", "camera_disabled")
    # What happened while disconnected, each once: the change through the API and the state
    # change it caused (its order against the API's own event is not fixed).
    types = [e["type"] for e in resumed]
    assert sorted(types) == ["camera_disabled", "camera_updated"], types
    ids = [e["id"] for e in resumed]
    assert ids == sorted(ids) and ids[0] > last_id and len(set(ids)) == len(ids)
    assert all(e["camera"] == "demo" for e in resumed)


@pytest.mark.slow
async def test_daemon_delivers_its_events_to_a_webhook(tmp_path: Path) -> None:
    """The wiring: the notifier starts with the daemon and is stopped after the last event,
    so even daemon_stopped reaches the receiver, signed."""
    secret = "a-webhook-secret-of-some-length"
    received: list[tuple[dict[str, Any], bool]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(expected, request.headers["X-Vmsd-Signature"])
        received.append((json.loads(body), valid))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = write_config(
        tmp_path,
        notifications={
            "webhooks": [
                {
                    "url": f"http://127.0.0.1:{port}/hook",
                    "secret": secret,
                    "events": ["daemon_started", "daemon_stopped"],
                }
            ]
        },
    )
    process = DaemonProcess(config)
    try:
        await asyncio.to_thread(lambda: process.start().wait_ready())
        assert await asyncio.to_thread(process.stop) == 0
    finally:
        process.close()
        await runner.cleanup()
    assert [event["type"] for event, _ in received] == ["daemon_started", "daemon_stopped"]
    assert all(valid for _, valid in received)
    assert received[0][0]["id"] < received[1][0]["id"]
