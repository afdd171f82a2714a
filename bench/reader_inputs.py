"""What keeping URLs out of FFmpeg's argv costs per recorder start.

Usage: python bench/reader_inputs.py [--runs N] [--opens N]
Prints:
- vmsd's side: one ReaderInputs.opened() (write the 0600 input file, remove it; with a reader
  grant issued and revoked, as through MediaMTX), mean and p99 in ms;
- FFmpeg's side: spawn to the first segment opened (the first media written), reading a
  GStreamer RTSP camera that needs a password, with the URL on the command line (the old way)
  and from the input file (the new one), median and max in ms over N alternating runs each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.streams.sources import RtspServer
from vmsd.access.grants import READER_USER_PREFIX, Grants
from vmsd.config.recording import SegmentFormat
from vmsd.core.sources import with_credentials
from vmsd.recorder.binary import resolve_ffmpeg
from vmsd.recorder.ffmpeg import (
    ANALYZE_DURATION_US,
    RTSP_SOCKET_TIMEOUT_US,
    RecorderInput,
    SegmentSpec,
    build_recorder_argv,
    input_args,
    parse_opening,
)
from vmsd.recorder.inputs import ReaderInputs

PASSWORD = "bench-pa55word"  # noqa: S105 - the test camera's


async def open_cost(directory: Path, opens: int) -> dict[str, list[float]]:
    grants = Grants(READER_USER_PREFIX)
    inputs = ReaderInputs(directory / "inputs", grants)
    inputs.prepare()
    kinds = {
        "direct": RecorderInput(f"rtsp://admin:{PASSWORD}@10.0.0.5/stream"),
        "through MediaMTX": RecorderInput("rtsp://127.0.0.1:8554/cam", "tcp", "cam"),
    }
    results: dict[str, list[float]] = {}
    for name, source in kinds.items():
        times = []
        for _ in range(opens):
            started = time.perf_counter()
            async with inputs.opened(source, "cam") as path:
                assert path is not None
            times.append((time.perf_counter() - started) * 1000)
        results[name] = times
    assert len(grants) == 0
    return results


async def first_open_ms(argv: list[str]) -> float:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TZ": "UTC"},
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(20):
            async for raw in proc.stderr:
                opened = parse_opening(raw.decode(errors="replace"))
                if opened is not None and opened != "pipe:1":
                    return (time.perf_counter() - started) * 1000
        raise RuntimeError("FFmpeg opened no segment")
    finally:
        proc.kill()
        await proc.wait()


async def ffmpeg_cost(directory: Path, url: str, runs: int) -> dict[str, list[float]]:
    ffmpeg = resolve_ffmpeg("")
    spec = SegmentSpec(directory / "cam", 2, SegmentFormat.MP4, audio=False)
    today = datetime.now(UTC)
    for day in (today, today + timedelta(days=1)):
        (spec.directory / day.strftime("%Y-%m-%d")).mkdir(parents=True, exist_ok=True)
    source = RecorderInput(url, "tcp")
    inputs = ReaderInputs(directory / "inputs", None)
    inputs.prepare()
    results: dict[str, list[float]] = {"URL in argv": [], "input file": []}
    for _ in range(runs):
        argv = build_recorder_argv(ffmpeg, source, spec, 1, description=Path("/unused"))
        # The old argv: the same options, `-i <url>` instead of the concat input.
        start = argv.index("-fflags")
        end = start + len(input_args(source, Path("/unused")))
        old = [*argv[:start], "-fflags", "+genpts+discardcorrupt",
               "-analyzeduration", str(ANALYZE_DURATION_US), "-rtsp_transport", "tcp",
               "-timeout", str(RTSP_SOCKET_TIMEOUT_US), "-i", url, *argv[end:]]  # fmt: skip
        results["URL in argv"].append(await first_open_ms(old))
        async with inputs.opened(source, "cam") as description:
            new = build_recorder_argv(ffmpeg, source, spec, 1, description=description)
            results["input file"].append(await first_open_ms(new))
    return results


def report(title: str, results: dict[str, list[float]]) -> None:
    print(title)
    for name, times in results.items():
        ordered = sorted(times)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(
            f"  {name:<18} n={len(times):<5} mean {statistics.mean(times):8.3f} ms   "
            f"median {statistics.median(times):8.3f} ms   p99 {p99:8.3f} ms   "
            f"max {max(times):8.3f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--opens", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        report("vmsd: input file (+ reader grant) per start", asyncio.run(
            open_cost(directory, args.opens)))  # fmt: skip
        with RtspServer(["/cam"], user="admin", password=PASSWORD) as camera:
            url = with_credentials(camera.url("/cam"), "admin", PASSWORD)
            report(
                f"FFmpeg ({resolve_ffmpeg('')}): spawn to first segment, camera with a password",
                asyncio.run(ffmpeg_cost(directory, url, args.runs)),
            )


if __name__ == "__main__":
    main()
