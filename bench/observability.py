"""The cost of observability with 64 cameras: one system sample, one /metrics scrape.

Usage: python bench/observability.py [--scrapes N] [--samples N]
Prints:
1. one system sample (HostProbe, as the sampler's thread runs it) with 64 recorder-like child
   processes plus a process tree: wall time and CPU time per sample;
2. one /metrics scrape of the real daemon with 64 cameras registered (recording on, sources
   unreachable, so every camera has its camera and recorder series): latency p50/p99, size,
   series, and the daemon's CPU time per scrape (CPU while scraping minus CPU over an equal
   idle window, divided by the scrapes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, write_config
from tests.e2e.test_daemon_process import vmsd_cli
from tests.net import free_port
from vmsd.system.gpu import gpu_provider
from vmsd.system.host import ChildRef, HostProbe

CAMERAS = 64
SETTLE_S = 8.0


def bench_sample(samples: int) -> None:
    children = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        for _ in range(CAMERAS)
    ]
    try:
        refs = [ChildRef("recorder", f"cam{i:02d}", p.pid) for i, p in enumerate(children)]
        refs.append(ChildRef("postgres", "", children[0].pid, tree=True))
        with tempfile.TemporaryDirectory() as tmp:
            probe = HostProbe([Path(tmp)], gpu_provider(enabled=True))
            probe.sample(refs, 1.0)
            walls, cpus = [], []
            for _ in range(samples):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                sample = probe.sample(refs, 1.0)
                walls.append(time.perf_counter() - wall0)
                cpus.append(time.process_time() - cpu0)
            assert len(sample.processes) == CAMERAS + 2
    finally:
        for p in children:
            p.kill()
            p.wait()
    print(f"system sample, {CAMERAS} recorder processes + a process tree, {samples} samples:")
    print(f"  wall p50 {statistics.median(walls) * 1e3:.2f} ms, "
          f"p99 {_p99(walls) * 1e3:.2f} ms; CPU {statistics.mean(cpus) * 1e3:.2f} ms/sample "
          f"(= {statistics.mean(cpus) / 5 * 100:.3f} % of a core at the default 5 s interval)")


def _p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def bench_scrape(scrapes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vmsd-bench-") as tmp:
        closed = free_port()
        cameras = [
            {"name": f"cam{i:02d}", "source": f"rtsp://127.0.0.1:{closed}/cam{i:02d}"}
            for i in range(CAMERAS)
        ]
        config = write_config(
            Path(tmp),
            ffmpeg={"binary": ffmpeg_binary()},
            cameras=cameras,
            log={"level": "warning", "format": "json"},
        )
        token = vmsd_cli(config, "token", "create", "--name", "bench", "--role", "admin")
        secret = token.stdout.strip()
        daemon = DaemonProcess(config)
        try:
            daemon.start().wait_ready()
            time.sleep(SETTLE_S)  # recorders have tried once and backed off; a sample exists
            proc = psutil.Process(daemon.proc.pid)  # type: ignore[union-attr]
            request = urllib.request.Request(daemon.url + "/metrics")  # noqa: S310 - http://127.0.0.1
            request.add_header("Authorization", f"Bearer {secret}")
            latencies = []
            started, cpu_before = time.perf_counter(), _cpu_s(proc)
            for _ in range(scrapes):
                t0 = time.perf_counter()
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    body = response.read()
                latencies.append(time.perf_counter() - t0)
            busy_cpu, window = _cpu_s(proc) - cpu_before, time.perf_counter() - started
            idle_before = _cpu_s(proc)
            time.sleep(window)
            idle_cpu = _cpu_s(proc) - idle_before
        finally:
            daemon.close()
    text = body.decode()
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    per_scrape = max(0.0, busy_cpu - idle_cpu) / scrapes
    print(f"/metrics of the real daemon, {CAMERAS} cameras registered, {scrapes} scrapes:")
    print(f"  latency p50 {statistics.median(latencies) * 1e3:.2f} ms, "
          f"p99 {_p99(latencies) * 1e3:.2f} ms; {len(body) / 1024:.0f} KiB, {series} series")
    print(f"  daemon CPU {per_scrape * 1e3:.2f} ms per scrape (busy window {busy_cpu:.2f} s, "
          f"idle window {idle_cpu:.2f} s over {window:.1f} s) = "
          f"{per_scrape / 15 * 100:.3f} % of a core at a 15 s scrape interval")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    bench_sample(args.samples)
    bench_scrape(args.scrapes)


if __name__ == "__main__":
    main()
