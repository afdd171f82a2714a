"""Component health for /readyz and vmsd_component_up."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from vmsd.core.health_metrics import HealthMetrics
from vmsd.core.metrics import Metrics


class Phase(StrEnum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: str
    failures: int = 0  # failures since the daemon started (supervised components)
    last_error: str | None = None
    last_error_at: datetime | None = None


class Health:
    def __init__(self, metrics: Metrics) -> None:
        self._health_metrics = metrics.group(HealthMetrics)
        self._components: dict[str, ComponentStatus] = {}
        self.phase = Phase.STARTING
        self._liveness: Callable[[], tuple[bool, str]] = lambda: (True, "")

    def attach_liveness(self, liveness: Callable[[], tuple[bool, str]]) -> None:
        """Where /healthz asks (the daemon's heartbeat): (live, why not)."""
        self._liveness = liveness

    def live(self) -> tuple[bool, str]:
        return self._liveness()

    def set(self, name: str, ok: bool, detail: str = "") -> None:
        old = self._components.get(name)
        if old is None:
            self._components[name] = ComponentStatus(name, ok, detail)
        else:
            self._components[name] = ComponentStatus(
                name, ok, detail, old.failures, old.last_error, old.last_error_at
            )
        self._health_metrics.component_up.labels(component=name).set(1 if ok else 0)

    def failed(self, name: str, error: str) -> None:
        """A supervised component failed: down, with its error, counted."""
        old = self._components.get(name)
        failures = (old.failures if old is not None else 0) + 1
        self._components[name] = ComponentStatus(
            name, False, error, failures, error, datetime.now(UTC)
        )
        self._health_metrics.component_up.labels(component=name).set(0)
        self._health_metrics.component_failures.labels(component=name).inc()

    def remove(self, name: str) -> None:
        """A component that is gone for good (a stopped one): no status, no series."""
        self._components.pop(name, None)
        with contextlib.suppress(KeyError):
            self._health_metrics.component_up.remove(name)

    def set_phase(self, phase: Phase) -> None:
        self.phase = phase
        self._health_metrics.ready.set(1 if phase is Phase.READY else 0)

    def components(self) -> list[ComponentStatus]:
        return sorted(self._components.values(), key=lambda c: c.name)
