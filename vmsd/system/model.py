"""One system sample as frozen data, and its JSON shape for GET /api/v1/system."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CpuStats:
    count: int
    usage_ratio: float  # all cores, 0-1
    core_usage_ratios: tuple[float, ...]
    load_average: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class MemoryStats:
    total_bytes: int
    available_bytes: int
    used_bytes: int
    swap_total_bytes: int
    swap_used_bytes: int


@dataclass(frozen=True, slots=True)
class FilesystemStats:
    path: str  # the configured storage path, as configured
    total_bytes: int
    used_bytes: int
    free_bytes: int  # available to vmsd (an unprivileged user's view, as retention sees it)
    inodes_total: int
    inodes_free: int


@dataclass(frozen=True, slots=True)
class InterfaceStats:
    name: str
    receive_bytes_total: int
    transmit_bytes_total: int
    receive_bytes_per_second: float | None  # None on the first sample
    transmit_bytes_per_second: float | None


@dataclass(frozen=True, slots=True)
class ProcessStats:
    role: str  # vmsd, recorder, mediamtx, postgres
    camera: str  # the recorder's camera; "" for the others
    pid: int
    cpu_ratio: float  # of one core, since the previous sample
    rss_bytes: int  # resident: a page shared by N processes counts N times in a tree's sum
    start_time: float  # unix seconds
    processes: int = 1  # postgres: the postmaster and its backends, summed
    # None when smaps_rollup cannot be read (another user's process, Linux < 4.14).
    pss_bytes: int | None = None  # proportional: summed over a tree, its real share
    uss_bytes: int | None = None  # unique to the process(es): what ending them frees


@dataclass(frozen=True, slots=True)
class GpuStats:
    index: int
    name: str
    uuid: str
    utilization_ratio: float | None  # None: the device does not report it
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    encoder_utilization_ratio: float | None
    decoder_utilization_ratio: float | None
    temperature_celsius: float | None
    power_watts: float | None


@dataclass(frozen=True, slots=True)
class GpuReport:
    gpus: tuple[GpuStats, ...]
    reason: str | None = None  # why there are none (no driver, disabled), else None


@dataclass(frozen=True, slots=True)
class SystemSample:
    time: datetime
    timestamp: float  # unix seconds of `time`
    duration_s: float  # what taking this sample cost
    interval_s: float
    boot_time: float
    cpu: CpuStats
    memory: MemoryStats
    filesystems: tuple[FilesystemStats, ...]
    interfaces: tuple[InterfaceStats, ...]
    processes: tuple[ProcessStats, ...]
    gpu: GpuReport
    problems: tuple[str, ...] = ()  # parts that could not be measured this time


def _percent(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio * 100, 2)


def sample_json(sample: SystemSample, version: str) -> dict[str, Any]:
    """The API's view: percentages for people (metrics keep 0-1 ratios)."""
    cpu, mem = sample.cpu, sample.memory
    now = sample.timestamp
    return {
        "time": sample.time.isoformat(),
        "sample_interval_seconds": sample.interval_s,
        "sample_duration_seconds": round(sample.duration_s, 6),
        "version": version,
        "uptime_seconds": round(now - sample.boot_time, 1),
        "boot_time": sample.boot_time,
        "cpu": {
            "count": cpu.count,
            "percent": _percent(cpu.usage_ratio),
            "per_core_percent": [_percent(r) for r in cpu.core_usage_ratios],
            "load_average": list(cpu.load_average),
        },
        "memory": {
            "total_bytes": mem.total_bytes,
            "available_bytes": mem.available_bytes,
            "used_bytes": mem.used_bytes,
            "percent": _percent(1 - mem.available_bytes / mem.total_bytes)
            if mem.total_bytes
            else None,
        },
        "swap": {"total_bytes": mem.swap_total_bytes, "used_bytes": mem.swap_used_bytes},
        "storage": [
            {
                "path": fs.path,
                "total_bytes": fs.total_bytes,
                "used_bytes": fs.used_bytes,
                "free_bytes": fs.free_bytes,
                "inodes_total": fs.inodes_total,
                "inodes_free": fs.inodes_free,
            }
            for fs in sample.filesystems
        ],
        "network": [
            {
                "interface": i.name,
                "receive_bytes_total": i.receive_bytes_total,
                "transmit_bytes_total": i.transmit_bytes_total,
                "receive_bytes_per_second": i.receive_bytes_per_second,
                "transmit_bytes_per_second": i.transmit_bytes_per_second,
            }
            for i in sample.interfaces
        ],
        "processes": [
            {
                "role": p.role,
                "camera": p.camera or None,
                "pid": p.pid,
                "cpu_percent": _percent(p.cpu_ratio),
                "rss_bytes": p.rss_bytes,
                "pss_bytes": p.pss_bytes,
                "uss_bytes": p.uss_bytes,
                "uptime_seconds": round(max(0.0, now - p.start_time), 1),
                "processes": p.processes,
            }
            for p in sample.processes
        ],
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "uuid": g.uuid,
                "utilization_percent": _percent(g.utilization_ratio),
                "memory_used_bytes": g.memory_used_bytes,
                "memory_total_bytes": g.memory_total_bytes,
                "encoder_utilization_percent": _percent(g.encoder_utilization_ratio),
                "decoder_utilization_percent": _percent(g.decoder_utilization_ratio),
                "temperature_celsius": g.temperature_celsius,
                "power_watts": g.power_watts,
            }
            for g in sample.gpu.gpus
        ],
        "gpus_reason": sample.gpu.reason,
        "problems": list(sample.problems),
    }
