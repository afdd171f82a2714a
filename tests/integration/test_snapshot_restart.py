"""Snapshots (real FFmpeg grabbing a real picture) and the restart endpoint."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, direct_inputs, ffmpeg_binary, reader_input
from vmsd.cameras.model import camera_from_config
from vmsd.config.cameras import CameraConfig
from vmsd.recorder.snapshot import Snapshots, SnapshotTimeoutError


async def _create(api: Api, body: dict[str, Any]) -> None:
    async with api.session.post(
        api.url + "/api/v1/cameras", json=body, headers=api.headers("admin")
    ) as resp:
        assert resp.status == 201, await resp.text()


async def test_snapshot_is_a_jpeg_and_cached(api: Api) -> None:
    await _create(api, {"name": "pattern", "source": "test://?size=320x240&fps=10"})
    url = api.url + "/api/v1/cameras/pattern/snapshot"
    async with api.session.get(url, headers=api.headers("viewer")) as resp:
        assert resp.status == 200
        assert resp.content_type == "image/jpeg"
        first = await resp.read()
    assert first.startswith(b"\xff\xd8") and first.endswith(b"\xff\xd9")
    # Concurrent callers share one grab; within the cache window the same picture comes back.
    bodies = await asyncio.gather(*(_get_bytes(api, url) for _ in range(5)))
    assert all(body == first for body in bodies)


async def _get_bytes(api: Api, url: str) -> bytes:
    async with api.session.get(url, headers=api.headers("viewer")) as resp:
        assert resp.status == 200
        return await resp.read()


async def test_snapshot_of_disabled_or_unknown_camera(api: Api) -> None:
    await _create(api, {"name": "off", "source": "test://?size=320x240", "enabled": False})
    async with api.session.get(
        api.url + "/api/v1/cameras/off/snapshot", headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 409
    async with api.session.get(
        api.url + "/api/v1/cameras/nope/snapshot", headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 404


async def test_snapshot_times_out_on_a_silent_source(tmp_path: Path) -> None:
    """A camera that accepts the connection and never answers: 504, and no FFmpeg left."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        camera = camera_from_config(
            CameraConfig(name="mute", source=f"rtsp://127.0.0.1:{port}/x"), "api"
        )
        snapshots = Snapshots(
            ffmpeg_binary(), reader_input, direct_inputs(tmp_path), cache_s=1.0, timeout_s=1.0
        )
        with pytest.raises(SnapshotTimeoutError):
            await snapshots.grab(camera)


async def test_restart_endpoint(api: Api) -> None:
    await _create(api, {"name": "idle", "source": "rtsp://192.0.2.1/x", "record": False})
    restart = api.url + "/api/v1/cameras/{}/restart"
    async with api.session.post(restart.format("idle"), headers=api.headers("operator")) as r:
        assert r.status == 409  # not recording
    async with api.session.post(restart.format("nope"), headers=api.headers("operator")) as r:
        assert r.status == 404
    async with api.session.post(restart.format("idle"), headers=api.headers("viewer")) as r:
        assert r.status == 403
    async with api.session.get(
        api.url + "/api/v1/cameras/idle", headers=api.headers("viewer")
    ) as resp:
        assert (await resp.json())["recorder"] == {"state": "stopped"}
