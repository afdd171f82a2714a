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
    plan = build_concat(rows, T0 + timedelta(seconds=2), T0 + timedelta(seconds=35))
    assert "file '/r/c/a'\\''b.mp4'" in plan.script
    assert "inpoint 2.000000" in plan.script and "outpoint 5.000000" in plan.script
    assert [g.seconds for g in plan.gaps] == [20.0]
    assert plan.covered_s == pytest.approx(13.0)


async def test_a_range_past_the_recording_reports_its_missing_time(
    exporting: Api, tmp_path: Path
) -> None:
    """Two hours asked from 10 s before the first segment: 12 s are recorded (4 + 4, a 60 s
    hole, 4), and the job says so: the leading 10 s, the hole and the trailing rest are gaps,
    covered_seconds is 12 of requested_seconds 7200, and the file is about 12 s long."""
    start = T0 - timedelta(seconds=10)
    end = start + timedelta(hours=2)
    job = await _export(exporting, start, end)
    assert job["state"] == "done", job
    gaps = [
        (datetime.fromisoformat(g["start"]), datetime.fromisoformat(g["end"]), g["seconds"])
        for g in job["gaps"]
    ]
    assert gaps == [
        (start, T0, 10.0),
        (T0 + timedelta(seconds=8), T0 + timedelta(seconds=68), 60.0),
        (T0 + timedelta(seconds=72), end, 7200.0 - 82.0),
    ]
    assert job["requested_seconds"] == 7200.0
    assert job["covered_seconds"] == pytest.approx(12.0)
    assert job["requested_seconds"] - sum(g[2] for g in gaps) == pytest.approx(12.0)
    duration = await _duration(exporting, job, tmp_path)
    assert abs(duration - job["covered_seconds"]) <= GOP_S + 0.15, duration


async def test_nothing_recorded_is_one_gap_and_no_coverage(exporting: Api) -> None:
    start = T0 - timedelta(hours=2)
    job = await _export(exporting, start, start + timedelta(minutes=30))
    assert job["state"] == "failed" and job["error"] == "no recordings in the range"
    assert [g["seconds"] for g in job["gaps"]] == [1800.0]
    assert (job["covered_seconds"], job["requested_seconds"]) == (0.0, 1800.0)


async def test_list_exports_newest_first_filtered_and_paged(exporting: Api) -> None:
    done = [await _export(exporting, T0, T0 + timedelta(seconds=s)) for s in (2, 4, 6)]
    failed = await _export(exporting, T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    assert [j["state"] for j in done] == ["done"] * 3 and failed["state"] == "failed"

    async def listing(**params: str) -> tuple[int, Any]:
        async with exporting.session.get(
            exporting.url + "/api/v1/exports", params=params, headers=exporting.headers("viewer")
        ) as resp:
            return resp.status, await resp.json()

    status, page = await listing()
    assert status == 200, page
    assert [j["id"] for j in page["items"]] == [failed["id"], *(j["id"] for j in reversed(done))]
    assert page["items"][0] == failed and page["next_cursor"] is None
    status, page = await listing(state="done", camera="cam", limit="2")
    assert [j["id"] for j in page["items"]] == [done[2]["id"], done[1]["id"]]
    status, page = await listing(state="done", limit="2", cursor=page["next_cursor"])
    assert [j["id"] for j in page["items"]] == [done[0]["id"]] and page["next_cursor"] is None
    status, page = await listing(state="failed")
    assert [j["id"] for j in page["items"]] == [failed["id"]]
    status, page = await listing(camera="other")
    assert (status, page["items"]) == (200, [])
    for bad, field in (({"state": "finished"}, "state"), ({"cursor": "WzFd_"}, "cursor")):
        status, body = await listing(**bad)
        assert status == 422, body
        assert [d["field"] for d in body["error"]["details"]] == [field]


async def test_an_export_download_is_named_after_its_camera_and_range(exporting: Api) -> None:
    job = await _export(exporting, T0 + timedelta(seconds=1), T0 + timedelta(seconds=7.5))
    url = f"{exporting.url}/api/v1/exports/{job['id']}/download"
    async with exporting.session.get(url, headers=exporting.headers("viewer")) as resp:
        assert resp.status == 200
        disposition = resp.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="cam_20261120-100001_20261120-100007.mp4"'
