"""Camera state changes as the operator sees them: an events row and the metrics, for every
transition computed by CameraStates."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from vmsd.cameras.metrics import CameraMetrics
from vmsd.cameras.model import Camera
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.state import CameraState, CameraStates, LiveState, Transition
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.events.bus import RecordEvent

log = get_logger("vmsd.cameras.live")

_EVENT_TYPES = {
    CameraState.ONLINE: "camera_online",
    CameraState.OFFLINE: "camera_offline",
    CameraState.DISABLED: "camera_disabled",
    CameraState.UNKNOWN: "camera_enabled",
}


class LiveCameras:
    def __init__(self, states: CameraStates, metrics: Metrics, record_event: RecordEvent) -> None:
        self._states = states
        self._camera_metrics = metrics.group(CameraMetrics)
        self._record_event = record_event
        self._listeners: list[Callable[[Transition], None]] = []

    def add_listener(self, listener: Callable[[Transition], None]) -> None:
        """Called for every transition (the recorder fleet follows availability)."""
        self._listeners.append(listener)

    def get(self, name: str) -> LiveState:
        return self._states.get(name)

    async def sync(self, cameras: Mapping[str, Camera]) -> None:
        # New cameras start unknown without a transition: their gauges are set here too.
        await self._apply(self._states.sync(cameras), refresh=True)

    async def report(self, name: str, available: bool, reason: str) -> None:
        await self._apply(self._states.report(name, available, reason))

    def update_stats(self, name: str, readers: int, inbound_bytes: int) -> None:
        self._states.update_stats(name, readers, inbound_bytes)
        self._camera_metrics.mediamtx_path_readers.labels(camera=name).set(readers)
        self._camera_metrics.mediamtx_path_inbound_bytes.labels(camera=name).set(inbound_bytes)

    async def _apply(self, transitions: list[Transition], refresh: bool = False) -> None:
        """Events and metrics for the transitions. The poll reports every camera every few
        seconds; a report that changes nothing touches no gauge."""
        if not transitions and not refresh:
            return
        for t in transitions:
            if t.reason == "removed":
                self._forget_labels(t.camera)
            self._camera_metrics.camera_transitions.labels(state=t.new.value).inc()
            for listener in self._listeners:
                listener(t)
            level = "warning" if t.new is CameraState.OFFLINE else "info"
            getattr(log, level)(
                "camera_state_changed",
                camera=t.camera,
                old=t.old.value,
                new=t.new.value,
                reason=t.reason,
            )
            await self._record_event(
                _EVENT_TYPES[t.new], camera=t.camera, previous=t.old.value, reason=t.reason
            )
        states = self._states.all()
        counts = dict.fromkeys(CameraState, 0)
        for name, live in states.items():
            counts[live.state] += 1
            # camera_up exists for every known camera from the start, not only after a change.
            self._camera_metrics.camera_up.labels(camera=name).set(
                1 if live.state is CameraState.ONLINE else 0
            )
            for state in CameraState:
                self._camera_metrics.camera_state.labels(camera=name, state=state.value).set(
                    1 if live.state is state else 0
                )
        for state, count in counts.items():
            self._camera_metrics.cameras.labels(state=state.value).set(count)

    def _forget_labels(self, camera: str) -> None:
        for gauge in (
            self._camera_metrics.camera_up,
            self._camera_metrics.mediamtx_path_readers,
            self._camera_metrics.mediamtx_path_inbound_bytes,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(camera)
        for state in CameraState:
            with contextlib.suppress(KeyError):
                self._camera_metrics.camera_state.remove(camera, state.value)

    async def follow(self, registry: CameraRegistry) -> None:
        """Keep the states in step with the registry (cameras added, disabled, removed). It
        syncs first: restarted after a failure, it catches up with the change it failed on."""
        changed = registry.subscribe()
        while True:
            await self.sync(registry.cameras)
            await changed.wait()
            changed.clear()
