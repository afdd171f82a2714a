"""How long a probe takes on the real daemon (MediaMTX off, the bundled FFmpeg), over HTTP
as an operator asks: POST /api/v1/probe (an unsaved source) and, for the live
camera, POST /api/v1/cameras/{name}/probe (saved), --rounds times per kind:

- live: the GStreamer RTSP server, H.264 + AAC (recorded as it comes: one run);
- live_g711: the same with G.711 A-law audio (into MP4 only as AAC: a second run confirms);
- unauthorized: the server with Basic auth, a wrong password;
- not_found: the right password, a path the server does not have;
- refused: a closed loopback port;
- unreachable: `nonexistent.invalid` (never resolves);
- timeout: a loopback server that accepts and never answers (FFmpeg's 5 s socket timeout,
  under the probe's 10 s bound).

Printed per kind: the answer (mode or failure class) and min / median / max seconds, from
the request to the response.

    .venv/bin/python bench/probe.py [--rounds 5]
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
HELD: list[asyncio.StreamWriter] = []


def _hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    HELD.append(writer)  # accepts, never answers


def _answer(probe: dict[str, Any]) -> str:
    if probe["ok"]:
        return str(probe["recording"]["mode"])
    return str(probe["failure"]["class"])


async def _probe(session: aiohttp.ClientSession, url: str, body: Any = None) -> tuple[float, str]:
    started = time.monotonic()
    async with session.post(url, json=body) as response:
        probe = await response.json()
        assert response.status == 200, probe
    return time.monotonic() - started, _answer(probe)


async def bench(rounds: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        RtspServer(["/cam1"], audio=True) as aac,
        RtspServer(["/cam1"], audio=True, audio_codec="pcma") as g711,
        RtspServer(["/cam1"], user=USER, password=PASSWORD) as locked,
    ):
        silent = await asyncio.start_server(_hold, "127.0.0.1", 0)
        silent_port = silent.sockets[0].getsockname()[1]
        config = write_config(Path(tmp), ffmpeg={"binary": ffmpeg_binary()}, log={"level": "info"})
        made = vmsd_cli(config, "token", "create", "--name", "bench", "--role", "admin")
        token = made.stdout.strip()
        process = DaemonProcess(config)
        await asyncio.to_thread(lambda: process.start().wait_ready())
        kinds: dict[str, Callable[[], str]] = {
            "live": aac.url,
            "live_g711": g711.url,
            "unauthorized": lambda: f"rtsp://{USER}:wrong@127.0.0.1:{locked.port}/cam1",
            "not_found": lambda: f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{locked.port}/nope",
            "refused": lambda: f"rtsp://127.0.0.1:{free_port()}/cam1",
            "unreachable": lambda: "rtsp://nonexistent.invalid/cam1",
            "timeout": lambda: f"rtsp://127.0.0.1:{silent_port}/cam1",
        }
        results: dict[str, list[tuple[float, str]]] = {}
        try:
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                unsaved = process.url + "/api/v1/probe"
                for kind, source in kinds.items():
                    results[kind] = [
                        await _probe(session, unsaved, {"source": source()}) for _ in range(rounds)
                    ]
                camera = {"name": "gate", "source": aac.url(), "record": False}
                async with session.post(process.url + "/api/v1/cameras", json=camera) as r:
                    assert r.status == 201, await r.text()
                saved = process.url + "/api/v1/cameras/gate/probe"
                results["live (saved)"] = [await _probe(session, saved) for _ in range(rounds)]
        finally:
            await asyncio.to_thread(process.stop)
            process.close()
            silent.close()
            for writer in HELD:
                writer.close()
    print(f"probe time (request -> response), {rounds} rounds, seconds:")
    for kind, runs in results.items():
        times = [took for took, _ in runs]
        answers = sorted({answer for _, answer in runs})
        figures = (
            f"min {min(times):.3f}  median {statistics.median(times):.3f}  max {max(times):.3f}"
        )
        print(f"  {kind:13} {'/'.join(answers):16} {figures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(bench(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
