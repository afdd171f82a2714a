"""32 cameras recording real RTSP streams: the daemon's own CPU and RSS, index lag, resume time.

Usage: python bench/recorders.py [--cameras 32] [--seconds 120] [--segment-seconds 10]

Runs the real `vmsd run` (mode off, embedded PostgreSQL, the imageio-ffmpeg binary) against
live H.264 RTSP sources and prints, over the steady window (after every recorder is recording
and WARMUP_S more): the daemon process's own CPU (user+system of its pid, children excluded) as
a percentage of one core, its RSS sampled every second, and for information the FFmpeg
recorders', the embedded PostgreSQL's and the sources' CPU. Then OUTAGE_CAMERAS sources go away
for OUTAGE_S and come back: resume is "source accepting again" -> a new segment file with bytes
on disk (polled every 20 ms). Index lag p50/p99 come from the daemon's own histogram
`vmsd_index_lag_seconds` (bucket resolution). Whether the recording has no gap other than the
outage is out of scope here (tests/e2e/test_daemon_recording.py checks continuity).

Sources: the tests' GStreamer RtspServer (tests/streams), one server for the steady cameras and
one for the outage cameras (stopped and started again on the same port, as the tests simulate a
camera going away). It encodes once per path (x264 ultrafast, 320x240 at 10 fps, a keyframe
every second): measured about 40% of one core for 32 paths, affordable on 2 cores and reported
separately. The cheaper copy loop was measured and rejected: FFmpeg cannot serve RTSP to a player
(its rtsp muxer has no listen mode: `-rtsp_flags listen` on output just connects and is
refused), and its RTMP/HTTP `-listen 1` (about 6% of one core for 32 copy loops) serves ONE
client and exits, so the daemon's port watcher (a TCP connect and close during backoff) would
use up the listener and the resume figure would measure the bench's respawn loop instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import imageio_ffmpeg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.daemon_process import DaemonProcess, processes_using, write_config
from tests.streams.sources import RtspServer

WARMUP_S = 15.0
OUTAGE_S = 5.0
OUTAGE_CAMERAS = 4
RECORDING_TIMEOUT_S = 60.0
RESUME_TIMEOUT_S = 30.0
POLL_S = 0.02
LAG = "vmsd_index_lag_seconds"
CPU_TARGET_PCT, RSS_TARGET_MB, LAG_TARGET_S, RESUME_TARGET_S = 2.0, 150.0, 1.0, 2.0


class CpuMeter:
    """CPU seconds of a changing set of processes over a window, from samples: a process that
    appears during the window counts from zero, one that exits keeps its last sample."""

    def __init__(self) -> None:
        self._first: dict[tuple[int, float], float] = {}
        self._last: dict[tuple[int, float], float] = {}
        self._started = False

    def sample(self, procs: Iterable[psutil.Process]) -> None:
        for proc in procs:
            try:
                key, times = (proc.pid, proc.create_time()), proc.cpu_times()
            except psutil.Error:
                continue
            total = times.user + times.system
            self._first.setdefault(key, 0.0 if self._started else total)
            self._last[key] = total
        self._started = True

    @property
    def seconds(self) -> float:
        return sum(self._last[key] - first for key, first in self._first.items())


def scrape(daemon: DaemonProcess) -> str:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as resp:  # noqa: S310
        text: str = resp.read().decode()
        return text


def gauge_by_camera(text: str, name: str) -> dict[str, float]:
    pattern = re.compile(rf'^{name}\{{camera="([^"]+)"\}} (\S+)$', re.MULTILINE)
    return {camera: float(value) for camera, value in pattern.findall(text)}


def histogram(text: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """Cumulative (le, count) buckets, sum and count of a Prometheus histogram."""
    buckets = [
        (float(le), float(value))
        for le, value in re.findall(rf'^{name}_bucket\{{le="([^"]+)"\}} (\S+)$', text, re.M)
    ]
    total = re.search(rf"^{name}_sum (\S+)$", text, re.M)
    count = re.search(rf"^{name}_count (\S+)$", text, re.M)
    return buckets, float(total[1]) if total else 0.0, float(count[1]) if count else 0.0


def quantile_bucket(
    buckets: list[tuple[float, float]], count: float, q: float
) -> tuple[float, float]:
    """The bucket (lower, upper] holding quantile q."""
    lower = 0.0
    for upper, cumulative in buckets:
        if cumulative >= q * count:
            return lower, upper
        lower = upper
    return lower, float("inf")


def segment_files(camera_dir: Path) -> dict[Path, int]:
    found = {}
    for path in camera_dir.glob("*/*.mp4"):
        try:
            found[path] = path.stat().st_size
        except FileNotFoundError:
            continue
    return found


def wait_all_recording(daemon: DaemonProcess, cameras: list[str]) -> list[str]:
    """Cameras whose recorder is not up within RECORDING_TIMEOUT_S (empty: all recording)."""
    deadline = time.monotonic() + RECORDING_TIMEOUT_S
    while True:
        up = gauge_by_camera(scrape(daemon), "vmsd_recorder_up")
        missing = [c for c in cameras if up.get(c) != 1.0]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def measure_resume(server: RtspServer, dirs: dict[str, Path]) -> dict[str, float | None]:
    server.stop()
    time.sleep(OUTAGE_S)
    before = {camera: set(segment_files(d)) for camera, d in dirs.items()}
    server.start()  # returns once the server listens again: "source accepting again"
    back = time.monotonic()
    resumed: dict[str, float | None] = dict.fromkeys(dirs)
    while time.monotonic() - back < RESUME_TIMEOUT_S:
        for camera, d in dirs.items():
            if resumed[camera] is None and any(
                size > 0 and path not in before[camera]
                for path, size in segment_files(d).items()
            ):
                resumed[camera] = time.monotonic() - back
        if all(v is not None for v in resumed.values()):
            break
        time.sleep(POLL_S)
    return resumed


def verdict(held: bool) -> str:
    return "held" if held else "MISSED"


def run(args: argparse.Namespace, tmp: Path, ffmpeg: str) -> int:
    cameras = [f"cam{i:02d}" for i in range(args.cameras)]
    outage_cams, steady_cams = cameras[:OUTAGE_CAMERAS], cameras[OUTAGE_CAMERAS:]
    groups = [group for group in (steady_cams, outage_cams) if group]
    servers = [RtspServer(["/" + c for c in group]) for group in groups]
    daemon: DaemonProcess | None = None
    try:
        for server in servers:
            server.start()
        url = {c: s.url("/" + c) for s in servers for c in (p.lstrip("/") for p in s.paths)}
        config = write_config(
            tmp,
            log={"level": "info", "format": "json"},
            ffmpeg={"binary": ffmpeg},
            recording={"segment_seconds": args.segment_seconds},
            cameras=[{"name": c, "source": url[c]} for c in cameras],
        )
        daemon = DaemonProcess(config)
        started = time.monotonic()
        try:
            daemon.start().wait_ready()
        except AssertionError as err:
            print(f"daemon failed to start: {err}")
            return 1
        ready_s = time.monotonic() - started
        missing = wait_all_recording(daemon, cameras)
        all_up_s = time.monotonic() - started
        print(f"READY after {ready_s:.2f} s; recorders up after {all_up_s:.2f} s"
              + (f"; NEVER up: {', '.join(missing)}" if missing else ""))
        time.sleep(WARMUP_S)

        assert daemon.proc is not None
        main = psutil.Process(daemon.proc.pid)
        ffmpeg_cpu, pg_cpu, source_cpu, rss = CpuMeter(), CpuMeter(), CpuMeter(), []
        window_s = max(10.0, args.seconds - WARMUP_S)

        def sample() -> None:
            children = main.children(recursive=True)
            ffmpeg_cpu.sample(p for p in children if p.name().startswith("ffmpeg"))
            pg_cpu.sample(p for p in children if not p.name().startswith("ffmpeg"))
            source_cpu.sample(psutil.Process(s.pid) for s in servers if s.pid is not None)
            rss.append(main.memory_info().rss)

        cpu0, t0 = main.cpu_times(), time.monotonic()
        sample()
        while time.monotonic() - t0 < window_s:
            time.sleep(1.0)
            sample()
        cpu1, elapsed = main.cpu_times(), time.monotonic() - t0
        own_s = cpu1.user + cpu1.system - cpu0.user - cpu0.system
        daemon_pct = 100 * own_s / elapsed

        root = tmp / "recordings"
        resumed = measure_resume(servers[-1], {c: root / c for c in outage_cams}) if (
            outage_cams) else {}
        time.sleep(1.0)
        text = scrape(daemon)
        buckets, lag_sum, lag_count = histogram(text, LAG)
        segments = gauge_by_camera(text, "vmsd_segments_total")
        restarts = sum(float(v) for v in re.findall(
            r"^vmsd_recorder_restarts_total\{.*\} (\S+)$", text, re.M))
        stop_started = time.monotonic()
        code = daemon.stop(signal.SIGTERM)
        stop_s = time.monotonic() - stop_started
        never = [c for c in cameras if not any(s > 0 for s in segment_files(root / c).values())]

        rss_mb = [r / 1e6 for r in rss]
        user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
        print(f"steady window: {elapsed:.1f} s, {len(cameras)} cameras, "
              f"{args.segment_seconds} s segments")
        print(f"daemon own CPU: {daemon_pct:.2f}% of one core "
              f"(user {user:.2f} s + system {system:.2f} s, children excluded)")
        print(f"daemon RSS: median {statistics.median(rss_mb):.1f} MB, max {max(rss_mb):.1f} MB "
              f"({len(rss)} samples, 1 s apart)")
        print(f"FFmpeg recorders CPU (information): {100 * ffmpeg_cpu.seconds / elapsed:.1f}% "
              f"of one core in total, {100 * ffmpeg_cpu.seconds / elapsed / len(cameras):.2f}% "
              "each")
        print(f"embedded PostgreSQL CPU (information): {100 * pg_cpu.seconds / elapsed:.2f}% "
              "of one core (all its processes)")
        print(f"sources CPU (information, GStreamer RTSP, {len(servers)} servers): "
              f"{100 * source_cpu.seconds / elapsed:.1f}% of one core")
        p50, p99 = (quantile_bucket(buckets, lag_count, q) for q in (0.5, 0.99))
        mean = lag_sum / lag_count if lag_count else float("nan")
        print(f"index lag ({lag_count:.0f} segments, whole run; bucket resolution): "
              f"p50 in ({p50[0]:g}, {p50[1]:g}] s, p99 in ({p99[0]:g}, {p99[1]:g}] s, "
              f"mean {mean:.3f} s (exact)")
        print(f"segments indexed per camera: min {min(segments.values(), default=0):.0f}, "
              f"max {max(segments.values(), default=0):.0f}; recorder restarts (whole run, "
              f"outage included): {restarts:.0f}")
        for camera, seconds in resumed.items():
            shown = f"{seconds:.3f} s" if seconds is not None else f"none in {RESUME_TIMEOUT_S} s"
            print(f"resume {camera} (source back after {OUTAGE_S:.0f} s -> first new segment "
                  f"bytes): {shown}")
        resume_max = max((v if v is not None else float("inf")) for v in resumed.values()) if (
            resumed) else float("nan")
        print(f"resume max: {resume_max:.3f} s")
        print(f"graceful stop: exit {code} after {stop_s:.2f} s")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("targets:")
        print(f"  daemon CPU < {CPU_TARGET_PCT}% of one core: {daemon_pct:.2f}% "
              f"{verdict(daemon_pct < CPU_TARGET_PCT)}")
        print(f"  daemon RSS < {RSS_TARGET_MB:.0f} MB: max {max(rss_mb):.1f} MB "
              f"{verdict(max(rss_mb) < RSS_TARGET_MB)}")
        print(f"  index lag p99 < {LAG_TARGET_S} s: <= {p99[1]:g} s "
              f"{verdict(p99[1] <= LAG_TARGET_S)}")
        print(f"  resume < {RESUME_TARGET_S} s after the source returns: {resume_max:.3f} s "
              f"{verdict(resume_max < RESUME_TARGET_S)}")
        print("  resume < 1 s after an availability hook: not measured (mode off: no MediaMTX)")
        if missing or never:
            print(f"cameras that never recorded: {', '.join(sorted({*missing, *never}))}")
            return 1
        return 0
    finally:
        if daemon is not None:
            daemon.close()
        for server in servers:
            server.stop()
        for proc in processes_using(tmp):  # recorders, PostgreSQL: anything left behind
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--segment-seconds", type=int, default=10)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout
    print(f"python {platform.python_version()}; {os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{version.splitlines()[0] if version else 'ffmpeg: no version'} ({ffmpeg})")
    print(f"command: {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory(prefix="vmsd-rec-", ignore_cleanup_errors=True) as tmp:
        return run(args, Path(tmp), ffmpeg)


if __name__ == "__main__":
    sys.exit(main())
