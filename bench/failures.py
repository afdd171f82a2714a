"""How long the real daemon (MediaMTX off, the bundled FFmpeg) takes to name a camera's
failure: from the POST that adds the camera to the GET that shows its class as state_reason,
polled every 20 ms, --rounds times per kind (the camera deleted between rounds):

- unauthorized: the GStreamer RTSP server with Basic auth, a wrong password;
- not_found: the same server, the right password, a path it does not have;
- refused: a closed loopback port;
- unreachable: `nonexistent.invalid` (never resolves);
- timeout: a loopback server that accepts and never answers (FFmpeg's 5 s socket timeout).

Printed per kind: min / median / max seconds, and the events one dead camera made over
--dead-s seconds of retries (the first failure only, where every retry used to be one).

    .venv/bin/python bench/failures.py [--rounds 5] [--dead-s 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, write_config
from tests.e2e.test_daemon_process import vmsd_cli
from tests.net import free_port
from tests.streams.sources import RtspServer

USER, PASSWORD = "admin", "bench-pw-1"
POLL_S = 0.02


HELD: list[asyncio.StreamWriter] = []


def _hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    HELD.append(writer)  # accepts, never answers


async def _classify(
    session: aiohttp.ClientSession, base: str, name: str, source: str, failure: str
) -> float:
    started = time.monotonic()
    async with session.post(base + "/api/v1/cameras", json={"name": name, "source": source}) as r:
        assert r.status == 201, await r.text()
    while True:
        async with session.get(f"{base}/api/v1/cameras/{name}") as r:
            camera = await r.json()
        if camera["state_reason"] == failure:
            took = time.monotonic() - started
            break
        assert time.monotonic() - started < 30, camera
        await asyncio.sleep(POLL_S)
    async with session.delete(f"{base}/api/v1/cameras/{name}") as r:
        assert r.status == 204
    return took


async def _dead_camera_events(session: aiohttp.ClientSession, base: str, dead_s: float) -> str:
    source = f"rtsp://127.0.0.1:{free_port()}/x"
    async with session.post(base + "/api/v1/cameras", json={"name": "dead", "source": source}):
        pass
    await asyncio.sleep(dead_s)
    async with session.get(f"{base}/api/v1/cameras/dead") as r:
        repeats = (await r.json())["last_error"]["repeats"]
    async with session.get(f"{base}/api/v1/events?camera=dead&type=recorder_failed") as r:
        events = len((await r.json())["items"])
    return f"{repeats} failed runs in {dead_s:g} s, {events} recorder_failed event(s)"


async def bench(rounds: int, dead_s: float) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        RtspServer(["/cam1"], user=USER, password=PASSWORD) as camera,
    ):
        silent = await asyncio.start_server(_hold, "127.0.0.1", 0)
        silent_port = silent.sockets[0].getsockname()[1]
        config = write_config(Path(tmp), ffmpeg={"binary": ffmpeg_binary()})
        made = vmsd_cli(config, "token", "create", "--name", "bench", "--role", "admin")
        token = made.stdout.strip()
        process = DaemonProcess(config)
        await asyncio.to_thread(lambda: process.start().wait_ready())
        kinds: dict[str, Callable[[], str]] = {
            "unauthorized": lambda: f"rtsp://{USER}:wrong@127.0.0.1:{camera.port}/cam1",
            "not_found": lambda: f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{camera.port}/nope",
            "refused": lambda: f"rtsp://127.0.0.1:{free_port()}/cam1",
            "unreachable": lambda: "rtsp://nonexistent.invalid/cam1",
            "timeout": lambda: f"rtsp://127.0.0.1:{silent_port}/cam1",
        }
        results: dict[str, list[float]] = {}
        try:
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                for failure, source in kinds.items():
                    results[failure] = [
                        await _classify(session, process.url, f"b{i}", source(), failure)
                        for i in range(rounds)
                    ]
                dead = await _dead_camera_events(session, process.url, dead_s)
        finally:
            await asyncio.to_thread(process.stop)
            process.close()
            silent.close()
            for writer in HELD:
                writer.close()
    print(f"time to classify a failure (POST -> state_reason), {rounds} rounds, seconds:")
    for failure, times in results.items():
        line: dict[str, Any] = {
            "min": min(times),
            "median": statistics.median(times),
            "max": max(times),
        }
        print(f"  {failure:13} " + "  ".join(f"{k} {v:.3f}" for k, v in line.items()))
    print(f"one dead camera: {dead}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dead-s", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(bench(args.rounds, args.dead_s))


if __name__ == "__main__":
    main()
