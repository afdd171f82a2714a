"""The `-progress` pipe of a recorder run: watched, then polled on a shared tick; and what the
run's watchdog makes of it. A real pipe, and for the run a small fake FFmpeg (a Python script)
that writes progress blocks and segment lines the way FFmpeg 9 does."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from vmsd.core.metrics import Metrics
from vmsd.recorder.ffmpeg import Progress
from vmsd.recorder.fleet import forget_recorder_series
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.progress import PROGRESS_POLL_S, ProgressPipe
from vmsd.recorder.run import ClosedSegment, FfmpegRun

GUARD_S = 15.0  # a bound on waits for what must happen, not a measured time


def _block(frame: int, out_time_us: int, end: bool = False) -> bytes:
    return (
        f"frame={frame}\nfps=10.00\nstream_0_0_q=-1.0\nbitrate=N/A\ntotal_size=N/A\n"
        f"out_time_us={out_time_us}\nout_time_ms={out_time_us}\nout_time=00:00:00.000000\n"
        f"dup_frames=0\ndrop_frames=0\nspeed=   1x\nprogress={'end' if end else 'continue'}\n"
    ).encode()


class Pipe:
    """A real pipe under a ProgressPipe; the blocks it handled, in order."""

    def __init__(self) -> None:
        read_fd, self.write_fd = os.pipe()
        self.blocks: list[Progress] = []
        self.handled = asyncio.Event()
        self.progress = ProgressPipe(read_fd, self._on_block)

    def _on_block(self, progress: Progress) -> None:
        self.blocks.append(progress)
        self.handled.set()

    def write(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    async def next_block(self) -> Progress:
        await asyncio.wait_for(self.handled.wait(), GUARD_S)
        self.handled.clear()
        return self.blocks[-1]

    def close(self) -> None:
        self.progress.close()
        if self.write_fd >= 0:
            os.close(self.write_fd)

    def close_writer(self) -> None:
        os.close(self.write_fd)
        self.write_fd = -1


@pytest.fixture
async def pipe() -> object:
    p = Pipe()
    yield p
    p.close()


async def test_watched_pipe_handles_each_block_as_written(pipe: Pipe) -> None:
    pipe.progress.watch()
    pipe.write(_block(1, 100_000))
    assert (await pipe.next_block()).out_time_us == 100_000
    pipe.write(_block(2, 200_000))
    assert (await pipe.next_block()).out_time_us == 200_000


async def test_polled_pipe_handles_blocks_on_the_tick(pipe: Pipe) -> None:
    pipe.progress.poll()
    pipe.write(_block(1, 100_000) + _block(2, 200_000))
    await pipe.next_block()
    assert [b.out_time_us for b in pipe.blocks] == [100_000, 200_000]
    pipe.write(_block(3, 300_000))
    assert (await pipe.next_block()).out_time_us == 300_000


async def test_drain_handles_what_is_written_without_waiting_for_the_tick(pipe: Pipe) -> None:
    pipe.progress.poll()
    pipe.write(_block(1, 100_000))
    pipe.progress.drain()  # no await in between: no tick can have run
    assert [b.out_time_us for b in pipe.blocks] == [100_000]
    pipe.progress.drain()  # nothing new: nothing handled, nothing blocks
    assert len(pipe.blocks) == 1


async def test_a_block_split_across_writes_is_handled_once_complete(pipe: Pipe) -> None:
    block = _block(1, 100_000)
    pipe.write(block[:37])
    pipe.progress.drain()
    assert pipe.blocks == []
    pipe.write(block[37:])
    pipe.progress.drain()
    assert [b.out_time_us for b in pipe.blocks] == [100_000]


@pytest.mark.parametrize("mode", ["watch", "poll"])
async def test_eof_closes_after_every_block(pipe: Pipe, mode: str) -> None:
    getattr(pipe.progress, mode)()
    pipe.write(_block(1, 100_000) + _block(2, 200_000, end=True))
    pipe.close_writer()
    await asyncio.wait_for(pipe.progress.closed, GUARD_S)
    assert [(b.out_time_us, b.ended) for b in pipe.blocks] == [(100_000, False), (200_000, True)]


async def test_switching_modes_loses_nothing(pipe: Pipe) -> None:
    pipe.progress.watch()
    pipe.write(_block(1, 100_000))
    await pipe.next_block()
    pipe.progress.poll()
    pipe.write(_block(2, 200_000))
    pipe.progress.watch()
    await pipe.next_block()
    pipe.progress.poll()
    pipe.write(_block(3, 300_000))
    await pipe.next_block()
    assert [b.frame for b in pipe.blocks] == [1, 2, 3]


# --- a whole run, with a fake FFmpeg --------------------------------------------------------

# argv: <progress fd> <mode>. Opens a.mp4, writes a block every STEP_S (media advancing as
# fast), lists a.mp4 after half a second of media and opens b.mp4 (so the run's clock is fixed
# and its pipe polled). "healthy" goes on until 'q' on stdin (lists b.mp4, exits 0); "freeze"
# writes no block after that and waits for a signal; "burst" writes 20 blocks and exits at once.
FAKE_FFMPEG = """\
import os, select, sys, time

fd, mode = int(sys.argv[1]), sys.argv[2]
STEP_S = 0.05


def block(n, end=False):
    us = int(n * STEP_S * 1e6)
    os.write(fd, (f"frame={n}\\nfps=10.00\\nout_time_us={us}\\n"
                  f"progress={'end' if end else 'continue'}\\n").encode())


def opening(name):
    print(f"[segment @ 0x1] Opening '/rec/cam/{name}' for writing", file=sys.stderr, flush=True)


if mode == "burst":
    for n in range(1, 21):
        block(n, end=n == 20)
    sys.exit(0)
opening("a.mp4")
n = 0
while True:
    n += 1
    if mode == "healthy" or n <= 10:
        block(n)
    if n == 10:
        print("a.mp4,0.000000,0.500000", flush=True)
        opening("b.mp4")
    if select.select([0], [], [], STEP_S)[0] and os.read(0, 1) in (b"q", b""):
        print(f"b.mp4,0.500000,{n * STEP_S:.6f}", flush=True)
        block(n, end=True)
        sys.exit(0)
"""


class FakeRun:
    def __init__(
        self, script: Path, mode: str, stall_s: float, poll_s: float = PROGRESS_POLL_S
    ) -> None:
        self.segments: list[ClosedSegment] = []
        self.blocks: list[Progress] = []
        self.recording = 0
        self.stalled = 0
        self.listed = asyncio.Event()
        self.run = FfmpegRun(
            lambda fd: [sys.executable, "-S", str(script), str(fd), mode],
            stall_s=stall_s,
            on_segment=self._on_segment,
            on_progress=self.blocks.append,
            on_recording=self._on_recording,
            on_stalled=self._on_stalled,
            poll_s=poll_s,
        )

    async def _on_segment(self, segment: ClosedSegment) -> None:
        self.segments.append(segment)
        self.listed.set()

    async def _on_recording(self) -> None:
        self.recording += 1

    async def _on_stalled(self) -> None:
        self.stalled += 1


@pytest.fixture
def fake_ffmpeg(tmp_path: Path) -> Path:
    path = tmp_path / "fake-ffmpeg.py"
    path.write_text(FAKE_FFMPEG)
    return path


async def test_polled_progress_is_read_again_before_a_stall_is_declared(
    fake_ffmpeg: Path,
) -> None:
    """A watchdog shorter than the poll tick: blocks waiting in the pipe are progress, so a
    healthy run is never called stalled however the tick falls. (Without reading first, the
    watchdog would fire between two ticks: a block every 0.05 s, but none handled for 2 s.)"""
    fake = FakeRun(fake_ffmpeg, "healthy", stall_s=1.2, poll_s=2.0)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(fake.run.run())
        await asyncio.wait_for(fake.listed.wait(), GUARD_S)
        await asyncio.sleep(4.5)  # polled: at least two ticks, several watchdog checks
        fake.run.request_stop()
    outcome = task.result()
    assert not outcome.stalled and fake.stalled == 0
    assert outcome.stop_requested and outcome.exit_code == 0
    assert [s.path.name for s in fake.segments] == ["a.mp4", "b.mp4"]
    assert fake.recording == 1
    assert fake.blocks[-1].ended  # the last block, read after FFmpeg exited


async def test_a_run_whose_progress_stops_is_stalled_and_terminated(fake_ffmpeg: Path) -> None:
    fake = FakeRun(fake_ffmpeg, "freeze", stall_s=1.0)
    outcome = await asyncio.wait_for(fake.run.run(), GUARD_S)
    assert outcome.stalled and fake.stalled == 1
    assert not outcome.stop_requested
    assert outcome.exit_code is not None and outcome.exit_code != 0  # SIGTERM'd
    assert fake.segments[0].path.name == "a.mp4"


async def test_every_block_written_before_exit_is_handled(fake_ffmpeg: Path) -> None:
    fake = FakeRun(fake_ffmpeg, "burst", stall_s=5.0)
    outcome = await asyncio.wait_for(fake.run.run(), GUARD_S)
    assert [b.frame for b in fake.blocks] == list(range(1, 21))
    assert fake.blocks[-1].ended
    assert outcome.recorded and outcome.exit_code == 0
    assert fake.recording == 1  # announced even though FFmpeg was gone by then


def test_a_deleted_cameras_recorder_series_are_forgotten() -> None:
    metrics = Metrics()
    for camera in ("gone", "kept"):
        metrics.group(RecorderMetrics).recorder_up.labels(camera=camera).set(1)
        metrics.group(RecorderMetrics).recorder_state.labels(camera=camera, state="recording").set(
            1
        )
        metrics.group(RecorderMetrics).recorder_restarts.labels(
            camera=camera, reason="stalled"
        ).inc()
        metrics.group(RecorderMetrics).segments.labels(camera=camera).inc()
        metrics.group(RecorderMetrics).recorder_bitrate.labels(camera=camera).set(1000)
        metrics.group(RecorderMetrics).recorder_segment_seconds.labels(camera=camera).set(60)
    forget_recorder_series(metrics, "gone")
    forget_recorder_series(metrics, "never-recorded")  # nothing to forget is no error
    text = generate_latest(metrics.registry).decode()
    assert 'camera="gone"' not in text
    assert text.count('camera="kept"') >= 6
