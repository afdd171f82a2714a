"""Recordings API over real HTTP, a real database and real files: search with keyset
pagination, download with Range, deletion, timeline, storage; bad input and path tricks."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from tests.conftest import Api
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def _root(api: Api) -> Path:
    return api.cameras.holder.current.storage.paths[0]


async def _segments(api: Api, camera: str, count: int, gap_after: int | None = None) -> None:
    """`count` contiguous 10 s segments from T0 (a 60 s gap after index `gap_after`)."""
    store = RecordingStore(api.cameras.store._pool)
    start = T0
    records = []
    for i in range(count):
        end = start + timedelta(seconds=10)
        path = _root(api) / camera / start.strftime("%Y-%m-%d") / start.strftime("%H-%M-%S.mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([i % 256]) * 1000 + b"segment-%d" % i)
        reason = EndReason.SOURCE_LOST if i == gap_after else EndReason.SEGMENT_COMPLETE
        records.append(
            SegmentRecord(camera, str(path), start, end, 10.0, path.stat().st_size, reason)
        )
        start = end + timedelta(seconds=60 if i == gap_after else 0)
    await store.insert(records)


async def _get(api: Api, path: str, who: str = "viewer", **params: Any) -> tuple[int, Any]:
    async with api.session.get(api.url + path, params=params, headers=api.headers(who)) as r:
        return r.status, await r.json()


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def test_search_pages_through_everything_once(api: Api) -> None:
    await _segments(api, "a", 25)
    await _segments(api, "b", 5)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"camera": "a", "start": _iso(T0), "end": _iso(T0 + timedelta(hours=1))}
        params["limit"] = "7"
        if cursor:
            params["cursor"] = cursor
        status, page = await _get(api, "/api/v1/recordings", **params)
        assert status == 200, page
        seen += [item["id"] for item in page["items"]]
        assert all(item["camera"] == "a" for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 25
    # Overlap: a range inside one segment finds that segment; several cameras at once.
    status, page = await _get(
        api,
        "/api/v1/recordings?camera=a&camera=b",
        start=_iso(T0 + timedelta(seconds=12)),
        end=_iso(T0 + timedelta(seconds=13)),
    )
    assert status == 200
    assert sorted(i["camera"] for i in page["items"]) == ["a", "b"]
    assert page["items"][0]["duration_seconds"] == 10.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-11-20T10:00:00", "end": "2026-11-20T11:00:00Z"}, "start"),
        ({"start": "2026-11-20T11:00:00Z", "end": "2026-11-20T10:00:00Z"}, "end"),
        ({"start": "yesterday", "end": "2026-11-20T11:00:00Z"}, "start"),
        ({"end": "2026-11-20T11:00:00Z", "order": "backwards"}, "order"),
        (
            {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z", "limit": "100000"},
            "limit",
        ),
        ({"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z", "limit": "-1"}, "limit"),
        (
            {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z", "cursor": "%%%"},
            "cursor",
        ),
        (
            {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z", "cursor": "WzEsMl0"},
            "cursor",
        ),
        (
            {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z", "camera": "../x"},
            "camera",
        ),
    ],
)
async def test_bad_queries_are_clean_422s(api: Api, params: dict[str, str], field: str) -> None:
    status, body = await _get(api, "/api/v1/recordings", **params)
    assert status == 422, body
    assert field in [d["field"] for d in body["error"]["details"]]


async def test_download_with_range_etag_and_type(api: Api) -> None:
    await _segments(api, "a", 2)
    _, page = await _get(
        api, "/api/v1/recordings", start=_iso(T0), end=_iso(T0 + timedelta(minutes=1))
    )
    first = page["items"][0]
    url = f"{api.url}/api/v1/recordings/{first['id']}/download"
    async with api.session.get(url, headers=api.headers("viewer")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp4"
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert resp.headers["ETag"] and resp.headers["Last-Modified"]
        whole = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(whole) == first["bytes"]
        etag = resp.headers["ETag"]
    headers = {**api.headers("viewer"), "Range": "bytes=10-19"}
    async with api.session.get(url, headers=headers) as resp:
        assert resp.status == 206
        assert await resp.read() == whole[10:20]
        assert resp.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    async with api.session.get(url, headers={**api.headers("viewer"), "If-None-Match": etag}) as r:
        assert r.status == 304


async def test_files_only_by_id_and_only_inside_the_roots(api: Api, tmp_path: Path) -> None:
    store = RecordingStore(api.cameras.store._pool)
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"not yours")
    link = _root(api) / "a" / "2026-11-20" / "10-00-00.mp4"
    link.parent.mkdir(parents=True)
    os.symlink(outside, link)
    await store.insert(
        [
            SegmentRecord(
                "a", "/etc/passwd", T0, T0 + timedelta(seconds=1), 1, 1, EndReason.RECOVERED
            ),
            SegmentRecord("a", str(link), T0, T0 + timedelta(seconds=1), 1, 1, EndReason.RECOVERED),
            SegmentRecord(
                "a",
                str(_root(api) / "a" / ".." / ".." / "secret.mp4"),
                T0,
                T0 + timedelta(seconds=1),
                1,
                1,
                EndReason.RECOVERED,
            ),
        ]
    )
    _, page = await _get(
        api, "/api/v1/recordings", start=_iso(T0), end=_iso(T0 + timedelta(minutes=1))
    )
    assert len(page["items"]) == 3
    for item in page["items"]:
        url = f"{api.url}/api/v1/recordings/{item['id']}/download"
        async with api.session.get(url, headers=api.headers("admin")) as resp:
            assert resp.status == 404, item
    for bad in ("../../etc/passwd", "%2e%2e%2fetc", "1;2", "99999999999999999999"):
        async with api.session.get(
            f"{api.url}/api/v1/recordings/{bad}/download", headers=api.headers("admin")
        ) as resp:
            assert resp.status in (404, 422), bad


async def test_delete_one_and_a_range(api: Api) -> None:
    await _segments(api, "a", 6)
    _, page = await _get(
        api, "/api/v1/recordings", start=_iso(T0), end=_iso(T0 + timedelta(hours=1))
    )
    first = page["items"][0]
    url = f"{api.url}/api/v1/recordings/{first['id']}"
    async with api.session.delete(url, headers=api.headers("viewer")) as resp:
        assert resp.status == 403
    async with api.session.delete(url, headers=api.headers("operator")) as resp:
        assert resp.status == 204
    async with api.session.delete(url, headers=api.headers("operator")) as resp:
        assert resp.status == 404
    params = {"camera": "a", "start": _iso(T0), "end": _iso(T0 + timedelta(seconds=40))}
    async with api.session.delete(
        api.url + "/api/v1/recordings", params=params, headers=api.headers("operator")
    ) as resp:
        assert resp.status == 403  # a range is admin only
    async with api.session.delete(
        api.url + "/api/v1/recordings", params=params, headers=api.headers("admin")
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["deleted"] == 3  # 10-20, 20-30, 30-40
    left = sorted(_root(api).glob("a/*/*.mp4"))
    assert [p.name for p in left] == ["10-00-40.mp4", "10-00-50.mp4"]


async def test_timeline_merges_spans_and_names_the_gap(api: Api) -> None:
    await _create_camera(api, "a")
    await _segments(api, "a", 6, gap_after=2)
    status, body = await _get(
        api,
        "/api/v1/cameras/a/timeline",
        start=_iso(T0 - timedelta(minutes=5)),
        end=_iso(T0 + timedelta(hours=1)),
    )
    assert status == 200, body
    spans = body["spans"]
    assert [(s["segments"], s["end_reason"]) for s in spans] == [
        (3, "source_lost"),
        (3, "segment_complete"),
    ]
    assert spans[0]["gap_after_seconds"] == 60.0
    status, _ = await _get(
        api, "/api/v1/cameras/nope/timeline", start=_iso(T0), end=_iso(T0 + timedelta(hours=1))
    )
    assert status == 404


async def test_storage_report(api: Api) -> None:
    await _segments(api, "a", 3)
    status, body = await _get(api, "/api/v1/storage")
    assert status == 200
    assert body["paths"][0]["path"] == str(_root(api))
    assert body["paths"][0]["free_bytes"] > 0
    camera = body["cameras"][0]
    assert (camera["camera"], camera["segments"]) == ("a", 3)


async def _create_camera(api: Api, name: str) -> None:
    async with api.session.post(
        api.url + "/api/v1/cameras",
        json={"name": name, "source": "rtsp://192.0.2.1/x", "record": False},
        headers=api.headers("admin"),
    ) as resp:
        assert resp.status == 201


async def _pages(api: Api, **params: str) -> tuple[list[dict[str, Any]], int]:
    """Every item of a listing, page by page (and how many pages)."""
    items: list[dict[str, Any]] = []
    pages, cursor = 0, None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        status, page = await _get(api, "/api/v1/recordings", **query)
        assert status == 200, page
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


def _starts(items: list[dict[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(i["start"]) for i in items]


async def test_no_range_lists_the_newest_first_page_by_page(api: Api) -> None:
    """`?camera=a` and nothing else: the latest segments first, every one once."""
    await _segments(api, "a", 25)
    await _segments(api, "b", 5)
    items, pages = await _pages(api, camera="a", limit="7")
    assert pages == 4
    assert len(items) == len({i["id"] for i in items}) == 25
    assert {i["camera"] for i in items} == {"a"}
    assert _starts(items) == sorted(_starts(items), reverse=True)
    assert _starts(items)[0] == T0 + timedelta(seconds=240)  # the newest
    everything, _ = await _pages(api)
    assert len(everything) == 30
    # An explicit order wins: oldest first without a range.
    oldest, _ = await _pages(api, camera="a", order="asc", limit="10")
    assert [i["id"] for i in oldest] == [i["id"] for i in reversed(items)]


async def test_one_bound_from_start_oldest_first_before_end_newest_first(api: Api) -> None:
    await _segments(api, "a", 10)  # 10:00:00 .. 10:01:40, 10 s each
    after, _ = await _pages(api, start=_iso(T0 + timedelta(seconds=55)), limit="3")
    # From 10:00:55 on: the segment that covers it (10:00:50) first, then onwards.
    assert _starts(after) == [T0 + timedelta(seconds=s) for s in (50, 60, 70, 80, 90)]
    before, _ = await _pages(api, end=_iso(T0 + timedelta(seconds=25)), limit="2")
    # Before 10:00:25: the latest first, down to the first segment.
    assert _starts(before) == [T0 + timedelta(seconds=s) for s in (20, 10, 0)]
    # Both bounds, as before: oldest first.
    both, _ = await _pages(
        api, start=_iso(T0 + timedelta(seconds=15)), end=_iso(T0 + timedelta(seconds=35))
    )
    assert _starts(both) == [T0 + timedelta(seconds=s) for s in (10, 20, 30)]


async def test_a_cursor_is_for_its_own_order(api: Api) -> None:
    await _segments(api, "a", 3)
    status, page = await _get(api, "/api/v1/recordings", limit="1")
    assert status == 200 and page["next_cursor"]
    status, body = await _get(
        api, "/api/v1/recordings", limit="1", order="asc", cursor=page["next_cursor"]
    )
    assert status == 422
    assert body["error"]["details"] == [{"field": "cursor", "message": "made for the other order"}]


async def test_an_unencoded_plus_offset_is_read_as_plus(api: Api) -> None:
    """`curl '...?start=2026-11-20T11:00:00+01:00'`: the `+` reaches the server as a space."""
    await _segments(api, "a", 3)
    raw = f"{api.url}/api/v1/recordings?start=2026-11-20T11:00:15+01:00&end=2026-11-20T10:00:25Z"
    async with api.session.get(URL(raw, encoded=True), headers=api.headers("viewer")) as resp:
        assert resp.status == 200, await resp.text()
        items = (await resp.json())["items"]
    assert _starts(items) == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]


async def test_a_download_is_named_after_its_camera_and_start(api: Api) -> None:
    await _segments(api, "a", 2)
    status, page = await _get(api, "/api/v1/recordings", order="asc")
    assert status == 200
    names = []
    for item in page["items"]:
        url = f"{api.url}/api/v1/recordings/{item['id']}/download"
        async with api.session.get(url, headers=api.headers("viewer")) as resp:
            assert resp.status == 200
            names.append(resp.headers["Content-Disposition"])
    assert names == [
        'attachment; filename="a_20261120-100000.mp4"',
        'attachment; filename="a_20261120-100010.mp4"',
    ]
