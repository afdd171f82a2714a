"""/api/v1/cameras: the camera registry, with each camera's live state."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from vmsd.access.roles import Role
from vmsd.api.body import read_json
from vmsd.api.routes import ApiRoute
from vmsd.api.services import services
from vmsd.cameras.model import Camera, CameraPatch, camera_json
from vmsd.config.schema import CameraConfig
from vmsd.core.errors import NotFoundError
from vmsd.core.names import CAMERA_NAME_PATTERN
from vmsd.recorder.model import RecorderStatus

_NAME = re.compile(CAMERA_NAME_PATTERN)


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not _NAME.match(name):
        raise NotFoundError(f"no camera named {name!r}")
    return name


def _with_live(request: web.Request, camera: Camera) -> dict[str, Any]:
    svc = services(request)
    live = svc.live.get(camera.name)
    return {
        **camera_json(camera),
        "state": live.state.value,
        "state_since": live.since.isoformat(),
        "state_reason": live.reason,
        "readers": live.readers,
        "inbound_bytes": live.inbound_bytes,
        "recorder": recorder_json(svc.recorders.status(camera.name)),
    }


def recorder_json(status: RecorderStatus | None) -> dict[str, Any]:
    if status is None:
        return {"state": "stopped"}
    return {
        "state": status.state.value,
        "pid": status.pid,
        "started_at": _iso(status.started_at),
        "restarts_total": status.restarts_total,
        "restarts_last_hour": status.restarts_last_hour,
        "last_segment_end": _iso(status.last_segment_end),
        "fps": status.fps,
        "bitrate_bits": status.bitrate_bits,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def list_cameras(request: web.Request) -> web.Response:
    cameras = services(request).cameras.list()
    return web.json_response([_with_live(request, c) for c in cameras])


async def create_camera(request: web.Request) -> web.Response:
    body = await read_json(request, CameraConfig)
    camera = await services(request).cameras.create(body)
    return web.json_response(_with_live(request, camera), status=201)


async def get_camera(request: web.Request) -> web.Response:
    camera = services(request).cameras.get(_name(request))
    return web.json_response(_with_live(request, camera))


async def patch_camera(request: web.Request) -> web.Response:
    name = _name(request)
    patch = await read_json(request, CameraPatch)
    camera = await services(request).cameras.update(name, patch)
    return web.json_response(_with_live(request, camera))


async def restart_recorder(request: web.Request) -> web.Response:
    name = _name(request)
    services(request).cameras.get(name)  # 404 for an unknown camera
    services(request).recorders.restart(name)
    return web.json_response({"camera": name, "restart": "requested"}, status=202)


async def snapshot(request: web.Request) -> web.Response:
    svc = services(request)
    camera = svc.cameras.get(_name(request))
    jpeg = await svc.snapshots.grab(camera)
    return web.Response(
        body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )


async def delete_camera(request: web.Request) -> web.Response:
    await services(request).cameras.delete(_name(request))
    return web.Response(status=204)


_READ_ONLY = "managed by the config file (read-only here)"
ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/cameras",
        list_cameras,
        "List cameras with their live state",
        role=Role.VIEWER,
        tag="cameras",
    ),
    ApiRoute(
        "POST",
        "/api/v1/cameras",
        create_camera,
        "Add a camera (credentials are stored encrypted and never returned)",
        role=Role.ADMIN,
        tag="cameras",
        request_model=CameraConfig,
        responses={201: "created", 409: "a camera has that name", 422: "invalid input"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}",
        get_camera,
        "One camera with its live state",
        role=Role.VIEWER,
        tag="cameras",
        responses={200: "OK", 404: "no such camera"},
    ),
    ApiRoute(
        "PATCH",
        "/api/v1/cameras/{name}",
        patch_camera,
        "Change a camera; absent keys stay as they are, password null removes it",
        role=Role.ADMIN,
        tag="cameras",
        request_model=CameraPatch,
        responses={200: "OK", 404: "no such camera", 409: _READ_ONLY, 422: "invalid input"},
    ),
    ApiRoute(
        "POST",
        "/api/v1/cameras/{name}/restart",
        restart_recorder,
        "Restart the camera's recorder (its open segment is finalised and indexed first)",
        role=Role.OPERATOR,
        tag="cameras",
        responses={202: "restart scheduled", 404: "no such camera", 409: "not recording"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}/snapshot",
        snapshot,
        "A JPEG of the live picture (cached for a second or two)",
        role=Role.VIEWER,
        tag="cameras",
        responses={
            200: "image/jpeg",
            404: "no such camera",
            409: "camera disabled",
            503: "no picture from the camera",
            504: "timed out",
        },
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/cameras/{name}",
        delete_camera,
        "Remove a camera (its recordings stay until retention removes them)",
        role=Role.ADMIN,
        tag="cameras",
        responses={204: "deleted", 404: "no such camera", 409: _READ_ONLY},
    ),
]
