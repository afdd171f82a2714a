"""Live camera state: unknown -> online <-> offline, plus disabled. In memory, per daemon.

Fed by MediaMTX's availability hooks (milliseconds), the periodic /v3/paths/list poll (the
safety net) and, without MediaMTX, by the recorders. Every transition is returned to the caller,
which records it as an event and in `vmsd_camera_up`; repeated reports are no-ops, because
hooks fire back to back when a source flaps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from vmsd.cameras.model import Camera


class CameraState(StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class LiveState:
    state: CameraState
    since: datetime
    reason: str = ""
    readers: int | None = None
    inbound_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    camera: str
    old: CameraState
    new: CameraState
    reason: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CameraStates:
    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._states: dict[str, LiveState] = {}

    def get(self, name: str) -> LiveState:
        return self._states.get(name) or LiveState(CameraState.UNKNOWN, self._clock())

    def all(self) -> Mapping[str, LiveState]:
        return dict(self._states)

    def sync(self, cameras: Mapping[str, Camera]) -> list[Transition]:
        """Follow the registry: new cameras start unknown, disabled ones are disabled, removed
        ones are forgotten (a transition to `disabled` with reason `removed`)."""
        transitions = []
        for name, camera in cameras.items():
            current = self._states.get(name)
            if not camera.enabled:
                transitions += self._set(name, CameraState.DISABLED, "disabled")
            elif current is None:
                self._states[name] = LiveState(CameraState.UNKNOWN, self._clock())
            elif current.state is CameraState.DISABLED:
                transitions += self._set(name, CameraState.UNKNOWN, "enabled")
        for name in [n for n in self._states if n not in cameras]:
            old = self._states.pop(name)
            transitions.append(Transition(name, old.state, CameraState.DISABLED, "removed"))
        return transitions

    def report(self, name: str, available: bool, reason: str) -> list[Transition]:
        """A source became available or unavailable. Ignored for unknown or disabled cameras."""
        current = self._states.get(name)
        if current is None or current.state is CameraState.DISABLED:
            return []
        return self._set(name, CameraState.ONLINE if available else CameraState.OFFLINE, reason)

    def update_stats(self, name: str, readers: int, inbound_bytes: int) -> None:
        current = self._states.get(name)
        if current is not None:
            self._states[name] = replace(current, readers=readers, inbound_bytes=inbound_bytes)

    def _set(self, name: str, new: CameraState, reason: str) -> list[Transition]:
        current = self._states.get(name)
        old = current.state if current else CameraState.UNKNOWN
        if current is not None and old is new:
            return []
        self._states[name] = LiveState(new, self._clock(), reason)
        return [Transition(name, old, new, reason)]
