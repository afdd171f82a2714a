"""Playback start latency and seek time on the real daemon (MediaMTX off, the bundled FFmpeg)
playing back what it recorded itself from a `test://` camera (640x360, 15 fps, 2 s
segments):

- start: from a request of GET /api/v1/cameras/{name}/playback to the end of the first
  fragment (moof + mdat) holding a video sample, at --rounds random points of the
  recording, each a fresh request;
- seek: a player seeking: while a stream is open and playing, it asks for another point
  (and then drops the old stream); the time from that request to its first video fragment.

Printed: p50 / p99 / max milliseconds of each (target: under 1000 ms for a local recording).

    .venv/bin/python bench/playback.py [--rounds 50] [--record-seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, write_config
from tests.e2e.test_daemon_process import vmsd_cli

CAMERA = "bench"
TARGET_MS = 1000.0
DURATION = "60s"


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each whole box in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        header = 8
        if size == 1:
            if start + 16 > end:
                return
            size, header = struct.unpack(">Q", data[start + 8 : start + 16])[0], 16
        if size < header or start + size > end:
            return
        yield kind, start + header, start + size
        start += size


def _child(data: bytes, start: int, end: int, path: list[bytes]) -> tuple[int, int] | None:
    for kind, payload, box_end in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return payload, box_end
            return _child(data, payload, box_end, path[1:])
    return None


def _video_track(data: bytes, moov: tuple[int, int]) -> int | None:
    for kind, payload, end in _boxes(data, *moov):
        hdlr = _child(data, payload, end, [b"mdia", b"hdlr"]) if kind == b"trak" else None
        tkhd = _child(data, payload, end, [b"tkhd"]) if kind == b"trak" else None
        if hdlr and tkhd and data[hdlr[0] + 8 : hdlr[0] + 12] == b"vide":
            version = data[tkhd[0]]
            offset = tkhd[0] + (20 if version == 1 else 12)
            return int(struct.unpack(">I", data[offset : offset + 4])[0])
    return None


def _has_video_fragment(data: bytes) -> bool:
    """A whole moof with a video track run of at least one sample, and its mdat, arrived."""
    video, moof_with_video = None, False
    for kind, payload, end in _boxes(data):
        if kind == b"moov":
            video = _video_track(data, (payload, end))
        elif kind == b"moof" and video is not None:
            for traf_kind, traf, traf_end in _boxes(data, payload, end):
                tfhd = _child(data, traf, traf_end, [b"tfhd"]) if traf_kind == b"traf" else None
                trun = _child(data, traf, traf_end, [b"trun"]) if traf_kind == b"traf" else None
                if tfhd and trun:
                    track = struct.unpack(">I", data[tfhd[0] + 4 : tfhd[0] + 8])[0]
                    samples = struct.unpack(">I", data[trun[0] + 4 : trun[0] + 8])[0]
                    moof_with_video |= track == video and samples > 0
        elif kind == b"mdat" and moof_with_video:
            return True
    return False


async def _first_frame_s(
    session: aiohttp.ClientSession, url: str, start: datetime
) -> tuple[float, aiohttp.ClientResponse]:
    """Seconds from the request to its first video fragment; the response, still open."""
    began = time.monotonic()
    params = {"start": start.isoformat(), "duration": DURATION}
    response = await session.get(url, params=params)
    assert response.status == 200, await response.text()
    data = b""
    while not _has_video_fragment(data):
        chunk = await response.content.readany()
        assert chunk, "the stream ended before a video fragment"
        data += chunk
    return time.monotonic() - began, response


def _report(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[math.ceil(0.99 * len(ms)) - 1]
    verdict = "ok" if p99 < TARGET_MS else "OVER TARGET"
    print(
        f"  {label:6} n={len(ms):3}  p50 {statistics.median(ms):7.1f}  p99 {p99:7.1f}"
        f"  max {ms[-1]:7.1f} ms  (target < {TARGET_MS:.0f} ms: {verdict})"
    )


async def _recorded(session: aiohttp.ClientSession, base: str) -> tuple[datetime, datetime]:
    params = {"camera": CAMERA, "order": "asc", "limit": "1000"}
    async with session.get(base + "/api/v1/recordings", params=params) as response:
        items = (await response.json())["items"]
    return datetime.fromisoformat(items[0]["start"]), datetime.fromisoformat(items[-1]["end"])


async def bench(rounds: int, record_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp),
            ffmpeg={"binary": ffmpeg_binary()},
            log={"level": "info"},
            recording={"segment_seconds": 2},
            cameras=[{"name": CAMERA, "source": "test://?size=640x360&fps=15"}],
        )
        made = vmsd_cli(config, "token", "create", "--name", "bench", "--role", "viewer")
        token = made.stdout.strip()
        process = DaemonProcess(config)
        await asyncio.to_thread(lambda: process.start().wait_ready())
        try:
            await asyncio.sleep(record_s)
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                first, last = await _recorded(session, process.url)
                url = f"{process.url}/api/v1/cameras/{CAMERA}/playback"
                span_s = (last - first).total_seconds() - 2
                rng = random.Random(15)

                def point() -> datetime:
                    return first + timedelta(seconds=rng.uniform(0, span_s))

                starts, seeks = [], []
                for _ in range(rounds):
                    took, response = await _first_frame_s(session, url, point())
                    response.close()
                    starts.append(took)
                for _ in range(rounds):
                    _, playing = await _first_frame_s(session, url, point())
                    # A seek: the new point is asked for while the old stream is still open
                    # (a player drops it as the new one comes).
                    took, response = await _first_frame_s(session, url, point())
                    playing.close()
                    response.close()
                    seeks.append(took)
        finally:
            await asyncio.to_thread(process.stop)
            process.close()
    print(f"playback of a local recording ({record_s:.0f} s, 2 s segments, 640x360 15 fps):")
    _report("start", starts)
    _report("seek", seeks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--record-seconds", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(bench(args.rounds, args.record_seconds))


if __name__ == "__main__":
    main()
