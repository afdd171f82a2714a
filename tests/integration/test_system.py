"""GET /api/v1/system and the system metrics: this machine (no GPU), real child processes, and
an injected NVML stand-in whose values must flow through to JSON and /metrics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api
from vmsd.api.services import SERVICES
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.system import procfs
from vmsd.system.collector import SystemCollector
from vmsd.system.gpu import DISABLED_REASON, NoGpus, NvmlGpus, gpu_provider
from vmsd.system.host import ChildRef, HostProbe
from vmsd.system.model import GpuReport, GpuStats, sample_json
from vmsd.system.sampler import SystemSampler

GIB = 1024**3


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _values(family: Any) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


async def test_system_endpoint_on_this_machine(api: Api) -> None:
    for root in api.cameras.holder.current.storage.paths:
        root.mkdir(parents=True, exist_ok=True)
    await api.app[SERVICES].system.sample_now()
    async with api.session.get(api.url + "/api/v1/system", headers=api.headers("viewer")) as r:
        assert r.status == 200
        body = await r.json()
    assert body["cpu"]["count"] == psutil.cpu_count()
    assert len(body["cpu"]["per_core_percent"]) == psutil.cpu_count()
    assert len(body["cpu"]["load_average"]) == 3
    assert 0 <= body["cpu"]["percent"] <= 100
    assert body["memory"]["total_bytes"] == psutil.virtual_memory().total
    assert body["uptime_seconds"] > 0
    roots = [str(p) for p in api.cameras.holder.current.storage.paths]
    assert [s["path"] for s in body["storage"]] == roots
    assert body["storage"][0]["total_bytes"] >= body["storage"][0]["free_bytes"] > 0
    assert body["storage"][0]["inodes_total"] > 0
    assert "lo" in {n["interface"] for n in body["network"]}
    own = [p for p in body["processes"] if p["role"] == "vmsd"]
    assert own and own[0]["pid"] == os.getpid() and own[0]["rss_bytes"] > 0
    # No NVIDIA driver here: a clean empty list with the reason, not an error.
    assert body["gpus"] == []
    assert "NVML" in body["gpus_reason"]


async def test_system_endpoint_needs_a_token(api: Api) -> None:
    async with api.session.get(api.url + "/api/v1/system") as r:
        assert r.status == 401


async def test_metrics_carry_the_system_sample(api: Api) -> None:
    api.cameras.holder.current.storage.paths[0].mkdir(parents=True, exist_ok=True)
    await api.app[SERVICES].system.sample_now()
    async with api.session.get(api.url + "/metrics", headers=api.headers("viewer")) as r:
        families = _families(await r.text())
    assert psutil.virtual_memory().total == _only(families["vmsd_system_memory_total_bytes"])
    cores = _values(families["vmsd_system_cpu_core_usage_ratio"])
    assert len(cores) == psutil.cpu_count()
    assert all(0 <= v <= 1 for v in cores.values())
    root = str(api.cameras.holder.current.storage.paths[0])
    assert _values(families["vmsd_storage_total_bytes"])[(("path", root),)] > 0
    assert _values(families["vmsd_system_network_receive_bytes"])[(("interface", "lo"),)] >= 0
    assert _only(families["vmsd_gpus"]) == 0
    # Declared even when empty, so a dashboard can name them on a box without a GPU.
    assert families["vmsd_gpu_utilization_ratio"].samples == []


def _only(family: Any) -> float:
    (sample,) = family.samples
    return float(sample.value)


def test_families_are_declared_before_the_first_sample(tmp_path: Path) -> None:
    holder = ConfigHolder(Config(), tmp_path / "unused.yml")
    sampler = SystemSampler(holder, list, NoGpus("test"))
    assert sampler.latest() is None
    registry = CollectorRegistry()
    registry.register(SystemCollector(sampler.latest))
    families = _families(generate_latest(registry).decode())
    assert families["vmsd_system_cpu_usage_ratio"].samples == []
    assert "vmsd_child_cpu_usage_ratio" in families


@pytest.fixture
def busy_tree() -> Iterator[subprocess.Popen[bytes]]:
    """A parent that burns CPU and has two children, like a postmaster and its backends."""
    script = (
        "import subprocess, sys, time\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])"
        " for _ in range(2)]\n"
        "end = time.time() + 60\n"
        "while time.time() < end: pass\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    yield proc
    for child in psutil.Process(proc.pid).children(recursive=True):
        child.kill()
    proc.kill()
    proc.wait()


async def test_children_measured_with_their_descendants(
    busy_tree: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    probe = HostProbe([tmp_path, tmp_path / "missing"], NoGpus("none"))
    refs = [ChildRef("postgres", "", busy_tree.pid, tree=True)]
    for _ in range(100):  # the children start a moment after the parent
        if len(psutil.Process(busy_tree.pid).children()) == 2:
            break
        await asyncio.sleep(0.05)
    probe.sample(refs, 1.0)  # starts the CPU deltas of the processes seen for the first time
    await asyncio.sleep(0.5)
    sample = probe.sample(refs, 1.0)
    (tree,) = [p for p in sample.processes if p.role == "postgres"]
    assert tree.pid == busy_tree.pid and tree.processes == 3
    assert tree.cpu_ratio > 0.2  # the parent spins
    assert tree.rss_bytes > sum(
        psutil.Process(c.pid).memory_info().rss for c in psutil.Process(busy_tree.pid).children()
    )
    # A storage path that is not there is a problem of this sample, not a failure.
    assert [fs.path for fs in sample.filesystems] == [str(tmp_path)]
    assert sample.problems and str(tmp_path / "missing") in sample.problems[0]


async def test_a_child_that_ended_is_left_out(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    probe = HostProbe([tmp_path], NoGpus("none"))
    sample = probe.sample([ChildRef("recorder", "front", proc.pid)], 1.0)
    assert [p.role for p in sample.processes] == ["vmsd"]


# A real stat line shape: the command name holds spaces and a ')' (only the last one counts).
_STAT = (
    b"4242 (ffmpeg ) x) S 17 4242 4242 0 -1 4194560 900 0 0 0 1250 375 0 0 20 0 3 0 "
    b"987654 210000000 5120 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"
)


def test_pid_stat_fields() -> None:
    stat = procfs.parse_pid_stat(4242, _STAT)
    assert stat == procfs.ProcStat(
        pid=4242,
        ppid=17,
        session=4242,
        cpu_ticks=1250 + 375,
        start_ticks=987654,
        rss_bytes=5120 * procfs.PAGE_BYTES,
    )


@pytest.mark.parametrize(
    ("before", "after", "ratio"),
    [
        # user nice system idle iowait irq softirq steal guest guest_nice
        ("100 0 100 800 0 0 0 0 0 0", "150 0 150 900 0 0 0 0 0 0", 0.5),
        # iowait is idle; guest time is already in user, not counted twice
        ("0 0 0 0 0 0 0 0 0 0", "50 0 0 25 25 0 0 0 40 0", 0.5),
        ("10 0 0 10 0 0 0 0 0 0", "10 0 0 10 0 0 0 0 0 0", 0.0),  # no tick in between
        ("10 0 0 10", "20 0 0 20", 0.5),  # an old kernel's shorter line
    ],
)
def test_core_busy_ratio(before: str, after: str, ratio: float) -> None:
    def cores(line: str) -> tuple[procfs.CpuTicks, ...]:
        return procfs.parse_cpu_ticks(f"cpu  1 2 3 4\ncpu0 {line}\nintr 5\nbtime 17\n".encode())

    ((a,), (b,)) = cores(before), cores(after)
    assert procfs.busy_ratio(a, b) == pytest.approx(ratio)
    assert procfs.parse_boot_time(b"cpu0 1 2\nbtime 1700000000\n") == 1_700_000_000.0


def test_meminfo_and_net_dev() -> None:
    info = procfs.parse_meminfo(
        b"MemTotal:       16000 kB\nMemFree:  1000 kB\nMemAvailable:   12000 kB\n"
        b"SwapTotal:       2000 kB\nSwapFree:         500 kB\nHugePages_Total:   0\n"
    )
    assert info == procfs.MemInfo(16000 * 1024, 12000 * 1024, 2000 * 1024, 500 * 1024)
    assert procfs.parse_meminfo(b"MemTotal: 10 kB\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n"
                                ).available_bytes == 6 * 1024  # before Linux 3.14
    net = procfs.parse_net_dev(
        b"Inter-|   Receive                 |  Transmit\n"
        b" face |bytes    packets errs drop fifo frame compressed multicast|bytes ...\n"
        b"    lo:  1000      10    0    0    0     0          0         0     1000 10 0 0 0 0 0 0\n"
        b"  eth0: 5 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"
    )
    assert net == {"lo": (1000, 1000), "eth0": (5, 7)}


def test_host_figures_agree_with_psutil(tmp_path: Path) -> None:
    sample = HostProbe([tmp_path], NoGpus("none")).sample([], 1.0)
    assert sample.boot_time == psutil.boot_time()
    assert sample.cpu.count == psutil.cpu_count()
    assert sample.memory.total_bytes == psutil.virtual_memory().total
    assert sample.memory.swap_total_bytes == psutil.swap_memory().total
    assert {i.name for i in sample.interfaces} == set(psutil.net_io_counters(pernic=True))
    (own,) = sample.processes
    assert own.start_time == pytest.approx(psutil.Process().create_time(), abs=0.01)


async def test_a_session_leader_tree_and_a_fresh_cpu_delta(tmp_path: Path) -> None:
    """PostgreSQL's shape: the postmaster leads its own session; a process seen for the first
    time has no CPU share yet, and one that spins has about one core at the next sample."""
    script = (
        "import subprocess, sys, time\n"
        "kid = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        for _ in range(100):
            if psutil.Process(proc.pid).children():
                break
            await asyncio.sleep(0.05)
        probe = HostProbe([tmp_path], NoGpus("none"))
        refs = [ChildRef("postgres", "", proc.pid, tree=True)]
        (first,) = [p for p in probe.sample(refs, 1.0).processes if p.role == "postgres"]
        assert first.processes == 2 and first.cpu_ratio == 0.0
        await asyncio.sleep(0.5)
        (tree,) = [p for p in probe.sample(refs, 1.0).processes if p.role == "postgres"]
        assert tree.processes == 2 and 0.5 < tree.cpu_ratio < 1.5
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


class FakeNvml:
    """The slice of pynvml vmsd calls, with values in NVML's own units."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    def __init__(self, fail_init: bool = False) -> None:
        self.fail_init = fail_init
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA T400" if h == 0 else b"NVIDIA A2000"

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return f"GPU-0000000{h}"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return type("U", (), {"gpu": 37, "memory": 12})()

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        return type("M", (), {"used": 1 * GIB, "total": 4 * GIB, "free": 3 * GIB})()

    def nvmlDeviceGetEncoderUtilization(self, h: int) -> tuple[int, int]:
        if h == 1:
            raise self.NVMLError("Not Supported")
        return (25, 167000)

    def nvmlDeviceGetDecoderUtilization(self, h: int) -> tuple[int, int]:
        return (60, 167000)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 54

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return 31_500  # milliwatts


def test_nvml_values_in_base_units() -> None:
    nvml = FakeNvml()
    gpus = NvmlGpus(nvml)
    report = gpus.read()
    assert report.reason is None
    first, second = report.gpus
    assert first == GpuStats(
        index=0,
        name="NVIDIA T400",
        uuid="GPU-00000000",
        utilization_ratio=0.37,
        memory_used_bytes=GIB,
        memory_total_bytes=4 * GIB,
        encoder_utilization_ratio=0.25,
        decoder_utilization_ratio=0.6,
        temperature_celsius=54.0,
        power_watts=31.5,
    )
    # A reading one card does not support is missing, not a failure of the card.
    assert second.encoder_utilization_ratio is None and second.decoder_utilization_ratio == 0.6
    gpus.close()
    assert nvml.shutdowns == 1


def test_nvml_without_driver_is_a_reason_once() -> None:
    nvml = FakeNvml(fail_init=True)
    gpus = NvmlGpus(nvml)
    assert gpus.read() == GpuReport((), "no NVIDIA driver (NVML: Driver Not Loaded)")
    nvml.fail_init = False  # not retried per sample: the failure is remembered
    assert gpus.read().gpus == ()
    assert gpu_provider(enabled=False).read() == GpuReport((), DISABLED_REASON)


async def test_injected_gpu_values_reach_json_and_metrics(tmp_path: Path) -> None:
    holder = ConfigHolder(
        Config.model_validate({"storage": {"paths": [str(tmp_path)]}}), tmp_path / "x.yml"
    )
    sampler = SystemSampler(holder, list, NvmlGpus(FakeNvml()))
    await sampler.start()
    sample = await sampler.sample_now()
    body = sample_json(sample, "1.2.3")
    assert body["gpus_reason"] is None
    assert [g["name"] for g in body["gpus"]] == ["NVIDIA T400", "NVIDIA A2000"]
    assert body["gpus"][0]["utilization_percent"] == 37.0
    assert body["gpus"][0]["power_watts"] == 31.5
    assert body["gpus"][1]["encoder_utilization_percent"] is None

    registry = CollectorRegistry()
    registry.register(SystemCollector(sampler.latest))
    families = _families(generate_latest(registry).decode())
    assert _only(families["vmsd_gpus"]) == 2
    assert _values(families["vmsd_gpu_utilization_ratio"]) == {
        (("gpu", "0"),): 0.37,
        (("gpu", "1"),): 0.37,
    }
    assert _values(families["vmsd_gpu_power_watts"])[(("gpu", "0"),)] == 31.5
    assert _values(families["vmsd_gpu_memory_total_bytes"])[(("gpu", "1"),)] == 4 * GIB
    assert (("gpu", "1"),) not in _values(families["vmsd_gpu_encoder_utilization_ratio"])
    info = _values(families["vmsd_gpu_info"])
    assert info[(("gpu", "0"), ("name", "NVIDIA T400"), ("uuid", "GPU-00000000"))] == 1
