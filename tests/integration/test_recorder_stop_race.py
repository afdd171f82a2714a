"""A stop asked while a recorder prepares its next run (directories, the one-second name
guard) starts no FFmpeg: a run the stop cannot see would record past the daemon's stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.conftest import direct_inputs
from vmsd.cameras.state import CameraError
from vmsd.config.recording import SegmentFormat
from vmsd.core.backoff import Backoff
from vmsd.core.metrics import Metrics
from vmsd.recorder.camera import CameraRecorder
from vmsd.recorder.ffmpeg import RecorderInput, SegmentSpec
from vmsd.recorder.model import RecorderPlan, RecorderState
from vmsd.recordings.index import SegmentIndex
from vmsd.store.recordings import RecordingStore


async def test_stop_during_preparation_starts_no_ffmpeg(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    marker = tmp_path / "ffmpeg-started"
    fake_ffmpeg = tmp_path / "ffmpeg"
    fake_ffmpeg.write_text(f"#!/bin/sh\ntouch {marker}\nexec sleep 30\n")
    fake_ffmpeg.chmod(0o755)
    camera_dir = tmp_path / "recordings" / "cam1"
    # Segments already named for the next seconds: the name guard waits for the next second.
    now = datetime.now(UTC)
    for ahead in range(4):
        when = now + timedelta(seconds=ahead)
        day = camera_dir / when.strftime("%Y-%m-%d")
        day.mkdir(parents=True, exist_ok=True)
        (day / when.strftime("%H-%M-%S.mp4")).write_bytes(b"")

    async def no_event(*_args: object, **_data: object) -> None:
        return None

    async def no_report(_camera: str, _available: bool, _reason: str) -> None:
        return None

    async def no_error(_camera: str, _error: CameraError, _offline: bool) -> None:
        return None

    metrics = Metrics()
    recorder = CameraRecorder(
        RecorderPlan(
            camera="cam1",
            source=RecorderInput("rtsp://127.0.0.1:9/none"),
            segments=SegmentSpec(camera_dir, 2, SegmentFormat.MP4, audio=False),
            stall_s=5.0,
            via_mediamtx=False,
        ),
        ffmpeg=str(fake_ffmpeg),
        index=SegmentIndex(RecordingStore(db_pool), tmp_path, metrics),
        metrics=metrics,
        record_event=no_event,
        report_availability=no_report,
        report_error=no_error,
        pid_dir=tmp_path / "pids",
        inputs=direct_inputs(tmp_path),
        backoff=Backoff(),
        unauthorized_retry_s=300.0,
    )
    task = asyncio.create_task(recorder.run())
    while recorder.status().state is not RecorderState.STARTING:
        await asyncio.sleep(0.005)
    recorder.request_stop()
    await asyncio.wait_for(task, 5)
    assert recorder.status().state is RecorderState.STOPPED
    assert not marker.exists()
