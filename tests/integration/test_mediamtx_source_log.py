"""Managed MediaMTX's log lines about a camera's source reach the camera's state: the real
controller supervises a stand-in binary (no MediaMTX is installable here) that prints the
lines MediaMTX prints for a path whose source fails, then recovers (formats and their
sources in MediaMTX's tree: vmsd/mediamtx/pathlog.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CameraStack
from tests.net import free_port
from vmsd.cameras.state import CameraError, CameraState
from vmsd.config.schema import CameraConfig, Config
from vmsd.core.health import Health
from vmsd.core.supervisor import Supervisor
from vmsd.mediamtx.controller import MediaMtxController
from vmsd.mediamtx.source_log import SOURCE_READY

# `--version` as MediaMTX answers it; else (argv[1]: the rendered config) the lines of
# lines.json, each batch once the test creates the file `go.<i>` beside it.
FAKE_MEDIAMTX = """\
#!{python} -S
import json, os, signal, sys, time

if sys.argv[1] == "--version":
    print("v1.20.1")
    sys.exit(0)
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
here = os.path.dirname(os.path.abspath(sys.argv[0]))
print("2025/01/31 12:00:00 INF MediaMTX v1.20.1", flush=True)
for i, batch in enumerate(json.load(open(os.path.join(here, "lines.json")))):
    while not os.path.exists(os.path.join(here, f"go.{{i}}")):
        time.sleep(0.01)
    for line in batch:
        print(line, flush=True)
while True:
    time.sleep(1)
"""

DENIED = "[RTSP source] bad status code: 401 (Unauthorized)"
BATCHES = [
    [
        "2025/01/31 12:00:00 INF [path door] [RTSP source] started",
        f"2025/01/31 12:00:00 ERR [path door] {DENIED}",
        f"2025/01/31 12:00:05 ERR [path door] {DENIED}",
    ],
    ["2025/01/31 12:00:10 INF [path door] stream is available and online, 1 track (H264)"],
]


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None


def _repeats(error: CameraError | None) -> int:
    return error.repeats if error is not None else 0


async def test_the_camera_shows_mediamtx_s_class_for_its_source_and_recovers(
    camera_stack: CameraStack, tmp_path: Path, repo_root: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    binary = bin_dir / "mediamtx"
    binary.write_text(FAKE_MEDIAMTX.format(python=sys.executable))
    binary.chmod(0o755)
    (bin_dir / "lines.json").write_text(json.dumps(BATCHES))
    await camera_stack.service.sync_config(
        [CameraConfig(name="door", source="rtsp://admin:hunter2@192.0.2.1/s1", record=False)]
    )
    live = camera_stack.live
    await live.sync(camera_stack.registry.cameras)
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path),
            "mediamtx": {
                "mode": "managed",
                "binary": str(binary),
                "base_config": str(repo_root / "mediamtx.yml"),
                "config_path": str(tmp_path / "mediamtx.yml"),
                "api_port": free_port(),
            },
        }
    )
    health = Health(camera_stack.metrics)
    controller = MediaMtxController(
        config, camera_stack.registry, live, health, camera_stack.metrics,
        hook_secret="h" * 32, internal_password="p" * 24,
    )  # fmt: skip
    await controller.start()
    task = asyncio.create_task(controller.run(Supervisor(health)))
    try:
        await _until(lambda: controller.pid is not None, "MediaMTX started")
        (bin_dir / "go.0").touch()
        await _until(lambda: live.get("door").reason == "unauthorized", "the class shown")
        state = live.get("door")
        assert state.state is CameraState.OFFLINE
        assert state.last_error is not None
        assert (state.last_error.failure, state.last_error.message) == ("unauthorized", DENIED)
        await _until(lambda: _repeats(live.get("door").last_error) == 2, "the retry counted")
        (bin_dir / "go.1").touch()
        await _until(lambda: live.get("door").state is CameraState.ONLINE, "recovered")
        assert live.get("door").reason == SOURCE_READY
        assert "mediamtx_sources" in {c.name for c in health.components()}
    finally:
        task.cancel()
        await asyncio.wait({task})
    assert controller.pid is None
