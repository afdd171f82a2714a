"""ReachabilityChecker over real loopback sockets: a camera nothing reads (MediaMTX off,
record: false) gets a state from one TCP connect to its source's port."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.net import free_port
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.model import Camera, camera_from_config
from vmsd.cameras.reachability import NOT_CHECKED, REACHABLE, ReachabilityChecker
from vmsd.cameras.state import CameraState, CameraStates
from vmsd.config.cameras import CameraConfig
from vmsd.core.metrics import Metrics


def camera(name: str, source: str, *, record: bool = False) -> Camera:
    return camera_from_config(CameraConfig(name=name, source=source, record=record), "api")


@dataclass
class Registry:
    cameras: Mapping[str, Camera] = field(default_factory=dict)

    def subscribe(self) -> asyncio.Event:
        return asyncio.Event()


async def _checked(*cameras: Camera) -> tuple[LiveCameras, list[tuple[str, dict[str, Any]]]]:
    events: list[tuple[str, dict[str, Any]]] = []

    async def record(type_: str, **data: Any) -> None:
        events.append((type_, data))

    live = LiveCameras(CameraStates(), Metrics(), record)
    registry = Registry({c.name: c for c in cameras})
    await live.sync(registry.cameras)
    checker = ReachabilityChecker(registry, live, timeout_s=2.0)
    await checker.run_once()
    await checker.run_once()  # a second pass: the same state, no second event
    return live, events


async def test_an_open_port_is_online_a_closed_one_refused_a_bad_name_unreachable() -> None:
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    closed = free_port()
    try:
        live, events = await _checked(
            camera("up", f"rtsp://127.0.0.1:{port}/x"),
            camera("closed", f"rtsp://127.0.0.1:{closed}/x"),
            camera("nowhere", "rtsp://nonexistent.invalid/x"),
            camera("udp", "udp+mpegts://239.0.0.1:1234"),
            camera("recorded", f"rtsp://127.0.0.1:{closed}/x", record=True),
        )
    finally:
        server.close()
        await server.wait_closed()
    up, refused, unreachable = live.get("up"), live.get("closed"), live.get("nowhere")
    assert (up.state, up.reason, up.last_error) == (CameraState.ONLINE, REACHABLE, None)
    assert (refused.state, refused.reason) == (CameraState.OFFLINE, "refused")
    assert refused.last_error is not None and refused.last_error.repeats == 2
    assert refused.last_error.message == f"connect to 127.0.0.1:{closed}: Connection refused"
    assert (unreachable.state, unreachable.reason) == (CameraState.OFFLINE, "unreachable")
    # No TCP port to try: unknown, saying so; a recorded camera is its recorder's to tell.
    assert (live.get("udp").state, live.get("udp").reason) == (CameraState.UNKNOWN, NOT_CHECKED)
    assert live.get("recorded").state is CameraState.UNKNOWN
    assert sorted((t, d["camera"]) for t, d in events) == [
        ("camera_offline", "closed"),
        ("camera_offline", "nowhere"),
        ("camera_online", "up"),
    ]
