"""Component health for /readyz and vmsd_component_up."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vmsd.metrics import Metrics


class Phase(StrEnum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: str


class Health:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._components: dict[str, ComponentStatus] = {}
        self.phase = Phase.STARTING

    def set(self, name: str, ok: bool, detail: str = "") -> None:
        self._components[name] = ComponentStatus(name, ok, detail)
        self._metrics.component_up.labels(component=name).set(1 if ok else 0)

    def set_phase(self, phase: Phase) -> None:
        self.phase = phase
        self._metrics.ready.set(1 if phase is Phase.READY else 0)

    def components(self) -> list[ComponentStatus]:
        return sorted(self._components.values(), key=lambda c: c.name)
