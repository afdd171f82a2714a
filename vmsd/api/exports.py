"""/api/v1/exports: clip export jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from vmsd.access.roles import Role
from vmsd.api.audit_note import audit_note
from vmsd.api.body import read_json
from vmsd.api.query import (
    DEFAULT_LIMIT,
    BodyTime,
    CameraName,
    Cursor,
    IdPath,
    Limit,
    Params,
    read_params,
)
from vmsd.api.recordings import file_response
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import services
from vmsd.api.visibility import camera_filter, require_camera, row_filter
from vmsd.core.errors import ValidationError
from vmsd.store.exports import ExportJob

ExportState = Literal["queued", "running", "done", "failed"]


class GapOut(Out):
    start: datetime
    end: datetime
    seconds: float


class ExportOut(Out):
    id: int
    camera: str
    start: datetime
    end: datetime
    state: ExportState
    progress: float = Field(ge=0, le=1)
    bytes: int | None
    error: str | None
    gaps: list[GapOut] = Field(
        description="the range's time with no recording, before the first segment and after "
        "the last one included"
    )
    requested_seconds: float = Field(description="end - start")
    covered_seconds: float | None = Field(
        description="recorded time inside the range (the file's length, give or take the "
        "keyframes it is cut on); null until the job has planned"
    )
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime


class ExportPage(Out):
    items: list[ExportOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    camera: CameraName
    start: BodyTime
    end: BodyTime = Field(description="after start, at most exports.max_range_hours later")


class ExportsQuery(Params):
    camera: list[CameraName] = Field(
        default_factory=list, description="camera name; repeat for several (default: all)"
    )
    state: list[ExportState] = Field(
        default_factory=list, description="job state; repeat for several (default: all)"
    )
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


def export_out(job: ExportJob) -> ExportOut:
    return ExportOut(
        id=job.id,
        camera=job.camera,
        start=job.start,
        end=job.end,
        state=job.state,
        progress=job.progress,
        bytes=job.bytes,
        error=job.error,
        gaps=[GapOut.model_validate(gap) for gap in job.gaps],
        requested_seconds=(job.end - job.start).total_seconds(),
        covered_seconds=job.covered_s,
        created_at=job.created_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
    )


async def create_export(request: web.Request) -> web.Response:
    req = await read_json(request, ExportRequest)
    if req.end <= req.start:
        raise ValidationError("invalid range", [{"field": "end", "message": "must be after start"}])
    svc = services(request)
    note = audit_note(request)
    note.details.update(camera=req.camera, start=req.start.isoformat(), end=req.end.isoformat())
    require_camera(request, req.camera)  # 404 for an unknown camera, or one out of scope
    job = await svc.exports.create(req.camera, req.start, req.end)
    note.target = f"export:{job.id}"
    return body(export_out(job), status=202)


async def list_exports(request: web.Request) -> web.Response:
    q = read_params(ExportsQuery, request.query)
    cameras = camera_filter(request, q.camera)
    if cameras == []:  # none of the cameras asked for is visible
        return body(ExportPage(items=[], next_cursor=None))
    exports = services(request).exports
    jobs, cursor = await exports.search(cameras or [], q.state, q.limit, q.cursor)
    return body(ExportPage(items=[export_out(job) for job in jobs], next_cursor=cursor))


async def get_export(request: web.Request) -> web.Response:
    job_id = read_params(IdPath, request.match_info).id
    job = await services(request).exports.get(job_id, row_filter(request))
    return body(export_out(job))


async def download_export(request: web.Request) -> web.FileResponse:
    job_id = read_params(IdPath, request.match_info).id
    served = await services(request).exports.file(job_id, row_filter(request))
    return file_response(served)


async def delete_export(request: web.Request) -> web.Response:
    job_id = read_params(IdPath, request.match_info).id
    await services(request).exports.delete(job_id, row_filter(request))
    return web.Response(status=204)


_NO_EXPORT = Reply("no such export")
_DOWNLOAD_HEADERS = {
    "Content-Disposition": 'attachment; filename="<camera>_<start>_<end>.mp4" (UTC,'
    " YYYYmmdd-HHMMSS: the range asked for)"
}
ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/exports",
        list_exports,
        "Export jobs, newest first, with keyset pagination",
        role=Role.VIEWER,
        tag="exports",
        query=ExportsQuery,
        responses={200: Reply("one page", ExportPage)},
    ),
    ApiRoute(
        "POST",
        "/api/v1/exports",
        create_export,
        "Export a clip: one MP4 joined from the segments of a range (a background job)",
        role=Role.OPERATOR,
        action="export.create",
        tag="exports",
        request_model=ExportRequest,
        responses={202: Reply("queued", ExportOut), 404: Reply("no such camera")},
    ),
    ApiRoute(
        "GET",
        "/api/v1/exports/{id}",
        get_export,
        "An export job: state, progress, size, gaps skipped, error",
        role=Role.VIEWER,
        tag="exports",
        path_params=IdPath,
        responses={200: Reply("the job", ExportOut), 404: _NO_EXPORT},
    ),
    ApiRoute(
        "GET",
        "/api/v1/exports/{id}/download",
        download_export,
        "The exported MP4 (Range requests answered with 206)",
        role=Role.VIEWER,
        action="export.download",
        tag="exports",
        path_params=IdPath,
        responses={
            200: Reply("the file", media_types=("video/mp4",), headers=_DOWNLOAD_HEADERS),
            206: Reply("part of it", media_types=("video/mp4",), headers=_DOWNLOAD_HEADERS),
            404: _NO_EXPORT,
            409: Reply("the export is not done (queued, running or failed)"),
            416: Reply("the Range is outside the file"),
        },
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/exports/{id}",
        delete_export,
        "Cancel and remove an export",
        role=Role.OPERATOR,
        action="export.delete",
        tag="exports",
        path_params=IdPath,
        responses={204: Reply("removed"), 404: _NO_EXPORT},
    ),
]
