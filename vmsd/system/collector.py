"""The latest system sample as Prometheus metrics, built at scrape time (no gauges to keep in
step; a process or GPU that is gone simply has no series). Every family is always declared,
so dashboards and alert rules can name a metric before its first series exists."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vmsd.system.model import SystemSample

_CHILD_LABELS = ["process", "camera"]


class SystemCollector(Collector):
    def __init__(self, latest: Callable[[], SystemSample | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Metric]:
        sample = self._latest()
        yield from _host(sample)
        yield from _storage(sample)
        yield from _network(sample)
        yield from _children(sample)
        yield from _gpus(sample)

    def describe(self) -> list[Metric]:
        return []  # names are not reserved: the families are built fresh at every scrape


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    if value is not None:
        family.add_metric([], value)
    return family


def _host(s: SystemSample | None) -> Iterator[Metric]:
    cpu, mem = (s.cpu, s.memory) if s else (None, None)
    yield _gauge(
        "vmsd_system_sample_timestamp_seconds",
        "Unix time of the latest system sample",
        s.timestamp if s else None,
    )
    yield _gauge(
        "vmsd_system_sample_duration_seconds",
        "Time the latest system sample took to measure",
        s.duration_s if s else None,
    )
    yield _gauge(
        "vmsd_system_boot_time_seconds",
        "Unix time at which the host booted",
        s.boot_time if s else None,
    )
    yield _gauge(
        "vmsd_system_cpu_usage_ratio",
        "Busy share of all CPU cores over the last sample interval (0-1)",
        cpu.usage_ratio if cpu else None,
    )
    cores = GaugeMetricFamily(
        "vmsd_system_cpu_core_usage_ratio",
        "Busy share of one CPU core over the last sample interval (0-1)",
        labels=["cpu"],
    )
    for i, ratio in enumerate(cpu.core_usage_ratios if cpu else ()):
        cores.add_metric([str(i)], ratio)
    yield cores
    for minutes, value in zip((1, 5, 15), cpu.load_average if cpu else (None,) * 3, strict=True):
        yield _gauge(f"vmsd_system_load{minutes}", f"{minutes}-minute load average", value)
    for name, doc, field in (
        ("memory_total_bytes", "Physical memory", "total_bytes"),
        (
            "memory_available_bytes",
            "Memory available to new work without swapping",
            "available_bytes",
        ),
        ("memory_used_bytes", "Memory in use (total minus available)", "used_bytes"),
        ("swap_total_bytes", "Swap space", "swap_total_bytes"),
        ("swap_used_bytes", "Swap space in use", "swap_used_bytes"),
    ):
        yield _gauge(f"vmsd_system_{name}", doc, getattr(mem, field) if mem else None)


def _storage(s: SystemSample | None) -> Iterator[Metric]:
    families = {  # metric suffix: (FilesystemStats field, help)
        "total_bytes": ("total_bytes", "Size of the filesystem holding a storage path"),
        "used_bytes": ("used_bytes", "Used bytes on the filesystem of a storage path"),
        "free_bytes": ("free_bytes", "Bytes free for vmsd on the filesystem of a storage path"),
        "inodes": ("inodes_total", "Inodes of the filesystem holding a storage path"),
        "inodes_free": ("inodes_free", "Free inodes on the filesystem of a storage path"),
    }
    for suffix, (field, doc) in families.items():
        family = GaugeMetricFamily(f"vmsd_storage_{suffix}", doc, labels=["path"])
        for fs in s.filesystems if s else ():
            family.add_metric([fs.path], getattr(fs, field))
        yield family


def _network(s: SystemSample | None) -> Iterator[Metric]:
    rx = CounterMetricFamily(
        "vmsd_system_network_receive_bytes",
        "Bytes received by a network interface since boot",
        labels=["interface"],
    )
    tx = CounterMetricFamily(
        "vmsd_system_network_transmit_bytes",
        "Bytes sent by a network interface since boot",
        labels=["interface"],
    )
    for iface in s.interfaces if s else ():
        rx.add_metric([iface.name], iface.receive_bytes_total)
        tx.add_metric([iface.name], iface.transmit_bytes_total)
    yield rx
    yield tx


def _children(s: SystemSample | None) -> Iterator[Metric]:
    cpu = GaugeMetricFamily(
        "vmsd_child_cpu_usage_ratio",
        "CPU of a process vmsd runs "
        "(recorder FFmpeg, MediaMTX, embedded PostgreSQL with its backends), "
        "as a share of one core over the last sample interval",
        labels=_CHILD_LABELS,
    )
    rss = GaugeMetricFamily(
        "vmsd_child_resident_memory_bytes",
        "Resident memory (RSS) of a process vmsd runs; PostgreSQL: summed over its processes, "
        "which counts their shared memory once per process (see the proportional one)",
        labels=_CHILD_LABELS,
    )
    pss = GaugeMetricFamily(
        "vmsd_child_proportional_memory_bytes",
        "Proportional set size (PSS) of a process vmsd runs: each shared page split among the "
        "processes mapping it; PostgreSQL: summed over its processes, its real share",
        labels=_CHILD_LABELS,
    )
    uss = GaugeMetricFamily(
        "vmsd_child_unique_memory_bytes",
        "Unique set size (USS) of a process vmsd runs: memory no other process shares, what "
        "ending it frees; PostgreSQL: summed over its processes",
        labels=_CHILD_LABELS,
    )
    started = GaugeMetricFamily(
        "vmsd_child_start_time_seconds",
        "Unix time at which a process vmsd runs started",
        labels=_CHILD_LABELS,
    )
    for proc in s.processes if s else ():
        if proc.role == "vmsd":  # the daemon itself: process_* from prometheus_client
            continue
        labels = [proc.role, proc.camera]
        cpu.add_metric(labels, proc.cpu_ratio)
        rss.add_metric(labels, proc.rss_bytes)
        if proc.pss_bytes is not None:
            pss.add_metric(labels, proc.pss_bytes)
        if proc.uss_bytes is not None:
            uss.add_metric(labels, proc.uss_bytes)
        started.add_metric(labels, proc.start_time)
    yield cpu
    yield rss
    yield pss
    yield uss
    yield started


def _gpus(s: SystemSample | None) -> Iterator[Metric]:
    gpus = s.gpu.gpus if s else ()
    yield _gauge(
        "vmsd_gpus", "NVIDIA GPUs seen through NVML (0 without a driver)", len(gpus) if s else None
    )
    info = GaugeMetricFamily(
        "vmsd_gpu_info", "A GPU's name and UUID (value 1)", labels=["gpu", "name", "uuid"]
    )
    for g in gpus:
        info.add_metric([str(g.index), g.name, g.uuid], 1)
    yield info
    for field, doc in (
        ("utilization_ratio", "GPU busy share over NVML's last sample period (0-1)"),
        ("memory_used_bytes", "GPU memory in use"),
        ("memory_total_bytes", "GPU memory"),
        ("encoder_utilization_ratio", "Video encoder (NVENC) busy share (0-1)"),
        ("decoder_utilization_ratio", "Video decoder (NVDEC) busy share (0-1)"),
        ("temperature_celsius", "GPU core temperature"),
        ("power_watts", "GPU power draw"),
    ):
        family = GaugeMetricFamily(f"vmsd_gpu_{field}", doc, labels=["gpu"])
        for g in gpus:
            value = getattr(g, field)
            if value is not None:
                family.add_metric([str(g.index)], value)
        yield family
