"""/api/v1/exports: clip export jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vmsd.access.roles import Role
from vmsd.api.body import int_param, read_json
from vmsd.api.routes import ApiRoute
from vmsd.api.services import services
from vmsd.core.errors import ValidationError
from vmsd.core.names import CAMERA_NAME_PATTERN
from vmsd.store.exports import ExportJob


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    camera: str = Field(pattern=CAMERA_NAME_PATTERN)
    start: AwareDatetime
    end: AwareDatetime


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_json(job: ExportJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "camera": job.camera,
        "start": job.start.isoformat(),
        "end": job.end.isoformat(),
        "state": job.state,
        "progress": job.progress,
        "bytes": job.bytes,
        "error": job.error,
        "gaps": list(job.gaps),
        "created_at": job.created_at.isoformat(),
        "finished_at": _iso(job.finished_at),
        "expires_at": job.expires_at.isoformat(),
    }


async def create_export(request: web.Request) -> web.Response:
    body = await read_json(request, ExportRequest)
    if body.end <= body.start:
        raise ValidationError("invalid range", [{"field": "end", "message": "must be after start"}])
    svc = services(request)
    svc.cameras.get(body.camera)  # 404 for an unknown camera
    job = await svc.exports.create(body.camera, body.start, body.end)
    return web.json_response(export_json(job), status=202)


async def get_export(request: web.Request) -> web.Response:
    job = await services(request).exports.get(int_param(request, "id"))
    return web.json_response(export_json(job))


async def download_export(request: web.Request) -> web.FileResponse:
    path = await services(request).exports.file(int_param(request, "id"))
    response = web.FileResponse(path, headers={"Content-Type": "video/mp4"})
    response.headers["Content-Disposition"] = f'attachment; filename="export-{path.name}"'
    return response


async def delete_export(request: web.Request) -> web.Response:
    await services(request).exports.delete(int_param(request, "id"))
    return web.Response(status=204)


ROUTES = [
    ApiRoute(
        "POST",
        "/api/v1/exports",
        create_export,
        "Export a clip: one MP4 joined from the segments of a range (a background job)",
        role=Role.OPERATOR,
        tag="exports",
        request_model=ExportRequest,
        responses={202: "queued", 404: "no such camera", 422: "invalid input"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/exports/{id}",
        get_export,
        "An export job: state, progress, size, gaps skipped, error",
        role=Role.VIEWER,
        tag="exports",
        responses={200: "OK", 404: "no such export"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/exports/{id}/download",
        download_export,
        "The exported MP4 (Range requests answered with 206)",
        role=Role.VIEWER,
        tag="exports",
        responses={200: "the file", 206: "part of it", 404: "no such export", 422: "not done"},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/exports/{id}",
        delete_export,
        "Cancel and remove an export",
        role=Role.OPERATOR,
        tag="exports",
        responses={204: "removed", 404: "no such export"},
    ),
]
