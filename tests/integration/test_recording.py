"""Recorder acceptance scenarios with real RTSP cameras (GStreamer's RTSP server), real FFmpeg,
real files and the real database; playability and gaps checked with ffprobe."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.recording_harness import Recording, recording
from tests.streams.sources import GST_RTSP, FaultProxy, RtspServer, probe, require
from vmsd.config.cameras import CameraConfig
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.model import RecorderState
from vmsd.store.recordings import EndReason, SegmentRecord

FPS = 10
FRAME_S = 1 / FPS


@pytest.fixture
def rtsp() -> object:
    require(GST_RTSP)
    require("/usr/bin/ffprobe")
    return None


def _contiguous(rows: list[SegmentRecord]) -> None:
    """Within one run, consecutive segments share their boundary, and each file's video covers
    its slot up to one frame interval (ffprobe)."""
    for before, after in itertools.pairwise(rows):
        assert after.start == before.end, (before.path, after.path)
    for row in rows[:-1]:
        result = probe(Path(row.path))
        assert result.playable, row.path
        covered = result.span_s + (result.frame_interval_s or FRAME_S)
        assert abs(row.duration_s - covered) < FRAME_S + 1e-3, (row.path, row.duration_s, covered)


async def _indexed_everything(rec: Recording, camera: str) -> list[SegmentRecord]:
    rows = await rec.rows(camera)
    on_disk = {str(p) for p in rec.files(camera)}
    assert {r.path for r in rows} == on_disk
    return rows


@pytest.mark.slow
async def test_three_cameras_record_contiguous_indexed_playable_segments(
    rtsp: object, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    with RtspServer(["/a", "/b", "/c"], fps=FPS, gop=FPS) as server:
        cameras = [CameraConfig(name=n, source=server.url(n)) for n in ("a", "b", "c")]
        async with recording(db_pool, tmp_path, cameras, segment_seconds=2) as rec:
            await rec.wait_for(lambda: all(len(rec.files(n)) >= 4 for n in ("a", "b", "c")), 40)
    for name in ("a", "b", "c"):
        rows = await _indexed_everything(rec, name)
        assert len(rows) >= 4
        assert [r.end_reason for r in rows[:-1]] == [EndReason.SEGMENT_COMPLETE] * (len(rows) - 1)
        assert rows[-1].end_reason is EndReason.RECORDER_STOPPED  # the graceful stop
        _contiguous(rows)
        for row in rows:
            assert row.bytes == os.path.getsize(row.path) > 0
            result = probe(Path(row.path))
            assert result.playable and result.codec == "h264" and result.width == 320
            # Names are the UTC start second.
            assert Path(row.path).stem == row.start.strftime("%H-%M-%S") or (
                Path(row.path).stem == (row.start + timedelta(seconds=1)).strftime("%H-%M-%S")
            )
        assert rec.metrics.group(RecorderMetrics).segments.labels(camera=name)._value.get() == len(
            rows
        )


@pytest.mark.slow
async def test_source_outage_is_a_gap_and_recording_resumes(
    rtsp: object, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    with RtspServer(["/cam"], fps=FPS, gop=FPS) as server:
        cameras = [CameraConfig(name="cam", source=server.url("cam"))]
        async with recording(db_pool, tmp_path, cameras, segment_seconds=2) as rec:
            await rec.wait_for(lambda: len(rec.files("cam")) >= 2, 30)
            outage_started = time.monotonic()
            await server.stop_async()
            await rec.wait_event("recorder_failed", "cam", after=outage_started, timeout=10)
            await asyncio.sleep(10 - (time.monotonic() - outage_started))
            await server.start_async()
            back = time.monotonic()
            resumed = await rec.wait_event("recording_resumed", "cam", after=back, timeout=15)
            assert resumed - back < 3.0, "recording must resume within seconds of the source"
            files_before = len(rec.files("cam"))
            await rec.wait_for(lambda: len(rec.files("cam")) >= files_before + 2, 20)
    rows = await _indexed_everything(rec, "cam")
    lost = [i for i, r in enumerate(rows) if r.end_reason is EndReason.SOURCE_LOST]
    assert len(lost) == 1
    first_run, second_run = rows[: lost[0] + 1], rows[lost[0] + 1 :]
    _contiguous(first_run)
    _contiguous(second_run)
    gap = (second_run[0].start - first_run[-1].end).total_seconds()
    assert 8.0 < gap < 14.0, gap  # the outage, and nothing else, is a gap
    restarts = rec.metrics.group(RecorderMetrics).recorder_restarts.labels(
        camera="cam", reason="source_lost"
    )
    assert restarts._value.get() >= 1
    assert "camera_offline" in rec.event_names("cam") or "recorder_failed" in rec.event_names()


@pytest.mark.slow
async def test_killed_ffmpeg_is_restarted_and_its_cut_segment_kept(
    rtsp: object, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    with RtspServer(["/cam"], fps=FPS, gop=FPS) as server:
        cameras = [CameraConfig(name="cam", source=server.url("cam"))]
        async with recording(db_pool, tmp_path, cameras, segment_seconds=4) as rec:
            await rec.wait_for(lambda: len(rec.files("cam")) >= 2, 30)
            await asyncio.sleep(2.5)  # well into a segment, past its first fragments
            status = rec.fleet.status("cam")
            assert status is not None and status.pid is not None
            killed_at = time.monotonic()
            os.kill(status.pid, signal.SIGKILL)
            await rec.wait_event("recording_resumed", "cam", after=killed_at, timeout=15)
            restarted = rec.fleet.status("cam")
            assert restarted is not None and restarted.pid != status.pid
            assert restarted.restarts_total == 1
    rows = await _indexed_everything(rec, "cam")
    crashed = [r for r in rows if r.end_reason is EndReason.RECORDER_CRASHED]
    assert len(crashed) == 1
    assert probe(Path(crashed[0].path)).playable
    assert crashed[0].duration_s >= 1.0
    assert "recorder_failed" in rec.event_names("cam")


@pytest.mark.slow
async def test_stalled_source_detected_within_stall_seconds(
    rtsp: object, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    stall_seconds = 5.0
    with RtspServer(["/cam"], fps=FPS, gop=FPS) as server:
        async with FaultProxy.for_url(server.url("cam")) as proxy:
            url = proxy.url_for(server.url("cam"))
            cameras = [CameraConfig(name="cam", source=url)]
            async with recording(
                db_pool, tmp_path, cameras, segment_seconds=2, stall_seconds=stall_seconds
            ) as rec:
                await rec.wait_for(lambda: len(rec.files("cam")) >= 2, 30)
                proxy.freeze()
                frozen_at = time.monotonic()
                detected = await rec.wait_event("recorder_stalled", "cam", after=frozen_at)
                assert detected - frozen_at <= stall_seconds + 2.0
                proxy.thaw()
                await rec.wait_event("recording_resumed", "cam", after=detected, timeout=20)
    rows = await _indexed_everything(rec, "cam")
    # The segment open at the stall ends as source_lost, or, when the stall came before its
    # first fragment was flushed, nothing in it plays and it is quarantined (with an event).
    assert EndReason.SOURCE_LOST in {r.end_reason for r in rows} or (
        "segment_quarantined" in rec.event_names("cam")
    )
    stalled = rec.metrics.group(RecorderMetrics).recorder_restarts.labels(
        camera="cam", reason="stalled"
    )
    assert stalled._value.get() == 1


async def test_restart_request_finalises_and_starts_again(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    cameras = [CameraConfig(name="pattern", source="test://?size=320x240&fps=10")]
    async with recording(db_pool, tmp_path, cameras, segment_seconds=4) as rec:
        await rec.wait_for(lambda: len(rec.files("pattern")) >= 1, 20)
        first = rec.fleet.status("pattern")
        assert first is not None and first.pid is not None
        asked = time.monotonic()
        await rec.fleet.restart("pattern", "test")
        await rec.wait_event("recording_resumed", "pattern", after=asked, timeout=15)
        second = rec.fleet.status("pattern")
        assert second is not None and second.pid != first.pid
        await rec.wait_for(lambda: rec.index.pending == 0 and len(rec.files("pattern")) >= 3)
    rows = await rec.rows("pattern")
    reasons = [r.end_reason for r in rows]
    assert reasons.count(EndReason.RECORDER_STOPPED) == 2  # the restart, then the final stop
    requested = rec.metrics.group(RecorderMetrics).recorder_restarts.labels(
        camera="pattern", reason="requested"
    )
    assert requested._value.get() == 1
    assert all(probe(Path(r.path)).playable for r in rows)


@pytest.mark.slow
async def test_availability_hooks_hold_and_release_the_recorder(
    rtsp: object, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Behind MediaMTX: 'unavailable' holds the recorder (no retry storm), 'available' starts
    it at once instead of after its backoff."""
    with RtspServer(["/cam"], fps=FPS, gop=FPS) as server:
        cameras = [CameraConfig(name="cam", source=server.url("cam"))]
        async with recording(
            db_pool, tmp_path, cameras, segment_seconds=2, via_mediamtx=True
        ) as rec:
            # The first run waits for MediaMTX to say the path is available.
            await asyncio.sleep(1.5)
            assert rec.files("cam") == []
            await rec.live.report("cam", True, "hook_available")
            await rec.wait_for(lambda: len(rec.files("cam")) >= 1, 30)
            down = time.monotonic()
            await server.stop_async()
            await rec.live.report("cam", False, "hook_unavailable")
            await rec.wait_event("recorder_failed", "cam", after=down, timeout=10)
            before = rec.fleet.status("cam")
            await asyncio.sleep(6)
            after = rec.fleet.status("cam")
            assert before is not None and after is not None
            runs = after.restarts_total - before.restarts_total
            assert runs <= 1, "held while unavailable, not retrying on its backoff"
            await server.start_async()
            hook = time.monotonic()
            await rec.live.report("cam", True, "hook_available")
            # At once: the run starts (FFmpeg spawned) without waiting out the backoff it was
            # held in; recording itself then takes FFmpeg's probe and the first keyframe.
            while (status := rec.fleet.status("cam")) is not None and status.state not in (
                RecorderState.STARTING,
                RecorderState.RECORDING,
            ):
                assert time.monotonic() - hook < 2.0, f"still {status.state} after the hook"
                await asyncio.sleep(0.02)
            await rec.wait_event("recording_resumed", "cam", after=hook, timeout=10)
