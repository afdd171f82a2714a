"""/api/v1/recordings, the camera timeline and /api/v1/storage."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import Field

from vmsd.access.roles import Role
from vmsd.api.query import (
    DEFAULT_LIMIT,
    CameraName,
    CameraPath,
    Cursor,
    IdPath,
    Limit,
    Params,
    Time,
    camera_name,
    read_params,
)
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import services
from vmsd.api.visibility import camera_filter, require_camera, row_filter, visible_name
from vmsd.core.errors import ValidationError
from vmsd.recordings.service import ServedFile
from vmsd.store.recordings import EndReason, RecordingRow, RecordingWindow

_TIME = "RFC 3339 time with an offset (a `+` sent unencoded, as a space, is read as `+`)"


def _ordered(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ValidationError("invalid range", [{"field": "end", "message": "must be after start"}])


class RangeQuery(Params):
    start: Time = Field(description=_TIME)
    end: Time = Field(description=f"{_TIME}, after start")

    def bounds(self) -> tuple[datetime, datetime]:
        _ordered(self.start, self.end)
        return self.start, self.end


class CamerasQuery(Params):
    camera: list[CameraName] = Field(
        default_factory=list, description="camera name; repeat for several (default: all)"
    )


class CamerasRangeQuery(CamerasQuery, RangeQuery):
    pass


class RecordingsQuery(CamerasQuery):
    start: Time | None = Field(default=None, description=f"{_TIME}: segments ending after it")
    end: Time | None = Field(
        default=None, description=f"{_TIME}: segments starting before it (after start)"
    )
    order: Literal["asc", "desc"] | None = Field(
        default=None,
        description="asc: oldest first; desc: newest first. Default: asc when start is "
        "given (from then on), desc otherwise (the latest, or the latest before end)",
    )
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None

    def window(self, cameras: list[str] | None) -> RecordingWindow:
        """`cameras`: the filter within the caller's scope (None: every camera)."""
        _ordered(self.start, self.end)
        order = self.order or ("asc" if self.start is not None else "desc")
        return RecordingWindow(cameras, self.start, self.end, order == "desc")


class RecordingOut(Out):
    id: int
    camera: str
    start: datetime
    end: datetime
    duration_seconds: float
    bytes: int
    end_reason: EndReason


class RecordingPage(Out):
    items: list[RecordingOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class DeletedOut(Out):
    deleted: int = Field(description="segments deleted")
    bytes: int


class SpanOut(Out):
    start: datetime
    end: datetime
    segments: int
    end_reason: EndReason = Field(description="what closed the span's last segment")
    gap_after_seconds: float | None = Field(description="null for the last span")


class TimelineOut(Out):
    camera: str
    spans: list[SpanOut]


class QuarantineOut(Out):
    files: int
    bytes: int


class StoragePathOut(Out):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    low_watermark_free_bytes: int
    target_free_bytes: int
    days_until_low_watermark: float | None = Field(
        description="at the current recording rate; null while nothing records there"
    )
    quarantine: QuarantineOut


class StorageCameraOut(Out):
    camera: str
    path: str | None
    bytes: int
    segments: int
    oldest: datetime
    newest: datetime
    bytes_per_day: int


class StorageOut(Out):
    paths: list[StoragePathOut]
    cameras: list[StorageCameraOut]


def recording_out(row: RecordingRow) -> RecordingOut:
    return RecordingOut(
        id=row.id,
        camera=row.camera,
        start=row.start,
        end=row.end,
        duration_seconds=row.duration_s,
        bytes=row.bytes,
        end_reason=row.end_reason,
    )


async def list_recordings(request: web.Request) -> web.Response:
    q = read_params(RecordingsQuery, request.query)
    cameras = camera_filter(request, q.camera)
    window = q.window(cameras)
    if cameras == []:  # none of the cameras asked for is visible: nothing to look up
        return body(RecordingPage(items=[], next_cursor=None))
    rows, cursor = await services(request).recordings.search(window, q.limit, q.cursor)
    return body(RecordingPage(items=[recording_out(r) for r in rows], next_cursor=cursor))


async def get_recording(request: web.Request) -> web.Response:
    recording_id = read_params(IdPath, request.match_info).id
    row = await services(request).recordings.get(recording_id, row_filter(request))
    return body(recording_out(row))


async def download_recording(request: web.Request) -> web.FileResponse:
    recording_id = read_params(IdPath, request.match_info).id
    served = await services(request).recordings.file(recording_id, row_filter(request))
    return file_response(served)


def file_response(served: ServedFile) -> web.FileResponse:
    """aiohttp answers Range (206), If-None-Match/ETag and Last-Modified itself."""
    return web.FileResponse(
        served.path,
        headers={
            "Content-Type": served.content_type,
            "Content-Disposition": f'attachment; filename="{served.filename}"',
        },
    )


async def delete_recording(request: web.Request) -> web.Response:
    recording_id = read_params(IdPath, request.match_info).id
    await services(request).recordings.delete(recording_id, row_filter(request))
    return web.Response(status=204)


async def delete_recordings(request: web.Request) -> web.Response:
    q = read_params(CamerasRangeQuery, request.query)
    start, end = q.bounds()
    cameras = camera_filter(request, q.camera)
    if cameras == []:  # only cameras the caller cannot see: nothing of theirs is deleted
        return body(DeletedOut(deleted=0, bytes=0))
    deleted = await services(request).recordings.delete_range(cameras or [], start, end)
    return body(DeletedOut(deleted=len(deleted), bytes=sum(d.bytes for d in deleted)))


async def timeline(request: web.Request) -> web.Response:
    camera = require_camera(request, camera_name(request)).name
    start, end = read_params(RangeQuery, request.query).bounds()
    spans = await services(request).recordings.timeline(camera, start, end)
    items = [
        SpanOut(
            start=span.start,
            end=span.end,
            segments=span.segments,
            end_reason=span.end_reason,
            gap_after_seconds=(
                (spans[i + 1].start - span.end).total_seconds() if i + 1 < len(spans) else None
            ),
        )
        for i, span in enumerate(spans)
    ]
    return body(TimelineOut(camera=camera, spans=items))


async def storage(request: web.Request) -> web.Response:
    """The filesystems whole (they are shared), the per-camera entries within the scope."""
    report = StorageOut.model_validate(await services(request).retention.storage())
    cameras = [c for c in report.cameras if visible_name(request, c.camera)]
    return body(report.model_copy(update={"cameras": cameras}))


_VIDEO = ("video/mp4", "video/x-matroska")
DOWNLOAD_HEADERS = {
    "Content-Disposition": 'attachment; filename="<camera>_<YYYYmmdd-HHMMSS>.mp4" (UTC start;'
    " .mkv for Matroska segments)"
}
_NO_RECORDING = Reply("no such recording")
ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/recordings",
        list_recordings,
        "Segments overlapping [start, end) (either bound optional), with keyset pagination",
        role=Role.VIEWER,
        tag="recordings",
        query=RecordingsQuery,
        responses={200: Reply("one page", RecordingPage)},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/recordings",
        delete_recordings,
        "Delete every segment inside [start, end] (cameras optional)",
        role=Role.ADMIN,
        action="recordings.delete",
        tag="recordings",
        query=CamerasRangeQuery,
        responses={200: Reply("deleted", DeletedOut)},
    ),
    ApiRoute(
        "GET",
        "/api/v1/recordings/{id}",
        get_recording,
        "One segment",
        role=Role.VIEWER,
        tag="recordings",
        path_params=IdPath,
        responses={200: Reply("the segment", RecordingOut), 404: _NO_RECORDING},
    ),
    ApiRoute(
        "GET",
        "/api/v1/recordings/{id}/download",
        download_recording,
        "The segment's file (Range requests answered with 206)",
        role=Role.VIEWER,
        action="recording.download",
        tag="recordings",
        path_params=IdPath,
        responses={
            200: Reply("the file", media_types=_VIDEO, headers=DOWNLOAD_HEADERS),
            206: Reply("part of it", media_types=_VIDEO, headers=DOWNLOAD_HEADERS),
            404: Reply("no such recording or file"),
            416: Reply("the Range is outside the file"),
        },
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/recordings/{id}",
        delete_recording,
        "Delete one segment",
        role=Role.OPERATOR,
        action="recording.delete",
        tag="recordings",
        path_params=IdPath,
        responses={204: Reply("deleted"), 404: _NO_RECORDING},
    ),
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}/timeline",
        timeline,
        "Recorded spans (gaps of at most 1 s merged) and what ended each",
        role=Role.VIEWER,
        tag="recordings",
        path_params=CameraPath,
        query=RangeQuery,
        responses={200: Reply("the spans", TimelineOut), 404: Reply("no such camera")},
    ),
    ApiRoute(
        "GET",
        "/api/v1/storage",
        storage,
        "Storage paths (space, watermarks, days left) and recorded bytes per camera",
        role=Role.VIEWER,
        tag="recordings",
        responses={200: Reply("storage", StorageOut)},
    ),
]
