"""Camera state changes as the operator sees them: an events row and the metrics, for every
transition computed by CameraStates, and the new state persisted for the next start.

No event for a transition that restates what a previous run left (the camera was dead
before the restart and still is), nor for a removed camera (the deletion is its own event)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from vmsd.cameras.metrics import CameraMetrics
from vmsd.cameras.model import Camera
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.state import (
    CameraError,
    CameraState,
    CameraStates,
    KnownState,
    LiveState,
    Transition,
)
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.events.bus import RecordEvent
from vmsd.store.camera_states import CameraStateRow, CameraStateStore
from vmsd.store.db import DB_UNAVAILABLE

log = get_logger("vmsd.cameras.live")

_EVENT_TYPES = {
    CameraState.ONLINE: "camera_online",
    CameraState.OFFLINE: "camera_offline",
    CameraState.DISABLED: "camera_disabled",
    CameraState.UNKNOWN: "camera_enabled",
}


class LiveCameras:
    def __init__(
        self,
        states: CameraStates,
        metrics: Metrics,
        record_event: RecordEvent,
        store: CameraStateStore | None = None,
    ) -> None:
        self._states = states
        self._camera_metrics = metrics.group(CameraMetrics)
        self._record_event = record_event
        self._store = store
        self._listeners: list[Callable[[Transition], None]] = []

    async def restore(self) -> None:
        """The states the previous run left, before the first sync. Without them (the table
        cannot be read) every camera's first state is news again, nothing worse."""
        if self._store is None:
            return
        try:
            rows = await self._store.load()
        except DB_UNAVAILABLE as err:
            log.warning("camera_states_not_loaded", error=str(err) or type(err).__name__)
            return
        known = {state.value for state in CameraState}
        self._states.restore(
            {r.name: KnownState(CameraState(r.state), r.since) for r in rows if r.state in known}
        )

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

    async def report_error(self, name: str, error: CameraError, offline: bool) -> None:
        """The camera could not be read (see CameraStates.report_error)."""
        await self._apply(self._states.report_error(name, error, offline))

    def note_unknown(self, name: str, reason: str) -> None:
        self._states.note_unknown(name, reason)

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
            news = not t.restated and t.reason != "removed"
            level = "warning" if t.new is CameraState.OFFLINE and news else "info"
            getattr(log, level)(
                "camera_state_changed",
                camera=t.camera,
                old=t.old.value,
                new=t.new.value,
                reason=t.reason,
                **({"restated": True} if t.restated else {}),
            )
            if news:
                await self._record_event(
                    _EVENT_TYPES[t.new], camera=t.camera, previous=t.old.value, reason=t.reason
                )
        await self._persist([t for t in transitions if not t.restated and t.reason != "removed"])
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

    async def _persist(self, transitions: list[Transition]) -> None:
        """Best effort: a state not saved costs one repeated event at the next start."""
        if self._store is None or not transitions:
            return
        rows = []
        for t in transitions:
            live = self._states.get(t.camera)
            rows.append(CameraStateRow(t.camera, live.state.value, live.reason, live.since))
        try:
            await self._store.save(rows)
        except DB_UNAVAILABLE as err:
            log.warning("camera_state_not_saved", error=str(err) or type(err).__name__)

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
