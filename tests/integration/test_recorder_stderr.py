"""A recorder run's stderr tail, from real FFmpeg (the bundled 9.0 and the system's, where
there is one): FFmpeg opens every run with `ffmpeg stats and -progress period set to 1.`
(for the recorder's `-stats_period 1`), which said nothing about the run yet came first in
every `stderr_tail` (recorder_failed events, logs). The run keeps what tells the failure."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import direct_inputs, ffmpeg_binary
from tests.net import free_port
from vmsd.config.recording import SegmentFormat
from vmsd.recorder.ffmpeg import RecorderInput, SegmentSpec, build_recorder_argv
from vmsd.recorder.run import STATS_PERIOD_NOTICE, ClosedSegment, FfmpegRun, RunOutcome

GUARD_S = 30.0
BUILDS = [ffmpeg_binary(), *([system] if (system := shutil.which("ffmpeg")) else [])]


def _prints_the_notice(ffmpeg: str) -> bool:
    """The premise: this FFmpeg prints the notice first for -stats_period."""
    result = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "info", "-stats_period", "1",
         "-f", "lavfi", "-i", "nullsrc=size=16x16", "-t", "0.1", "-f", "null", "-"],
        capture_output=True, text=True, timeout=GUARD_S, check=True,
    )  # fmt: skip
    return result.stderr.splitlines()[0].startswith(STATS_PERIOD_NOTICE)


async def _failed_run(ffmpeg: str, tmp_path: Path, source: RecorderInput) -> RunOutcome:
    spec = SegmentSpec(tmp_path / "rec" / "cam", 2, SegmentFormat.MP4, audio=False)
    inputs = direct_inputs(tmp_path)

    async def on_segment(_segment: ClosedSegment) -> None:
        return None

    async def on_recording() -> None:
        return None

    async with inputs.opened(source, "cam") as description:
        run = FfmpegRun(
            lambda fd: build_recorder_argv(ffmpeg, source, spec, fd, description=description),
            stall_s=10.0,
            on_segment=on_segment,
            on_progress=lambda _p: None,
            on_recording=on_recording,
        )
        return await asyncio.wait_for(run.run(), GUARD_S)


@pytest.mark.parametrize("ffmpeg", BUILDS, ids=lambda path: Path(path).name)
async def test_the_stats_period_notice_is_not_in_the_tail(ffmpeg: str, tmp_path: Path) -> None:
    assert _prints_the_notice(ffmpeg)
    port = free_port()  # nothing listens there
    outcome = await _failed_run(ffmpeg, tmp_path, RecorderInput(f"rtsp://127.0.0.1:{port}/x"))
    assert outcome.exit_code != 0
    assert outcome.stderr_tail, "FFmpeg said why it failed"
    assert not any(STATS_PERIOD_NOTICE in line for line in outcome.stderr_tail)
    # What tells the failure is still there, and first (nothing else precedes it here).
    assert "Connection refused" in outcome.stderr_tail[0], outcome.stderr_tail
