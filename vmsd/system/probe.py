"""Blocking measurements with psutil; one HostProbe per sampler, called from its thread.

psutil's CPU percentages are deltas since the previous call (of the same Process object for a
process), so the probe keeps the Process objects of the children it has seen and the previous
network counters for the rates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from vmsd.system.gpu import GpuProvider
from vmsd.system.model import (
    CpuStats,
    FilesystemStats,
    InterfaceStats,
    MemoryStats,
    ProcessStats,
    SystemSample,
)


@dataclass(frozen=True, slots=True)
class ChildRef:
    """A process vmsd is responsible for, as its owner knows it."""

    role: str
    camera: str
    pid: int
    tree: bool = False  # measure the process and all its descendants as one (PostgreSQL)


class HostProbe:
    def __init__(self, storage_paths: Sequence[Path], gpus: GpuProvider) -> None:
        self.storage_paths = tuple(storage_paths)
        self._gpus = gpus
        self._processes: dict[int, psutil.Process] = {}
        self._net_prev: tuple[float, dict[str, tuple[int, int]]] | None = None
        self._boot_time = psutil.boot_time()
        self._own = psutil.Process()
        # Priming: the first CPU percentages are measured from here.
        psutil.cpu_percent(percpu=True)
        self._own.cpu_percent()

    def sample(self, children: Sequence[ChildRef], interval_s: float) -> SystemSample:
        started = time.perf_counter()
        problems: list[str] = []
        filesystems = []
        for path in self.storage_paths:
            try:
                filesystems.append(_filesystem(path))
            except OSError as err:
                problems.append(f"storage {path}: {err.strerror or err}")
        cpu, memory = _cpu(), _memory()
        processes = (self._own_stats(), *self._children(children))
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

    def _own_stats(self) -> ProcessStats:
        own = self._own
        with own.oneshot():
            return ProcessStats(
                "vmsd",
                "",
                own.pid,
                own.cpu_percent() / 100,
                own.memory_info().rss,
                own.create_time(),
            )

    def _children(self, refs: Sequence[ChildRef]) -> list[ProcessStats]:
        stats = []
        seen: set[int] = set()
        for ref in refs:
            members = [ref.pid]
            if ref.tree:
                members += self._descendants(ref.pid)
            measured = [m for m in (self._measure(pid) for pid in members) if m is not None]
            seen.update(members)
            if not measured or measured[0][0] != ref.pid:
                continue  # the process ended between its owner's report and now
            stats.append(
                ProcessStats(
                    role=ref.role,
                    camera=ref.camera,
                    pid=ref.pid,
                    cpu_ratio=sum(m[1] for m in measured),
                    rss_bytes=sum(m[2] for m in measured),
                    start_time=measured[0][3],
                    processes=len(measured),
                )
            )
        # Forget processes that are gone, so a reused pid starts a fresh CPU delta.
        for pid in self._processes.keys() - seen:
            del self._processes[pid]
        return stats

    def _descendants(self, pid: int) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []

    def _measure(self, pid: int) -> tuple[int, float, int, float] | None:
        """(pid, cpu ratio of one core since the last sample, rss, start time)."""
        proc = self._processes.get(pid)
        try:
            if proc is None or not proc.is_running():  # is_running also catches pid reuse
                proc = self._processes[pid] = psutil.Process(pid)
                proc.cpu_percent()  # first call: starts this process's CPU delta
            with proc.oneshot():
                return pid, proc.cpu_percent() / 100, proc.memory_info().rss, proc.create_time()
        except psutil.Error:
            self._processes.pop(pid, None)
            return None

    def _interfaces(self, now: float) -> tuple[InterfaceStats, ...]:
        counters = {
            name: (c.bytes_recv, c.bytes_sent)
            for name, c in psutil.net_io_counters(pernic=True).items()
        }
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


def _cpu() -> CpuStats:
    cores = tuple(p / 100 for p in psutil.cpu_percent(percpu=True))
    return CpuStats(
        count=len(cores),
        usage_ratio=sum(cores) / len(cores) if cores else 0.0,
        core_usage_ratios=cores,
        load_average=os.getloadavg(),
    )


def _memory() -> MemoryStats:
    mem, swap = psutil.virtual_memory(), psutil.swap_memory()
    return MemoryStats(mem.total, mem.available, mem.total - mem.available, swap.total, swap.used)


def _filesystem(path: Path) -> FilesystemStats:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free_for_us = st.f_bavail * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    return FilesystemStats(str(path), total, used, free_for_us, st.f_files, st.f_favail)
