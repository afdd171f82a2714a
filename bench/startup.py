"""Cold start to READY=1 (embedded PostgreSQL included) and RSS at idle.

Usage: python bench/startup.py [--runs N]
Prints: first start (initdb + start), warm start (existing state dir), idle RSS of the daemon
and of its PostgreSQL processes, measured on the real `vmsd run` process.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.daemon_process import DaemonProcess, write_config

IDLE_SETTLE_S = 10.0


def timed_start(config: Path) -> tuple[float, DaemonProcess]:
    daemon = DaemonProcess(config)
    started = time.perf_counter()
    daemon.start().wait_ready()
    return time.perf_counter() - started, daemon


def rss_mib(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, warm, daemon_rss, pg_rss = [], [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="vmsd-bench-") as tmp:
            config = write_config(Path(tmp), log={"level": "info", "format": "json"})
            seconds, daemon = timed_start(config)
            cold.append(seconds)
            daemon.stop(signal.SIGTERM)
            daemon.close()
            seconds, daemon = timed_start(config)
            warm.append(seconds)
            time.sleep(IDLE_SETTLE_S)
            main_proc = psutil.Process(daemon.proc.pid)  # type: ignore[union-attr]
            daemon_rss.append(rss_mib(main_proc))
            pg_rss.append(sum(rss_mib(p) for p in main_proc.children(recursive=True)))
            daemon.stop(signal.SIGTERM)
            daemon.close()
    print(f"runs: {args.runs}")
    print(f"first start to READY (initdb + start): median {statistics.median(cold):.2f} s "
          f"(min {min(cold):.2f}, max {max(cold):.2f})")
    print(f"warm start to READY (existing state):  median {statistics.median(warm):.2f} s "
          f"(min {min(warm):.2f}, max {max(warm):.2f})")
    print(f"idle RSS after {IDLE_SETTLE_S:.0f} s: "
          f"daemon median {statistics.median(daemon_rss):.1f} MiB; "
          f"embedded PostgreSQL (all processes) median {statistics.median(pg_rss):.1f} MiB")


if __name__ == "__main__":
    main()
