"""The MediaMTX auth hook of the REAL daemon under load, against a bare aiohttp endpoint.

Usage: python bench/auth_daemon.py [--cameras 32] [--sequential 3000] [--requests 20000]
                                   [--concurrency 64] [--rounds 3] [--scrape-seconds 15]

bench/auth_hook.py measures the hooks app alone in an idle process; this measures it where it
runs: `vmsd run` (mode external, as no MediaMTX binary is installable here: the hooks listener
on mediamtx.hooks_port, and mediamtx.rtsp_port the test server's, so the recorders read it as
they would read MediaMTX) with --cameras cameras recording live RTSP streams (the tests'
GStreamer server, tests/streams), the embedded PostgreSQL, the system sampler at its default
interval and /metrics scraped every --scrape-seconds during the whole run. The baseline is a
bare aiohttp endpoint (`POST /bare`, the daemon's own `start_site`) in a separate idle process
on the same machine, measured in the same run, interleaved round by round with the daemon.

Like MediaMTX, the client opens a new TCP connection per request (`Connection: close`); the
request is an RTSP read of a recording camera: with an API token (a viewer scoped to the
cameras by name) as password, and every other one (with --users, default 100 viewer accounts
of 10 cameras each: 1000 grants) as a user account with its password, which the daemon
checks with argon2 once and then answers from its verdict cache (auth.verdict_cache).
Printed: the sequential p50/p99 of both endpoints, their throughput at --concurrency
concurrent new connections (median of the rounds) and the ratio, the daemon's in-handler
time, its CPU, the scrape latencies. Targets (printed, not asserted):
sequential auth p99 <= 2 ms, throughput ratio >= 0.85.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import psutil
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_hook import AUTH_PATH, BARE_PATH, Client, body, http, median_by, pct, summary
from recorders import histogram, wait_all_recording

from tests.daemon_process import DaemonProcess, processes_using, write_config
from tests.e2e.test_daemon_process import vmsd_cli
from tests.net import free_port
from tests.streams.sources import RtspServer
from vmsd.access.secrets import HOOK_SECRET_FILE_NAME
from vmsd.runtime.preflight import Listener
from vmsd.runtime.sites import start_site

GRANTS_PER_USER = 10
USER_PASSWORD = "bench-reader-pass"  # noqa: S105 - the bench accounts'
SETTLE_S = 15.0  # after every recorder is up: first segments closed, a few system samples
P99_TARGET_MS, RATIO_TARGET = 2.0, 0.85
AUTH_HIST = "vmsd_auth_request_duration_seconds"
LAG_HIST = "vmsd_event_loop_lag_seconds"


async def serve_bare() -> None:
    async def bare(_: web.Request) -> web.Response:
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post(BARE_PATH, bare)
    runner = await start_site(app, Listener("127.0.0.1", 0))
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # parent closes it
    await runner.cleanup()


class NotifyDrain(threading.Thread):
    """Reads the daemon's sd_notify datagrams as systemd would, so they never pile up in the
    socket's queue (net.unix.max_dgram_qlen, often 10) over a long run."""

    def __init__(self, daemon: DaemonProcess) -> None:
        super().__init__(daemon=True)
        self.target, self.stopped = daemon, threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.target.drain_notifications()
            self.target.notifications.clear()
            self.stopped.wait(0.2)


class Scraper(threading.Thread):
    """GET /metrics every `every_s` (Prometheus' default interval), latencies kept."""

    def __init__(self, url: str, token: str, every_s: float) -> None:
        super().__init__(daemon=True)
        self.request = urllib.request.Request(url + "/metrics")  # noqa: S310 - http://127.0.0.1
        self.request.add_header("Authorization", f"Bearer {token}")
        self.every_s, self.latencies, self.failures = every_s, list[float](), 0
        self.stopped = threading.Event()

    def get(self) -> str:
        with urllib.request.urlopen(self.request, timeout=10) as resp:  # noqa: S310
            text: str = resp.read().decode()
            return text

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            started = time.perf_counter()
            try:
                self.get()
            except OSError:
                self.failures += 1
                continue
            self.latencies.append(time.perf_counter() - started)


@dataclass(frozen=True)
class Figures:
    seq: dict[str, list[float]]  # the median round by p99
    pooled: dict[str, list[float]]  # every sequential round: periodic work included
    conc: dict[str, tuple[float, float]]  # (req/s, p99 ms) of the median round by req/s
    cpu_us: dict[str, float]  # server CPU per concurrent request, median of the rounds
    failures: int


def user_scopes(users: int, cameras: list[str]) -> dict[str, list[str]]:
    """User name -> its cameras: GRANTS_PER_USER each, in turn (100 users: 1000 grants)."""
    return {
        f"bench-user-{k:03d}": [cameras[(k + j) % len(cameras)] for j in range(GRANTS_PER_USER)]
        for k in range(users)
    }


def request_bodies(cams: list[str], token: str, scopes: dict[str, list[str]]) -> list[bytes]:
    """Reads of the cameras: with the scoped token as password, and (when users are loaded)
    every other one as a user with its password, each of its own camera."""
    users = list(scopes)
    bodies = []
    for i in range(256):
        if users and i % 2:
            name = users[(i // 2) % len(users)]
            bodies.append(body(scopes[name][0], USER_PASSWORD, user=name))
        else:
            bodies.append(body(cams[i % len(cams)], token))
    return bodies


def create_users(daemon: DaemonProcess, admin: str, scopes: dict[str, list[str]]) -> None:
    for name, cameras in scopes.items():
        data = json.dumps({"name": name, "role": "viewer", "cameras": cameras,
                           "password": USER_PASSWORD}).encode()
        request = urllib.request.Request(  # noqa: S310 - the daemon's http:// URL
            daemon.url + "/api/v1/users", data, method="POST"
        )
        request.add_header("Authorization", f"Bearer {admin}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310
            pass


async def measure(args: argparse.Namespace, ports: dict[str, int], key: str, token: str,
                  servers: dict[str, psutil.Process], scopes: dict[str, list[str]]) -> Figures:
    clients = {name: Client(port) for name, port in ports.items()}
    cams = [f"cam{i:02d}" for i in range(args.cameras)]
    bodies = request_bodies(cams, token, scopes)
    raws = {"bare": [http(BARE_PATH, b, key) for b in bodies],
            "auth": [http(AUTH_PATH, b, key) for b in bodies]}
    seq: dict[str, list[list[float]]] = {"bare": [], "auth": []}
    conc: dict[str, list[tuple[float, float]]] = {"bare": [], "auth": []}
    for r, name in ((r, n) for r in range(args.rounds) for n in ("bare", "auth")):
        await clients[name].sequential(raws[name], args.warmup)
        seq[name].append(lat := await clients[name].sequential(raws[name], args.sequential))
        print(f"  round {r + 1} sequential {name}: {summary(lat)}", flush=True)
    cpu_us: dict[str, list[float]] = {"bare": [], "auth": []}
    for r, name in ((r, n) for r in range(args.rounds) for n in ("bare", "auth")):
        cpu0, t0 = sum(servers[name].cpu_times()[:2]), time.perf_counter()
        conc[name].append(res := await clients[name].concurrent(
            raws[name], args.requests, args.concurrency))
        wall, cpu = time.perf_counter() - t0, sum(servers[name].cpu_times()[:2]) - cpu0
        cpu_us[name].append(cpu / args.requests * 1e6)
        print(f"  round {r + 1} concurrent {name}: {res[0]:.0f} req/s  p99 {res[1]:.3f} ms  "
              f"(server CPU {cpu / wall:.0%}, {cpu_us[name][-1]:.0f} us/req)", flush=True)
    return Figures(
        seq={n: median_by(seq[n], lambda lat: pct(lat, 99)) for n in seq},
        pooled={n: [x for lat in seq[n] for x in lat] for n in seq},
        conc={n: median_by(conc[n], lambda res: res[0]) for n in conc},
        cpu_us={n: statistics.median(v) for n, v in cpu_us.items()},
        failures=sum(c.failures for c in clients.values()),
    )


def hist_mean_us(before: str, after: str) -> tuple[float, float]:
    _, s0, c0 = histogram(before, AUTH_HIST)
    _, s1, c1 = histogram(after, AUTH_HIST)
    return ((s1 - s0) / (c1 - c0) * 1e6 if c1 > c0 else float("nan")), c1 - c0


def loop_lag(before: str, after: str) -> str:
    """The daemon's heartbeat lag over the measurement: beats per bucket, max bucket."""
    b0, _, c0 = histogram(before, LAG_HIST)
    b1, _, c1 = histogram(after, LAG_HIST)
    if not b1 or c1 <= c0:
        return "no heartbeat histogram"
    counts = dict(b1)
    for le, value in b0:
        counts[le] -= value
    over = {le: c1 - c0 - n for le, n in counts.items()}
    worst = min((le for le, n in counts.items() if n >= c1 - c0), default=float("inf"))
    return (f"{c1 - c0:.0f} beats; later than 1 ms: {over.get(0.001, 0):.0f}, "
            f"than 5 ms: {over.get(0.005, 0):.0f}, than 25 ms: {over.get(0.025, 0):.0f}; "
            f"max <= {worst:g} s")


def run(args: argparse.Namespace, tmp: Path) -> int:
    cameras = [f"cam{i:02d}" for i in range(args.cameras)]
    server = RtspServer(["/" + c for c in cameras])
    daemon: DaemonProcess | None = None
    bare: subprocess.Popen[str] | None = None
    scraper: Scraper | None = None
    drain: NotifyDrain | None = None
    try:
        server.start()
        config = write_config(
            tmp,
            log={"level": "info", "format": "json"},
            ffmpeg={"binary": imageio_ffmpeg.get_ffmpeg_exe()},
            recording={"segment_seconds": args.segment_seconds},
            cameras=[{"name": c, "source": server.url("/" + c)} for c in cameras],
            mediamtx={  # with MediaMTX off, nothing listens on the hooks port
                "mode": "external",
                "rtsp_port": server.port,
                "api_port": free_port(),  # no Control API here: the poller just fails
                "hooks_port": free_port(),
                "base_config": str(Path(__file__).resolve().parents[1] / "mediamtx.yml"),
                "config_path": str(tmp / "mediamtx.yml"),
            },
        )
        # Scoped to the cameras by name: the decision checks the scope, as for any scoped token.
        scope = ",".join(cameras)
        created = vmsd_cli(
            config, "token", "create", "--name", "bench", "--role", "viewer", "--cameras", scope
        )
        metrics_token = vmsd_cli(config, "token", "create", "--name", "prom", "--role", "admin")
        if created.returncode or metrics_token.returncode:
            print(f"token create failed: {created.stderr}{metrics_token.stderr}")
            return 1
        token, admin = created.stdout.strip(), metrics_token.stdout.strip()
        daemon = DaemonProcess(config)
        started = time.monotonic()
        daemon.start().wait_ready()
        drain = NotifyDrain(daemon)
        drain.start()
        missing = wait_all_recording(daemon, cameras)
        print(f"READY and {len(cameras) - len(missing)} of {len(cameras)} recorders up after "
              f"{time.monotonic() - started:.1f} s", flush=True)
        scopes = user_scopes(args.users, cameras)
        create_users(daemon, admin, scopes)
        print(f"{len(scopes)} users with {sum(map(len, scopes.values()))} camera grants",
              flush=True)
        scraper = Scraper(daemon.url, admin, args.scrape_seconds)
        scraper.start()
        time.sleep(SETTLE_S)

        cmd = [sys.executable, __file__, "--serve-bare"]
        bare = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert bare.stdout is not None and daemon.proc is not None
        ports = {"bare": int(bare.stdout.readline()),
                 "auth": int(daemon.config["mediamtx"]["hooks_port"])}
        key = (daemon.state_dir / HOOK_SECRET_FILE_NAME).read_text().strip()
        servers = {"bare": psutil.Process(bare.pid), "auth": psutil.Process(daemon.proc.pid)}
        before = scraper.get()
        figures = asyncio.run(measure(args, ports, key, token, servers, scopes))
        after = scraper.get()
        handler_us, handled = hist_mean_us(before, after)
        lag = loop_lag(before, after)
        sample_s = re.search(r"^vmsd_system_sample_duration_seconds (\S+)$", after, re.M)
        scraper.stopped.set()
        scraper.join()
    finally:
        for thread in (scraper, drain):
            if thread is not None:
                thread.stopped.set()
        if bare is not None:
            assert bare.stdin is not None
            bare.stdin.close()
            bare.wait(timeout=30)
        if daemon is not None:
            daemon.close()
        server.stop()
        for leftover in processes_using(tmp):  # recorders, PostgreSQL: anything left behind
            leftover.kill()

    print(f"\nresults ({args.cameras} cameras recording, /metrics every "
          f"{args.scrape_seconds:g} s, new TCP connection per request):")
    print(f"(a) sequential, {args.sequential} requests after {args.warmup} warm-up, "
          f"median of {args.rounds} rounds by p99:")
    for name, lat in figures.seq.items():
        print(f"  {name:<5} {summary(lat)}")
    print(f"    all {args.rounds} rounds pooled (system samples and scrapes included):")
    for name, lat in figures.pooled.items():
        print(f"  {name:<5} {summary(lat)}  p99.9 {pct(lat, 99.9):.3f} ms")
    print(f"(b) concurrency {args.concurrency}, {args.requests} requests, "
          f"median of {args.rounds} rounds by req/s:")
    for name, (rps, p99) in figures.conc.items():
        print(f"  {name:<5} {rps:8.0f} req/s  p99 {p99:.3f} ms")
    ratio, cpu_us = figures.conc["auth"][0] / figures.conc["bare"][0], figures.cpu_us
    print(f"  auth/bare throughput ratio: {ratio:.3f}")
    print(f"  server CPU per request (median of rounds): bare {cpu_us['bare']:.0f} us, "
          f"daemon {cpu_us['auth']:.0f} us; their ratio {cpu_us['bare'] / cpu_us['auth']:.2f} "
          "is the throughput ratio when the servers, not this client on the same cores, are "
          "the bottleneck")
    print(f"in-handler time ({AUTH_HIST}): mean {handler_us:.1f} us over {handled:.0f}")
    print(f"event loop lag during the measurement ({LAG_HIST}): {lag}")
    print("system sample (vmsd_system_sample_duration_seconds, the latest): "
          + (f"{float(sample_s[1]) * 1e3:.2f} ms" if sample_s else "none"))
    lat = scraper.latencies if scraper else []
    if lat:
        print(f"/metrics scrapes: {len(lat)}, latency median "
              f"{statistics.median(lat) * 1e3:.1f} ms, max {max(lat) * 1e3:.1f} ms, "
              f"{scraper.failures if scraper else 0} failed")
    print(f"wrong status or connection error: {figures.failures}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    p99, pooled = pct(figures.seq["auth"], 99), pct(figures.pooled["auth"], 99)
    print(f"target sequential auth p99 <= {P99_TARGET_MS} ms: {p99:.3f} ms (pooled "
          f"{pooled:.3f} ms) {'held' if max(p99, pooled) <= P99_TARGET_MS else 'MISSED'}")
    print(f"target throughput ratio >= {RATIO_TARGET}: {ratio:.3f} "
          f"{'held' if ratio >= RATIO_TARGET else 'MISSED'}")
    return 1 if figures.failures or missing else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=32)
    parser.add_argument("--users", type=int, default=100,
                        help=f"viewer accounts, {GRANTS_PER_USER} cameras each; every other "
                        "request reads as one of them (user:password); 0: tokens only")
    parser.add_argument("--segment-seconds", type=int, default=10)
    parser.add_argument("--sequential", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--requests", type=int, default=10000, help="per concurrent run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved bare/auth runs")
    parser.add_argument("--scrape-seconds", type=float, default=15.0)
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        asyncio.run(serve_bare())
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too
    print(f"python {platform.python_version()}; {os.cpu_count()} CPUs; {platform.platform()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"command: {shlex.join(sys.orig_argv)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="vmsd-auth-", ignore_cleanup_errors=True) as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
