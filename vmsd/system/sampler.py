"""SystemSampler: one background task measures the host, vmsd and its children every
`system.sample_interval_seconds`; readers take the latest sample and never wait for one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from vmsd.config.load import ConfigHolder
from vmsd.core.log import get_logger
from vmsd.system.gpu import GpuProvider
from vmsd.system.host import ChildRef, HostProbe
from vmsd.system.model import SystemSample

log = get_logger("vmsd.system")

# CPU percentages are deltas: the first sample comes this soon after the priming call.
FIRST_SAMPLE_AFTER_S = 1.0
SLOW_SAMPLE_S = 1.0

ChildSource = Callable[[], Sequence[ChildRef]]


class SystemSampler:
    def __init__(self, holder: ConfigHolder, children: ChildSource, gpus: GpuProvider) -> None:
        self._holder = holder
        self._children = children
        self._gpus = gpus
        self._probe: HostProbe | None = None
        self._latest: SystemSample | None = None

    def latest(self) -> SystemSample | None:
        return self._latest

    async def start(self) -> None:
        self._probe = await asyncio.to_thread(
            HostProbe, self._holder.current.storage.paths, self._gpus
        )

    async def run(self) -> None:
        assert self._probe is not None, "start() first"
        delay = min(FIRST_SAMPLE_AFTER_S, self._interval())
        try:
            while True:
                await asyncio.sleep(delay)
                await self.sample_now()
                delay = self._interval()
        finally:
            await asyncio.to_thread(self._probe.close)

    async def sample_now(self) -> SystemSample:
        probe = self._probe
        assert probe is not None, "start() first"
        probe.storage_paths = self._holder.current.storage.paths  # follows a reload
        children = self._children()  # read in the loop: owners' state is not thread-safe
        sample = await asyncio.to_thread(probe.sample, children, self._interval())
        if sample.duration_s > SLOW_SAMPLE_S:
            log.warning("system_sample_slow", duration_s=round(sample.duration_s, 3))
        self._latest = sample
        return sample

    def _interval(self) -> float:
        return self._holder.current.system.sample_interval_seconds
