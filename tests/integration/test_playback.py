"""Playback over real HTTP, a real database and real FFmpeg: segments made by FFmpeg as the
recorder makes them (segment muxer, -reset_timestamps 1, video and audio); the streamed
fragmented MP4 checked with ffprobe (length, first packet a keyframe at time 0 and at or
before `start`, no timestamp jump at segment boundaries or at the gap), decoded whole; the
plan's gaps; a client going away ends FFmpeg; busy; scope; bad input."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api, ffmpeg_binary
from tests.integration.test_camera_scope_api import token
from tests.streams.sources import ffprobe_exe
from vmsd.api.services import SERVICES
from vmsd.config.recording import PlaybackConfig
from vmsd.recordings.player import PlaybackService
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
FPS = 10
FRAME_S = 1 / FPS
GOP_S = 1.0  # -g 10 at 10 fps
SEGMENT_S = 4
GAP_S = 60
# Where concat joins files it offsets each by the file's duration, the longer of its audio
# and video: a video step may grow by up to one AAC frame (1024 / 48000 s) there.
JOIN_SLACK_S = 0.03
BAD = "validation_failed"


@dataclass
class Playing:
    api: Api
    spans: list[tuple[datetime, datetime]]  # the segments, as indexed


async def _segments(api: Api, root: Path) -> list[tuple[datetime, datetime]]:
    """Four segments of about 4 s of 1280x720 lossless video (big: a stream outgrows the
    socket buffers, so a client that stops reading holds FFmpeg up) with AAC audio; the
    first three back to back (the third ends with the source lost), the fourth GAP_S later.
    Each is indexed with its real length (the muxer cuts at keyframes)."""
    out = root / "cam" / "2026-11-20"
    out.mkdir(parents=True)
    proc = await asyncio.create_subprocess_exec(
        *(ffmpeg_binary(), "-hide_banner", "-loglevel", "error"),
        *("-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
        *("-t", str(SEGMENT_S * 4), "-c:v", "libx264", "-preset", "ultrafast"),
        *("-qp", "0", "-g", str(FPS), "-pix_fmt", "yuv420p", "-c:a", "aac"),
        *("-f", "segment", "-segment_time", str(SEGMENT_S), "-reset_timestamps", "1"),
        *("-segment_format", "mp4", str(out / "part%d.mp4")),
    )
    assert await proc.wait() == 0
    records, start = [], T0
    for i in range(4):
        path = out / f"part{i}.mp4"
        length_s = _duration_s(path)
        reason = EndReason.SOURCE_LOST if i == 2 else EndReason.SEGMENT_COMPLETE
        end = start + timedelta(seconds=length_s)
        size = path.stat().st_size
        records.append(SegmentRecord("cam", str(path), start, end, length_s, size, reason))
        start = end + timedelta(seconds=GAP_S if i == 2 else 0)
    await RecordingStore(api.cameras.store._pool).insert(records)
    return [(r.start, r.end) for r in records]


@pytest.fixture
async def recorded(api: Api) -> Playing:
    for name in ("cam", "other"):
        async with api.session.post(
            api.url + "/api/v1/cameras",
            json={"name": name, "source": "rtsp://192.0.2.1/x", "record": False},
            headers=api.headers("admin"),
        ) as resp:
            assert resp.status == 201
    return Playing(api, await _segments(api, api.cameras.holder.current.storage.paths[0]))


def _params(start: datetime, duration: str, **extra: str) -> dict[str, str]:
    return {"start": start.isoformat(), "duration": duration, **extra}


async def _stream(
    api: Api, tmp: Path, start: datetime, duration: str, **extra: str
) -> tuple[dict[str, str], Path]:
    url = api.url + "/api/v1/cameras/cam/playback"
    async with api.session.get(
        url, params=_params(start, duration, **extra), headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "video/mp4"
        data = await resp.read()
        headers = dict(resp.headers)
    path = tmp / f"playback-{start.timestamp()}.mp4"
    path.write_bytes(data)
    return headers, path


async def _plan(api: Api, start: datetime, duration: str, **extra: str) -> dict[str, Any]:
    url = api.url + "/api/v1/cameras/cam/playback/plan"
    async with api.session.get(
        url, params=_params(start, duration, **extra), headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 200, await resp.text()
        plan: dict[str, Any] = await resp.json()
    return plan


def _ffprobe(path: Path, *args: str) -> Any:
    out = subprocess.run(
        [ffprobe_exe(), "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True,
        check=True,
    )
    return json.loads(out.stdout)


def _duration_s(path: Path) -> float:
    return float(_ffprobe(path, "-show_entries", "format=duration")["format"]["duration"])


def _packets(path: Path, stream: str) -> list[dict[str, Any]]:
    found = _ffprobe(
        path, "-select_streams", stream, "-show_entries", "packet=pts_time,flags"
    )
    return list(found["packets"])


def _steps(packets: list[dict[str, Any]]) -> list[float]:
    times = [float(p["pts_time"]) for p in packets]
    return [b - a for a, b in itertools.pairwise(times)]


def _decode_errors(path: Path) -> str:
    done = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        check=False,
    )
    return done.stderr.decode(errors="replace") if done.returncode else ""


async def test_a_range_across_three_segments(recorded: Playing, tmp_path: Path) -> None:
    api, spans = recorded.api, recorded.spans
    start = spans[0][0] + timedelta(seconds=2.55)
    duration = f"{(spans[2][0] + timedelta(seconds=2) - start).total_seconds():.3f}"
    end = start + timedelta(seconds=float(duration))
    headers, path = await _stream(api, tmp_path, start, duration)
    first = datetime.fromisoformat(headers["X-Playback-Start"])
    assert start - timedelta(seconds=GOP_S) < first <= start
    assert datetime.fromisoformat(headers["X-Playback-End"]) == end
    assert headers["X-Playback-Gaps"] == "0"
    video = _packets(path, "v:0")
    assert "K" in video[0]["flags"] and float(video[0]["pts_time"]) == pytest.approx(0, abs=1e-3)
    expected_s = (end - first).total_seconds()
    assert _duration_s(path) == pytest.approx(expected_s, abs=2 * FRAME_S)
    assert len(video) == pytest.approx(expected_s * FPS, abs=2)
    steps = _steps(video)  # across both segment boundaries too
    assert min(steps) > FRAME_S - 0.005 and max(steps) < FRAME_S + JOIN_SLACK_S, steps
    assert len(_packets(path, "a:0")) > 0  # the audio came along
    assert _decode_errors(path) == ""
    plan = await _plan(api, start, duration)
    assert datetime.fromisoformat(plan["start"]) == first
    assert plan["segments"] == 3 and plan["gaps"] == []
    assert plan["duration_seconds"] == pytest.approx(expected_s, abs=1e-3)
    [audited] = await _audit_details(api)
    assert audited == {
        "start": start.isoformat(),
        "duration_seconds": duration,  # the audit trail keeps floats as text
        "first_frame": first.isoformat(),
        "bytes": path.stat().st_size,
        "outcome": "complete",
    }


async def test_a_range_with_a_gap_skips_it_and_says_where(
    recorded: Playing, tmp_path: Path
) -> None:
    api, spans = recorded.api, recorded.spans
    start = spans[2][0] + timedelta(seconds=1.5)
    duration = f"{(spans[3][0] + timedelta(seconds=2) - start).total_seconds():.3f}"
    end = start + timedelta(seconds=float(duration))
    headers, path = await _stream(api, tmp_path, start, duration)
    assert headers["X-Playback-Gaps"] == "1"
    assert datetime.fromisoformat(headers["X-Playback-End"]) == end
    plan = await _plan(api, start, duration)
    [gap] = plan["gaps"]
    assert datetime.fromisoformat(gap["start"]) == spans[2][1]
    assert datetime.fromisoformat(gap["end"]) == spans[3][0]
    assert gap["reason"] == "source_lost" and gap["seconds"] == pytest.approx(GAP_S)
    first = datetime.fromisoformat(headers["X-Playback-Start"])
    assert gap["at_seconds"] == pytest.approx((spans[2][1] - first).total_seconds())
    steps = _steps(_packets(path, "v:0"))
    assert min(steps) > FRAME_S - 0.005 and max(steps) < FRAME_S + JOIN_SLACK_S, steps
    assert _duration_s(path) == pytest.approx(plan["duration_seconds"], abs=2 * FRAME_S)
    assert _decode_errors(path) == ""


async def test_aligned_streams_follow_each_other_exactly(
    recorded: Playing, tmp_path: Path
) -> None:
    """align=segment: the stream runs on to the end of the segment holding its end, and the
    one asked for from there starts on the next segment's first keyframe: every frame of the
    two, once each."""
    api, spans = recorded.api, recorded.spans
    start = spans[0][0] + timedelta(seconds=1.55)
    duration = f"{(spans[1][0] + timedelta(seconds=1.2) - start).total_seconds():.3f}"
    one, first_path = await _stream(api, tmp_path, start, duration, align="segment")
    assert datetime.fromisoformat(one["X-Playback-End"]) == spans[1][1]  # not 1.2 s into it
    plan = await _plan(api, start, duration, align="segment")
    assert datetime.fromisoformat(plan["end"]) == spans[1][1]
    assert plan["end_reason"] == "segment_complete"
    follow = datetime.fromisoformat(one["X-Playback-End"])
    two, second_path = await _stream(api, tmp_path, follow, "1", align="segment")
    assert datetime.fromisoformat(two["X-Playback-Start"]) == spans[2][0]
    assert abs((spans[2][0] - spans[1][1]).total_seconds()) < FRAME_S  # back to back
    assert datetime.fromisoformat(two["X-Playback-End"]) == spans[2][1]
    after = await _plan(api, follow, "1", align="segment")
    assert after["end_reason"] == "source_lost"  # what ended the third segment
    first = datetime.fromisoformat(one["X-Playback-Start"])
    frames = [_packets(p, "v:0") for p in (first_path, second_path)]
    assert all("K" in f[0]["flags"] for f in frames)
    seconds = (spans[2][1] - first).total_seconds()
    assert len(frames[0]) + len(frames[1]) == pytest.approx(seconds * FPS, abs=2)
    # Unaligned, the same range ends inside the second segment: the next stream asked from
    # there would start on that segment's keyframe before it, and play the frames between
    # twice.
    unaligned = await _plan(api, start, duration)
    cut = datetime.fromisoformat(unaligned["end"]) - spans[1][0]
    assert cut.total_seconds() == pytest.approx(1.2, abs=1e-3)
    assert unaligned["end_reason"] is None


def _playback_children() -> list[int]:
    """FFmpeg processes of this test process streaming a playback (concat of our listing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and any(b"vmsd-playback-" in arg for arg in cmdline):
            found.append(int(entry.name))
    return found


async def _until_idle(service: PlaybackService) -> None:
    """Until no playback runs (its handler has left, FFmpeg reaped)."""
    for _ in range(300):
        if service.running == 0:
            return
        await asyncio.sleep(0.05)


async def _audit_details(api: Api) -> list[dict[str, Any]]:
    """The details of the playbacks' audit rows, once there is one (a row is written when
    the handler has returned, after the client has the whole body)."""
    for _ in range(200):
        async with api.session.get(
            api.url + "/api/v1/audit",
            params={"action": "recording.playback"},
            headers=api.headers("admin"),
        ) as resp:
            assert resp.status == 200
            items = (await resp.json())["items"]
        if items:
            return [item["details"] for item in items]
        await asyncio.sleep(0.05)
    raise AssertionError("no audit row of the playback")


async def test_a_client_going_away_ends_ffmpeg(recorded: Playing) -> None:
    api = recorded.api
    url = api.url + "/api/v1/cameras/cam/playback"
    service = api.app[SERVICES].playback
    async with api.session.get(
        url, params=_params(T0, "80s"), headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 200
        await resp.content.readexactly(1000)
        assert service.running == 1 and len(_playback_children()) == 1
        assert len(service.pinned()) == 4  # retention leaves what it reads alone
        resp.close()  # the connection goes, the rest unread
    await _until_idle(service)
    # Over this test server the handler is cancelled (aiohttp's TestServer); under the
    # daemon's runner a write fails instead (tests/e2e/test_playback_daemon.py): FFmpeg is
    # stopped and reaped either way.
    assert service.running == 0
    assert _playback_children() == []


async def test_a_daemon_stop_ends_streams_cut_short(recorded: Playing) -> None:
    """close() (the app's shutdown) kills each stream's FFmpeg; the client sees the stream
    broken (no closing chunk), not complete."""
    api = recorded.api
    service = api.app[SERVICES].playback
    url = api.url + "/api/v1/cameras/cam/playback"
    async with api.session.get(
        url, params=_params(T0, "80s"), headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 200
        await resp.content.readexactly(1000)
        service.close()
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    await _until_idle(service)
    assert service.running == 0 and _playback_children() == []


async def test_past_max_concurrent_is_503_busy(recorded: Playing) -> None:
    api = recorded.api
    holder = api.cameras.holder
    one = PlaybackConfig(max_concurrent=1)
    holder.current = holder.current.model_copy(update={"playback": one})
    url = api.url + "/api/v1/cameras/cam/playback"
    params, headers = _params(T0, "10"), api.headers("viewer")
    async with api.session.get(url, params=params, headers=headers) as first:
        assert first.status == 200
        async with api.session.get(url, params=params, headers=headers) as second:
            assert second.status == 503
            assert second.headers["Retry-After"].isdigit()
            assert (await second.json())["error"]["code"] == "playback_busy"
        await first.read()
    await _until_idle(api.app[SERVICES].playback)  # it leaves after the client has it all
    async with api.session.get(url, params=params, headers=headers) as again:
        assert again.status == 200  # the slot is free once the first ended
        await again.read()


async def test_a_token_scoped_to_another_camera_gets_404(recorded: Playing) -> None:
    api = recorded.api
    scoped = await token(api, "viewer", ["other"])
    for path in ("playback", "playback/plan"):
        async with api.session.get(
            f"{api.url}/api/v1/cameras/cam/{path}",
            params=_params(T0, "10"),
            headers={"Authorization": f"Bearer {scoped}"},
        ) as resp:
            assert resp.status == 404
            body = await resp.json()
        assert body["error"] == {
            "code": "not_found", "message": "no camera named 'cam'", "details": []
        }


async def test_a_file_ffmpeg_cannot_read_is_503_playback_failed(recorded: Playing) -> None:
    api = recorded.api
    junk = api.cameras.holder.current.storage.paths[0] / "other" / "junk.mp4"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"not a video at all" * 100)
    record = SegmentRecord(
        "other", str(junk), T0, T0 + timedelta(seconds=4), 4.0, 1800, EndReason.SEGMENT_COMPLETE
    )
    await RecordingStore(api.cameras.store._pool).insert([record])
    async with api.session.get(
        f"{api.url}/api/v1/cameras/other/playback",
        params=_params(T0, "4"),
        headers=api.headers("operator"),
    ) as resp:
        assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
        error = (await resp.json())["error"]
    assert error["code"] == "playback_failed"
    assert "Invalid data" in error["details"][0]["message"]  # FFmpeg's words, for an operator
    assert api.app[SERVICES].playback.running == 0 and _playback_children() == []


@pytest.mark.parametrize(
    ("camera", "params", "status", "code"),
    [
        ("cam", {"start": "2026-11-20T10:00:20Z", "duration": "30s"}, 404, "nothing_recorded"),
        ("other", {"start": "2026-11-20T10:00:00Z", "duration": "30s"}, 404, "nothing_recorded"),
        ("nope", {"start": "2026-11-20T10:00:00Z", "duration": "30s"}, 404, "not_found"),
        ("cam", {"start": "2026-11-20T10:00:00Z", "duration": "0.5"}, 422, "validation_failed"),
        ("cam", {"start": "2026-11-20T10:00:00Z", "duration": "25h"}, 422, "validation_failed"),
        ("cam", {"start": "2026-11-20T10:00:00Z", "duration": "ten"}, 422, "validation_failed"),
        ("cam", {"start": "2026-11-20T10:00:00", "duration": "10"}, 422, "validation_failed"),
        ("cam", {"duration": "10"}, 422, "validation_failed"),
        ("cam", {"start": "9999-12-31T23:59:59Z", "duration": "1h"}, 422, BAD),
        ("cam", {"start": "9999-12-31T10:00:00-05:00", "duration": "10h"}, 422, BAD),
        ("cam", {"start": "2026-11-20T10:00:00Z", "duration": "10", "align": "gop"}, 422, BAD),
        ("cam", {"start": "2026-11-20T10:00:00Z", "duration": "10", "align": ""}, 422, BAD),
    ],
)
async def test_bad_requests_are_clear_errors(
    recorded: Playing, camera: str, params: dict[str, str], status: int, code: str
) -> None:
    api = recorded.api
    for path in ("playback", "playback/plan"):
        async with api.session.get(
            f"{api.url}/api/v1/cameras/{camera}/{path}",
            params=params,
            headers=api.headers("viewer"),
        ) as resp:
            assert resp.status == status, await resp.text()
            assert (await resp.json())["error"]["code"] == code
