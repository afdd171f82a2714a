"""External mode, version not known at start: the file holds only the oldest supported listener
keys; once the Control API tells the version, the controller renders it again with that
version's keys (`moq: false` for a MoQ release). Real controller, real file, real HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import CameraStack
from tests.net import free_port
from tests.paths import REPO_ROOT
from vmsd.config.schema import Config
from vmsd.core.backoff import Backoff
from vmsd.core.health import Health
from vmsd.core.supervisor import Supervisor
from vmsd.mediamtx.controller import MediaMtxController


def control_api(version: str) -> web.Application:
    """MediaMTX's /v3/info and an empty /v3/paths/list, the two calls the poller makes."""

    async def info(_request: web.Request) -> web.Response:
        return web.json_response({"version": version, "started": "2026-01-01T00:00:00Z"})

    async def paths(_request: web.Request) -> web.Response:
        return web.json_response({"pageCount": 1, "itemCount": 0, "items": []})

    app = web.Application()
    app.router.add_get("/v3/info", info)
    app.router.add_get("/v3/paths/list", paths)
    return app


def rendered(path: Path) -> dict[str, object]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


async def test_learned_version_renders_its_listener_keys(
    camera_stack: CameraStack, tmp_path: Path
) -> None:
    api_port = free_port()
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path),
            "mediamtx": {
                "mode": "external",
                "base_config": str(REPO_ROOT / "mediamtx.yml"),
                "config_path": str(tmp_path / "mediamtx.yml"),
                "api_port": api_port,
                "poll_interval_seconds": 1,
                # Fixed hook names: only the listener keys change with the version.
                "hook_names": "ready",
            },
        }
    )
    target = config.mediamtx.config_path
    assert target is not None
    health = Health(camera_stack.metrics)
    controller = MediaMtxController(
        config, camera_stack.registry, camera_stack.live, health, camera_stack.metrics,
        hook_secret="h" * 32, internal_password="p" * 24,
    )  # fmt: skip
    await controller.start()  # nothing answers on api_port yet
    assert controller.version is None
    first = rendered(target)
    assert not [k for k in first if k.startswith("moq")]  # v1.9.0 keys: no MoQ switch
    assert first["hls"] is False and first["rtsp"] is True

    server = TestServer(control_api("v1.20.1"), host="127.0.0.1", port=api_port)
    await server.start_server()
    supervisor = Supervisor(health, backoff=Backoff(initial_s=0.1, max_s=0.3, jitter=0.0))
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(controller.run(supervisor))
            deadline = time.monotonic() + 15
            while rendered(target).get("moq") is not False:
                assert time.monotonic() < deadline, "not re-rendered with moq: false"
                await asyncio.sleep(0.1)
            task.cancel()
    finally:
        await server.close()
    assert controller.version == (1, 20, 1)
    # Only the switch the new version has was added; every other global stayed.
    second = rendered(target)
    assert {k: v for k, v in second.items() if k not in ("moq", "paths")} == {
        k: v for k, v in first.items() if k != "paths"
    }
