"""The cost of honest child memory figures: /proc/PID/smaps_rollup (PSS, USS) for every process
the system sampler measures, against what it read before (/proc/PID/stat only), full
/proc/PID/smaps and psutil's memory_full_info, over a box's worth of real processes.

Usage: python bench/child_memory.py [--recorders 50] [--backends 12] [--samples 100]
                                    [--ffmpeg /usr/bin/ffmpeg]

Processes: --recorders idle FFmpeg processes (the distribution's dynamically linked FFmpeg by
default: the most mappings, so the dearest case; one frame a second of a tiny test source, so
they map every library a recorder does) and a real embedded PostgreSQL (vmsd's own, as the
daemon runs it) with --backends connections that have each read a table, so its shared
buffers are mapped by every backend. Prints, per sample over all of them: wall and CPU time of
each way to read; what a HostProbe sample costs now, its first (every smaps_rollup read) and
then at each 5 s interval (the refreshes due: vmsd.system.memory); the share of one core at
the default 5 s interval; then RSS, PSS and USS of the PostgreSQL tree and of one FFmpeg.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vmsd.runtime.embedded import EmbeddedPostgres
from vmsd.system import procfs
from vmsd.system.gpu import NoGpus
from vmsd.system.host import ChildRef, HostProbe

INTERVAL_S = 5.0  # system.sample_interval_seconds' default
MIB = 1024 * 1024


class _SteppedClock:
    """The probe's monotonic clock, moved by the bench: one sample interval per sample."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def _read_all(pids: list[int], path: str) -> None:
    for pid in pids:
        try:
            with open(f"/proc/{pid}/{path}", "rb") as f:
                f.read()
        except OSError:
            continue


def _psutil_full(pids: list[int]) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).memory_full_info()
        except psutil.Error:
            continue


def _time(what: Callable[[], object], samples: int) -> tuple[float, float]:
    """Median wall and mean CPU seconds per call."""
    what()
    walls, cpus = [], []
    for _ in range(samples):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        what()
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    return statistics.median(walls), statistics.mean(cpus)


def _row(name: str, wall: float, cpu: float) -> None:
    print(f"  {name:<38} wall {wall * 1e3:7.2f} ms  CPU {cpu * 1e3:7.2f} ms "
          f"({cpu / INTERVAL_S * 100:.3f} % of a core every {INTERVAL_S:g} s)")


def _tree(postmaster: int) -> list[int]:
    root = psutil.Process(postmaster)
    return [postmaster, *(c.pid for c in root.children(recursive=True))]


def _memory(pids: list[int]) -> tuple[int, int, int]:
    rss = sum(s.rss_bytes for p in pids if (s := procfs.read_pid_stat(p)) is not None)
    shares = [m for p in pids if (m := procfs.read_smaps_rollup(p)) is not None]
    return rss, sum(m.pss_bytes for m in shares), sum(m.uss_bytes for m in shares)


def _spawn_recorders(ffmpeg: str, count: int) -> list[subprocess.Popen[bytes]]:
    argv = [ffmpeg, "-nostdin", "-loglevel", "quiet", "-re", "-f", "lavfi",
            "-i", "testsrc=size=64x64:rate=1", "-f", "null", "-"]
    return [subprocess.Popen(argv, stdin=subprocess.DEVNULL) for _ in range(count)]


async def _run(args: argparse.Namespace, tmp: Path) -> None:
    server = EmbeddedPostgres(tmp / "state", "vmsd-postgres")
    dsn = await server.start()
    recorders: list[subprocess.Popen[bytes]] = []
    connections: list[asyncpg.Connection] = []
    try:
        for _ in range(args.backends):
            conn = await asyncpg.connect(dsn)
            await conn.fetchval("SELECT count(*) FROM pg_class, pg_attribute")
            connections.append(conn)
        recorders = _spawn_recorders(args.ffmpeg, args.recorders)
        await asyncio.sleep(2.0)  # every FFmpeg has mapped its libraries and runs
        assert server.pid is not None
        tree = _tree(server.pid)
        pids = [p.pid for p in recorders] + tree
        refs = [ChildRef("recorder", f"cam{i:02d}", p.pid) for i, p in enumerate(recorders)]
        refs.append(ChildRef("postgres", "", server.pid, tree=True))
        clock = _SteppedClock()
        probe = HostProbe([tmp], NoGpus("bench"), clock=clock)
        print(f"{len(recorders)} FFmpeg ({args.ffmpeg}) + PostgreSQL with {len(tree)} processes "
              f"= {len(pids)} processes, {args.samples} samples each:")
        _row("stat (RSS, as before)", *_time(lambda: _read_all(pids, "stat"), args.samples))
        _row("smaps_rollup (PSS, USS: added)",
             *_time(lambda: _read_all(pids, "smaps_rollup"), args.samples))
        _row("smaps (every mapping; not used)",
             *_time(lambda: _read_all(pids, "smaps"), max(5, args.samples // 10)))
        _row("psutil memory_full_info (not used)",
             *_time(lambda: _psutil_full(pids), max(5, args.samples // 10)))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        probe.sample(refs, INTERVAL_S)
        first = time.perf_counter() - wall0, time.process_time() - cpu0
        _row("HostProbe.sample, the first (reads all)", *first)

        def every_interval() -> None:
            clock.now += INTERVAL_S  # as if 5 s had passed: the refreshes due are read
            probe.sample(refs, INTERVAL_S)

        _row(f"HostProbe.sample, then every {INTERVAL_S:g} s", *_time(every_interval, args.samples))
        rss, pss, uss = _memory(tree)
        print(f"PostgreSQL, {len(tree)} processes: RSS {rss / MIB:.1f} MiB, "
              f"PSS {pss / MIB:.1f} MiB, USS {uss / MIB:.1f} MiB")
        rss, pss, uss = _memory([recorders[0].pid])
        print(f"one FFmpeg: RSS {rss / MIB:.1f} MiB, PSS {pss / MIB:.1f} MiB, "
              f"USS {uss / MIB:.1f} MiB")
    finally:
        for proc in recorders:
            proc.kill()
            proc.wait()
        for conn in connections:
            await conn.close()
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recorders", type=int, default=50)
    parser.add_argument("--backends", type=int, default=12)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--ffmpeg", default=shutil.which("ffmpeg") or "ffmpeg")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmsd-bench-") as tmp:
        asyncio.run(_run(args, Path(tmp)))


if __name__ == "__main__":
    main()
