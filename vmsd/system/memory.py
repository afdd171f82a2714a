"""PSS and USS of the measured processes, refreshed about every MEMORY_REFRESH_S each rather
than at every sample.

Reading /proc/PID/smaps_rollup makes the kernel walk the process's page tables: about 1 ms
for the distribution's FFmpeg (some 1,100 mappings, 48 MiB resident) against 10 us for its
stat line, so 70 processes at every 5 s sample would cost 1.5-2.5 % of a core
(bench/child_memory.py). Memory moves slowly; CPU shares stay per sample. A process seen for
the first time (or a reused pid) is read at once, so every series has a value from its first
sample; the others are refreshed oldest first, a bounded number per sample, so the readings
spread over the samples instead of all coming due together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vmsd.system import procfs
from vmsd.system.procfs import MemoryShare, ProcStat

MEMORY_REFRESH_S = 30.0


@dataclass(frozen=True, slots=True)
class _Reading:
    start_ticks: int  # with the pid, the process's identity
    share: MemoryShare | None  # None: not readable (another user's process, an old kernel)
    at: float


def refresh_budget(processes: int, interval_s: float, refresh_s: float = MEMORY_REFRESH_S) -> int:
    """Pure: readings per sample that refresh every process within about `refresh_s`."""
    return max(1, math.ceil(processes * interval_s / refresh_s))


class MemoryShares:
    def __init__(
        self,
        clock: Callable[[], float],
        read: Callable[[int], MemoryShare | None] = procfs.read_smaps_rollup,
    ) -> None:
        self._clock = clock
        self._read = read
        self._readings: dict[int, _Reading] = {}

    def shares(self, stats: Sequence[ProcStat], interval_s: float) -> dict[int, MemoryShare]:
        """Blocking (the sampler's thread). Pid -> its latest share, for those readable.
        Processes not in `stats` are forgotten."""
        now = self._clock()
        readings: dict[int, _Reading] = {}
        due: list[ProcStat] = []
        for stat in stats:
            known = self._readings.get(stat.pid)
            if known is None or known.start_ticks != stat.start_ticks:
                readings[stat.pid] = _Reading(stat.start_ticks, self._read(stat.pid), now)
                continue
            readings[stat.pid] = known
            if now - known.at >= MEMORY_REFRESH_S:
                due.append(stat)
        due.sort(key=lambda s: readings[s.pid].at)
        for stat in due[: refresh_budget(len(stats), interval_s)]:
            readings[stat.pid] = _Reading(stat.start_ticks, self._read(stat.pid), now)
        self._readings = readings
        return {pid: r.share for pid, r in readings.items() if r.share is not None}
