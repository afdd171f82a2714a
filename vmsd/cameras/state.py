"""Live camera state: unknown -> online <-> offline, plus disabled. In memory, per daemon.

Fed by MediaMTX's availability hooks (milliseconds), the periodic /v3/paths/list poll (the
safety net) and, without MediaMTX, by the recorders. Every transition is returned to the caller,
which records it as an event and in `vmsd_camera_up`; repeated reports are no-ops, because
hooks fire back to back when a source flaps.

The last state each camera had is kept across restarts (the camera_states table): a camera
starts `unknown` again, but its first transition back to the state it had is `restated`, not
news (no event: a dead camera is not reported dead again at every start).
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
class CameraError:
    """Why the camera could not be read, the last time it could not: a failure class
    (vmsd.recorder.failures), one redacted line saying it, when, and how many times in a row."""

    failure: str
    message: str
    at: datetime
    repeats: int = 1


@dataclass(frozen=True, slots=True)
class LiveState:
    state: CameraState
    since: datetime
    reason: str = ""
    readers: int | None = None
    inbound_bytes: int | None = None
    last_error: CameraError | None = None


@dataclass(frozen=True, slots=True)
class KnownState:
    """A camera's state as a previous run left it (persisted)."""

    state: CameraState
    since: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    camera: str
    old: CameraState
    new: CameraState
    reason: str
    restated: bool = False  # back to the state a previous run left it in: not news


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CameraStates:
    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._states: dict[str, LiveState] = {}
        self._known: dict[str, KnownState] = {}

    def restore(self, known: Mapping[str, KnownState]) -> None:
        """The states a previous run left (before the first sync)."""
        self._known = dict(known)

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

    def report_error(self, name: str, error: CameraError, offline: bool) -> list[Transition]:
        """The camera could not be read. `offline`: it is the camera's doing, so the camera is
        offline with the failure's class as its reason (a new class replaces the reason, no
        transition); else (a full disk) only its last_error changes."""
        current = self._states.get(name)
        if current is None or current.state is CameraState.DISABLED:
            return []
        transitions = self._set(name, CameraState.OFFLINE, error.failure) if offline else []
        current = self._states[name]
        reason = error.failure if offline else current.reason
        self._states[name] = replace(current, reason=reason, last_error=error)
        return transitions

    def note_unknown(self, name: str, reason: str) -> None:
        """Why an unknown camera is unknown (nothing can tell its state)."""
        current = self._states.get(name)
        if current is not None and current.state is CameraState.UNKNOWN:
            self._states[name] = replace(current, reason=reason)

    def update_stats(self, name: str, readers: int, inbound_bytes: int) -> None:
        current = self._states.get(name)
        if current is not None:
            self._states[name] = replace(current, readers=readers, inbound_bytes=inbound_bytes)

    def _set(self, name: str, new: CameraState, reason: str) -> list[Transition]:
        current = self._states.get(name)
        old = current.state if current else CameraState.UNKNOWN
        if current is not None and old is new:
            return []
        known = self._known.pop(name, None)
        restated = known is not None and old is CameraState.UNKNOWN and known.state is new
        since = known.since if known is not None and restated else self._clock()
        last_error = current.last_error if current is not None else None
        self._states[name] = LiveState(new, since, reason, last_error=last_error)
        return [Transition(name, old, new, reason, restated)]
