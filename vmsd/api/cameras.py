"""/api/v1/cameras: the camera registry, with each camera's live state."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from vmsd.api.body import read_json
from vmsd.api.routes import ApiRoute
from vmsd.api.services import services
from vmsd.auth import Role
from vmsd.cameras.model import Camera, CameraPatch, camera_json
from vmsd.config import CAMERA_NAME_PATTERN, CameraConfig
from vmsd.errors import NotFoundError

_NAME = re.compile(CAMERA_NAME_PATTERN)


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not _NAME.match(name):
        raise NotFoundError(f"no camera named {name!r}")
    return name


def _with_live(request: web.Request, camera: Camera) -> dict[str, Any]:
    live = services(request).live.get(camera.name)
    return {
        **camera_json(camera),
        "state": live.state.value,
        "state_since": live.since.isoformat(),
        "state_reason": live.reason,
        "readers": live.readers,
        "inbound_bytes": live.inbound_bytes,
    }


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
        "DELETE",
        "/api/v1/cameras/{name}",
        delete_camera,
        "Remove a camera (its recordings stay until retention removes them)",
        role=Role.ADMIN,
        tag="cameras",
        responses={204: "deleted", 404: "no such camera", 409: _READ_ONLY},
    ),
]
