"""The daemon's Prometheus registry: one per daemon (not prometheus_client's global), so tests
can build several. Each domain defines its own metrics (its `metrics.py`) and registers them
here at first use, through `group`; this module knows none of them. Names: `vmsd_` prefix,
base units, `_total` counters.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Info
from prometheus_client import gc_collector as _gc
from prometheus_client import platform_collector as _platform
from prometheus_client import process_collector as _process

from vmsd import __version__

T = TypeVar("T")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        _process.ProcessCollector(registry=self.registry)
        _platform.PlatformCollector(registry=self.registry)
        _gc.GCCollector(registry=self.registry)
        Info("vmsd_build", "vmsd build information", registry=self.registry).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self._groups: dict[Callable[[CollectorRegistry], Any], Any] = {}

    def group(self, factory: Callable[[CollectorRegistry], T]) -> T:
        """A domain's metrics on this registry, created (registered) at their first use."""
        found = self._groups.get(factory)
        if found is None:
            found = self._groups[factory] = factory(self.registry)
        return cast(T, found)
