"""LiveCameras' per-camera gauges: vmsd_camera_state says which state a camera is in, so an alert
can tell an offline camera from a disabled one (vmsd_camera_up is 0 for both)."""

from __future__ import annotations

from vmsd.cameras.live import LiveCameras
from vmsd.cameras.model import Camera, camera_from_config
from vmsd.cameras.state import CameraState, CameraStates
from vmsd.config.cameras import CameraConfig
from vmsd.core.metrics import Metrics


def camera(name: str, *, enabled: bool = True) -> Camera:
    config = CameraConfig(name=name, source="rtsp://192.0.2.5/stream", enabled=enabled)
    return camera_from_config(config, "config")


async def record_nothing(type_: str, **data: object) -> None:
    pass


def states_of(metrics: Metrics, name: str) -> dict[str, float | None]:
    return {
        state.value: metrics.registry.get_sample_value(
            "vmsd_camera_state", {"camera": name, "state": state.value}
        )
        for state in CameraState
    }


def one_hot(state: str) -> dict[str, float]:
    return {s.value: 1.0 if s.value == state else 0.0 for s in CameraState}


async def test_camera_state_gauge_follows_every_state() -> None:
    metrics = Metrics()
    live = LiveCameras(CameraStates(), metrics, record_nothing)
    await live.sync({"a": camera("a"), "off": camera("off", enabled=False)})
    assert states_of(metrics, "a") == one_hot("unknown")
    assert states_of(metrics, "off") == one_hot("disabled")

    await live.report("a", False, "hook_unavailable")
    assert states_of(metrics, "a") == one_hot("offline")
    assert metrics.registry.get_sample_value("vmsd_camera_up", {"camera": "a"}) == 0
    await live.report("a", True, "hook_available")
    assert states_of(metrics, "a") == one_hot("online")
    assert metrics.registry.get_sample_value("vmsd_camera_up", {"camera": "a"}) == 1


async def test_a_removed_camera_leaves_no_state_series() -> None:
    metrics = Metrics()
    live = LiveCameras(CameraStates(), metrics, record_nothing)
    await live.sync({"a": camera("a"), "b": camera("b")})
    await live.report("b", False, "hook_unavailable")
    await live.sync({"a": camera("a")})
    assert states_of(metrics, "b") == dict.fromkeys(one_hot("unknown"))
    assert states_of(metrics, "a") == one_hot("unknown")
