"""Blocking measurements from /proc (Linux); one HostProbe per sampler, called from its thread.

Cheap on purpose: the sampler's thread shares the GIL with the event loop that answers
MediaMTX's auth requests. One sample reads /proc/stat, /proc/meminfo and /proc/net/dev once
each, one /proc/PID/stat per measured process (CPU times, RSS and start time are all in it),
at most one /proc/PID/smaps_rollup per process (PSS and USS: RSS counts a shared page once per
process, so summed over PostgreSQL's backends it is several times the memory they use; dearer
to read, so refreshed about every 30 s per process: vmsd.system.memory), and for a process tree
(PostgreSQL) lists /proc once with a getsid per pid to find the candidates. Static facts (boot
time, CPU tick and page sizes) are read once.

CPU shares are deltas since the previous sample, so the probe keeps the previous CPU ticks of
the host's cores and of every process it measured, and the previous network counters for the
rates. A process is known by its pid and start time, so a reused pid starts a fresh delta.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vmsd.system import procfs
from vmsd.system.gpu import GpuProvider
from vmsd.system.memory import MemoryShares
from vmsd.system.model import (
    CpuStats,
    FilesystemStats,
    InterfaceStats,
    MemoryStats,
    ProcessStats,
    SystemSample,
)
from vmsd.system.procfs import CLOCK_TICKS, PROC, ProcStat


@dataclass(frozen=True, slots=True)
class ChildRef:
    """A process vmsd is responsible for, as its owner knows it."""

    role: str
    camera: str
    pid: int
    # Measure the process and all its descendants as one (PostgreSQL). Descendants are found
    # in the process's session: one that starts a session of its own is not counted.
    tree: bool = False


@dataclass(frozen=True, slots=True)
class _CpuMark:
    start_ticks: int
    cpu_ticks: int
    at: float  # the probe's clock (time.monotonic) at the reading


class HostProbe:
    def __init__(
        self,
        storage_paths: Sequence[Path],
        gpus: GpuProvider,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage_paths = tuple(storage_paths)
        self._gpus = gpus
        self._clock = clock
        self._own_pid = os.getpid()
        self._marks: dict[int, _CpuMark] = {}
        self._memory = MemoryShares(clock)
        self._net_prev: tuple[float, dict[str, tuple[int, int]]] | None = None
        stat = procfs.read(f"{PROC}/stat")
        self._boot_time = procfs.parse_boot_time(stat)
        # Priming: the first CPU shares are measured from here.
        self._cores = procfs.parse_cpu_ticks(stat)
        own = procfs.read_pid_stat(self._own_pid)
        if own is not None:
            self._marks[own.pid] = _CpuMark(own.start_ticks, own.cpu_ticks, clock())

    def sample(self, children: Sequence[ChildRef], interval_s: float) -> SystemSample:
        started = time.perf_counter()
        problems: list[str] = []
        filesystems = []
        for path in self.storage_paths:
            try:
                filesystems.append(_filesystem(path))
            except OSError as err:
                problems.append(f"storage {path}: {err.strerror or err}")
        cpu = self._cpu()
        memory = _memory(procfs.parse_meminfo(procfs.read(f"{PROC}/meminfo")))
        processes = self._processes(children, interval_s)
        gpu = self._gpus.read()
        now = time.time()
        return SystemSample(
            time=datetime.fromtimestamp(now, UTC),
            timestamp=now,
            duration_s=time.perf_counter() - started,
            interval_s=interval_s,
            boot_time=self._boot_time,
            cpu=cpu,
            memory=memory,
            filesystems=tuple(filesystems),
            interfaces=self._interfaces(now),
            processes=processes,
            gpu=gpu,
            problems=tuple(problems),
        )

    def close(self) -> None:
        self._gpus.close()

    def _cpu(self) -> CpuStats:
        cores = procfs.parse_cpu_ticks(procfs.read(f"{PROC}/stat"))
        previous, self._cores = self._cores, cores
        if len(previous) != len(cores):  # a core went on- or offline: measured from now on
            ratios = tuple(0.0 for _ in cores)
        else:
            ratios = tuple(procfs.busy_ratio(a, b) for a, b in zip(previous, cores, strict=True))
        return CpuStats(
            count=len(cores),
            usage_ratio=sum(ratios) / len(ratios) if ratios else 0.0,
            core_usage_ratios=ratios,
            load_average=os.getloadavg(),
        )

    def _processes(self, refs: Sequence[ChildRef], interval_s: float) -> tuple[ProcessStats, ...]:
        marks: dict[int, _CpuMark] = {}
        found = []
        for ref in (ChildRef("vmsd", "", self._own_pid), *refs):
            root = procfs.read_pid_stat(ref.pid)
            if root is None:
                continue  # the process ended between its owner's report and now
            members = [root, *self._descendants(root)] if ref.tree else [root]
            # Timed now, next to the stat reads: not after the slower memory readings.
            cpu = sum(self._cpu_ratio(m, marks) for m in members)
            found.append((ref, members, cpu))
        self._marks = marks  # processes not seen this time are forgotten
        memory = self._memory.shares([m for _, members, _ in found for m in members], interval_s)
        out = []
        for ref, members, cpu in found:
            shares = [memory[m.pid] for m in members if m.pid in memory]
            out.append(
                ProcessStats(
                    role=ref.role,
                    camera=ref.camera,
                    pid=ref.pid,
                    cpu_ratio=cpu,
                    rss_bytes=sum(m.rss_bytes for m in members),
                    start_time=self._boot_time + members[0].start_ticks / CLOCK_TICKS,
                    processes=len(members),
                    pss_bytes=sum(s.pss_bytes for s in shares) if shares else None,
                    uss_bytes=sum(s.uss_bytes for s in shares) if shares else None,
                )
            )
        return tuple(out)

    def _cpu_ratio(self, stat: ProcStat, marks: dict[int, _CpuMark]) -> float:
        """Share of one core since this process's previous reading; 0 at the first one."""
        now = self._clock()
        marks[stat.pid] = _CpuMark(stat.start_ticks, stat.cpu_ticks, now)
        before = self._marks.get(stat.pid)
        if before is None or before.start_ticks != stat.start_ticks or now <= before.at:
            return 0.0
        return max(0.0, (stat.cpu_ticks - before.cpu_ticks) / CLOCK_TICKS / (now - before.at))

    def _descendants(self, root: ProcStat) -> list[ProcStat]:
        by_parent: defaultdict[int, list[ProcStat]] = defaultdict(list)
        for pid in procfs.session_members(root.session):
            stat = procfs.read_pid_stat(pid) if pid != root.pid else None
            if stat is not None:
                by_parent[stat.ppid].append(stat)
        found, todo = [], [root.pid]
        while todo:
            kids = by_parent.pop(todo.pop(), [])
            found += kids
            todo += (k.pid for k in kids)
        return found

    def _interfaces(self, now: float) -> tuple[InterfaceStats, ...]:
        counters = procfs.parse_net_dev(procfs.read(f"{PROC}/net/dev"))
        previous = self._net_prev
        self._net_prev = (now, counters)
        out = []
        for name, (received, sent) in sorted(counters.items()):
            rx_rate = tx_rate = None
            if previous is not None and name in previous[1] and now > previous[0]:
                elapsed = now - previous[0]
                old_rx, old_tx = previous[1][name]
                # A counter that went backwards (interface re-created) has no rate this time.
                if received >= old_rx and sent >= old_tx:
                    rx_rate = (received - old_rx) / elapsed
                    tx_rate = (sent - old_tx) / elapsed
            out.append(InterfaceStats(name, received, sent, rx_rate, tx_rate))
        return tuple(out)


def _memory(info: procfs.MemInfo) -> MemoryStats:
    return MemoryStats(
        info.total_bytes,
        info.available_bytes,
        info.total_bytes - info.available_bytes,
        info.swap_total_bytes,
        info.swap_total_bytes - info.swap_free_bytes,
    )


def _filesystem(path: Path) -> FilesystemStats:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free_for_us = st.f_bavail * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    return FilesystemStats(str(path), total, used, free_for_us, st.f_files, st.f_favail)
