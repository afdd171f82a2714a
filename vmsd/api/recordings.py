"""/api/v1/recordings, the camera timeline and /api/v1/storage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from vmsd.access.roles import Role
from vmsd.api.body import int_param
from vmsd.api.query import DEFAULT_LIMIT, MAX_LIMIT, camera_query, limit_query, required_time
from vmsd.api.routes import ApiRoute
from vmsd.api.services import services
from vmsd.core.errors import ValidationError
from vmsd.store.recordings import RecordingRow


def _range(request: web.Request) -> tuple[datetime, datetime]:
    start, end = required_time(request, "start"), required_time(request, "end")
    if end <= start:
        raise ValidationError("invalid range", [{"field": "end", "message": "must be after start"}])
    return start, end


def recording_json(row: RecordingRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "camera": row.camera,
        "start": row.start.isoformat(),
        "end": row.end.isoformat(),
        "duration_seconds": row.duration_s,
        "bytes": row.bytes,
        "end_reason": row.end_reason.value,
    }


async def list_recordings(request: web.Request) -> web.Response:
    start, end = _range(request)
    rows, cursor = await services(request).recordings.search(
        camera_query(request), start, end, limit_query(request), request.query.get("cursor")
    )
    return web.json_response({"items": [recording_json(r) for r in rows], "next_cursor": cursor})


async def get_recording(request: web.Request) -> web.Response:
    row = await services(request).recordings.get(int_param(request, "id"))
    return web.json_response(recording_json(row))


async def download_recording(request: web.Request) -> web.FileResponse:
    path, content_type = await services(request).recordings.file(int_param(request, "id"))
    # aiohttp answers Range (206), If-None-Match/ETag and Last-Modified itself.
    response = web.FileResponse(path, headers={"Content-Type": content_type})
    response.headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


async def delete_recording(request: web.Request) -> web.Response:
    await services(request).recordings.delete(int_param(request, "id"))
    return web.Response(status=204)


async def delete_recordings(request: web.Request) -> web.Response:
    start, end = _range(request)
    deleted = await services(request).recordings.delete_range(camera_query(request), start, end)
    return web.json_response({"deleted": len(deleted), "bytes": sum(d.bytes for d in deleted)})


async def timeline(request: web.Request) -> web.Response:
    camera = services(request).cameras.get(request.match_info["name"]).name
    start, end = _range(request)
    spans = await services(request).recordings.timeline(camera, start, end)
    items = []
    for i, span in enumerate(spans):
        gap_after = (spans[i + 1].start - span.end).total_seconds() if i + 1 < len(spans) else None
        items.append(
            {
                "start": span.start.isoformat(),
                "end": span.end.isoformat(),
                "segments": span.segments,
                "end_reason": span.end_reason,
                "gap_after_seconds": gap_after,
            }
        )
    return web.json_response({"camera": camera, "spans": items})


async def storage(request: web.Request) -> web.Response:
    return web.json_response(await services(request).retention.storage())


_RANGE_QUERY = {
    "start": "RFC 3339 time with an offset (required)",
    "end": "RFC 3339 time with an offset, after start (required)",
}
ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/recordings",
        list_recordings,
        "Segments overlapping [start, end), oldest first, with keyset pagination",
        role=Role.VIEWER,
        tag="recordings",
        query={
            **_RANGE_QUERY,
            "camera": "camera name; repeat for several (default: all)",
            "limit": f"1-{MAX_LIMIT} (default {DEFAULT_LIMIT})",
            "cursor": "next_cursor of the previous page",
        },
        responses={200: "OK", 422: "invalid query"},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/recordings",
        delete_recordings,
        "Delete every segment inside [start, end] (cameras optional)",
        role=Role.ADMIN,
        tag="recordings",
        query={**_RANGE_QUERY, "camera": "camera name; repeat for several (default: all)"},
        responses={200: "deleted", 422: "invalid query"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/recordings/{id}",
        get_recording,
        "One segment",
        role=Role.VIEWER,
        tag="recordings",
        responses={200: "OK", 404: "no such recording"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/recordings/{id}/download",
        download_recording,
        "The segment's file (Range requests answered with 206)",
        role=Role.VIEWER,
        tag="recordings",
        responses={200: "the file", 206: "part of it", 404: "no such recording or file"},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/recordings/{id}",
        delete_recording,
        "Delete one segment",
        role=Role.OPERATOR,
        tag="recordings",
        responses={204: "deleted", 404: "no such recording"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}/timeline",
        timeline,
        "Recorded spans (gaps of at most 1 s merged) and what ended each",
        role=Role.VIEWER,
        tag="recordings",
        query=_RANGE_QUERY,
        responses={200: "OK", 404: "no such camera", 422: "invalid query"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/storage",
        storage,
        "Storage paths (space, watermarks, days left) and recorded bytes per camera",
        role=Role.VIEWER,
        tag="recordings",
    ),
]
