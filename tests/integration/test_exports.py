"""Clip exports with real segments (made by real FFmpeg), a real database and real HTTP: inside
one segment, across segments, across a gap; durations checked with ffprobe; Range download."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, ffmpeg_binary
from tests.streams.sources import probe
from vmsd.api.services import SERVICES
from vmsd.exports.plan import build_concat
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
GOP_S = 1.0  # -g 10 at 10 fps


async def _segments(api: Api, root: Path) -> None:
    """Three 4 s segments at T0, T0+4 s and, after a 60 s gap, T0+68 s."""
    out = root / "cam" / "2026-11-20"
    out.mkdir(parents=True)
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_binary(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=10",
        "-t",
        "12",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "10",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "segment",
        "-segment_time",
        "4",
        "-reset_timestamps",
        "1",
        "-segment_format",
        "mp4",
        str(out / "part%d.mp4"),
    )
    assert await proc.wait() == 0
    starts = [T0, T0 + timedelta(seconds=4), T0 + timedelta(seconds=68)]
    records = []
    for i, start in enumerate(starts):
        path = out / start.strftime("%H-%M-%S.mp4")
        (out / f"part{i}.mp4").rename(path)
        records.append(
            SegmentRecord(
                "cam",
                str(path),
                start,
                start + timedelta(seconds=4),
                4.0,
                path.stat().st_size,
                EndReason.SEGMENT_COMPLETE,
            )
        )
    await RecordingStore(api.cameras.store._pool).insert(records)


@pytest.fixture
async def exporting(api: Api) -> AsyncIterator[Api]:
    async with api.session.post(
        api.url + "/api/v1/cameras",
        json={"name": "cam", "source": "rtsp://192.0.2.1/x", "record": False},
        headers=api.headers("admin"),
    ) as resp:
        assert resp.status == 201
    await _segments(api, api.cameras.holder.current.storage.paths[0])
    task = asyncio.create_task(api.app[SERVICES].exports.run())
    try:
        yield api
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _export(api: Api, start: datetime, end: datetime) -> dict[str, Any]:
    body = {"camera": "cam", "start": start.isoformat(), "end": end.isoformat()}
    async with api.session.post(
        api.url + "/api/v1/exports", json=body, headers=api.headers("operator")
    ) as resp:
        assert resp.status == 202, await resp.text()
        job = await resp.json()
    for _ in range(200):
        async with api.session.get(
            f"{api.url}/api/v1/exports/{job['id']}", headers=api.headers("viewer")
        ) as resp:
            job = await resp.json()
        if job["state"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"export did not finish: {job}")


async def _duration(api: Api, job: dict[str, Any], tmp: Path) -> float:
    url = f"{api.url}/api/v1/exports/{job['id']}/download"
    async with api.session.get(url, headers=api.headers("viewer")) as resp:
        assert resp.status == 200 and resp.content_type == "video/mp4"
        data = await resp.read()
    path = tmp / f"export-{job['id']}.mp4"
    path.write_bytes(data)
    result = probe(path)
    assert result.playable and result.codec == "h264"
    assert result.duration_s is not None
    return result.duration_s


@pytest.mark.parametrize(
    ("offset_s", "length_s", "gaps"),
    [(1.0, 2.0, 0), (2.0, 4.0, 0), (6.0, 64.0, 1)],
    ids=["inside-one-segment", "across-segments", "across-a-gap"],
)
async def test_export_durations(
    exporting: Api, tmp_path: Path, offset_s: float, length_s: float, gaps: int
) -> None:
    start = T0 + timedelta(seconds=offset_s)
    job = await _export(exporting, start, start + timedelta(seconds=length_s))
    assert job["state"] == "done", job
    assert len(job["gaps"]) == gaps
    expected = length_s - sum(g["seconds"] for g in job["gaps"])
    duration = await _duration(exporting, job, tmp_path)
    assert abs(duration - expected) <= GOP_S + 0.15, (duration, expected)


async def test_export_download_range_and_delete(exporting: Api) -> None:
    job = await _export(exporting, T0, T0 + timedelta(seconds=8))
    url = f"{exporting.url}/api/v1/exports/{job['id']}/download"
    headers = {**exporting.headers("viewer"), "Range": "bytes=0-99"}
    async with exporting.session.get(url, headers=headers) as resp:
        assert resp.status == 206 and len(await resp.read()) == 100
    async with exporting.session.delete(
        f"{exporting.url}/api/v1/exports/{job['id']}", headers=exporting.headers("operator")
    ) as resp:
        assert resp.status == 204
    async with exporting.session.get(url, headers=exporting.headers("viewer")) as resp:
        assert resp.status == 404


async def test_export_bad_input(exporting: Api) -> None:
    cases = [
        ({"camera": "cam", "start": "2026-11-20T10:00:00", "end": "2026-11-20T10:01:00Z"}, 422),
        ({"camera": "cam", "start": "2026-11-20T10:01:00Z", "end": "2026-11-20T10:00:00Z"}, 422),
        ({"camera": "cam", "start": "2026-11-20T10:00:00Z", "end": "2026-11-29T10:00:00Z"}, 422),
        ({"camera": "nope", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T10:01:00Z"}, 404),
        ({"camera": "cam", "start": "2026-11-20T10:00:00Z"}, 422),
    ]
    for body, status in cases:
        async with exporting.session.post(
            exporting.url + "/api/v1/exports", json=body, headers=exporting.headers("operator")
        ) as resp:
            assert resp.status == status, (body, await resp.text())
    job = await _export(exporting, T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    assert job["state"] == "failed" and "no recordings" in job["error"]


def test_concat_script_trims_and_reports_gaps() -> None:
    from vmsd.store.recordings import RecordingRow

    rows = [
        RecordingRow(
            1,
            "c",
            "/r/c/a'b.mp4",
            T0,
            T0 + timedelta(seconds=10),
            10.0,
            1,
            EndReason.SEGMENT_COMPLETE,
        ),
        RecordingRow(
            2,
            "c",
            "/r/c/2.mp4",
            T0 + timedelta(seconds=30),
            T0 + timedelta(seconds=40),
            10.0,
            1,
            EndReason.SEGMENT_COMPLETE,
        ),
    ]
    script, gaps, total = build_concat(rows, T0 + timedelta(seconds=2), T0 + timedelta(seconds=35))
    assert "file '/r/c/a'\\''b.mp4'" in script
    assert "inpoint 2.000000" in script and "outpoint 5.000000" in script
    assert [g["seconds"] for g in gaps] == [20.0]
    assert total == pytest.approx(13.0)
