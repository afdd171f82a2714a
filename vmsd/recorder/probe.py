"""Is a segment file playable, and how long is it? FFmpeg reads it through (the wheel ships no
ffprobe); used for segments cut short by a kill and for files found at startup."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from vmsd.core.proc import spawn_child
from vmsd.recorder.ffmpeg import build_probe_argv, parse_probe_duration

PROBE_TIMEOUT_S = 60.0


async def probe_duration(ffmpeg: str, path: Path) -> float | None:
    """Seconds of video FFmpeg can read, or None when nothing in the file is playable."""
    proc = await spawn_child(
        *build_probe_argv(ffmpeg, path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    text = err.decode(errors="replace")
    duration = parse_probe_duration(text)
    if proc.returncode != 0 or duration is None or duration <= 0:
        return None
    return duration
