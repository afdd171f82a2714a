"""The live view's WHEP signalling, proxied to MediaMTX (vmsd.mediamtx.whep): the browser
talks to vmsd's origin with its session or token, and never sees MediaMTX's address, its
session secret or the credential vmsd minted for the camera."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field

from vmsd.access.roles import Role
from vmsd.api.hooks import PayloadTooLargeError
from vmsd.api.middleware import PRINCIPAL
from vmsd.api.query import CameraName, CameraPath, Params, camera_name
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.services import services
from vmsd.api.visibility import require_camera
from vmsd.core.errors import BadRequestError, ConflictError, UnsupportedMediaTypeError
from vmsd.mediamtx.whep import (
    ICE_FRAGMENT_TYPE,
    MAX_ICE_FRAGMENT_BYTES,
    MAX_SDP_BYTES,
    SDP_TYPE,
)

SESSION_PATTERN = r"^[A-Za-z0-9_-]{22}$"


class WhepSessionPath(Params):
    name: CameraName
    session: Annotated[str, Field(pattern=SESSION_PATTERN, description="vmsd's session id")]


async def _read_text(request: web.Request, media_type: str, limit: int) -> bytes:
    """The body, of `media_type`, at most `limit` bytes, UTF-8 text."""
    if request.content_type != media_type:
        raise UnsupportedMediaTypeError(
            f"expected Content-Type {media_type} (got {request.content_type or 'none'})"
        )
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
    body = await request.read()  # server.max_body_bytes bounds it first
    if len(body) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequestError(f"the body is not UTF-8 text ({media_type})") from err
    return body


def _live_camera(request: web.Request, *, session: bool = False) -> str:
    """A new session: the camera first (404 unknown or out of scope, as on every camera
    route), then the live view on (409). An existing session's routes ask the live view
    first: off, they answer 409 for every camera alike (it says nothing of any). Then the
    camera enabled (409)."""
    if session:
        services(request).live_view.check_on()
    camera = require_camera(request, camera_name(request))
    services(request).live_view.check_on()
    if not camera.enabled:
        raise ConflictError(f"camera {camera.name!r} is disabled")
    return camera.name


async def start_live(request: web.Request) -> web.Response:
    name = _live_camera(request)
    offer = await _read_text(request, SDP_TYPE, MAX_SDP_BYTES)
    if not offer.startswith(b"v=0"):
        raise BadRequestError("the body is not an SDP offer (it starts with v=0)")
    answer = await services(request).live_view.start(name, request[PRINCIPAL].label, offer)
    response = web.Response(
        status=201,
        body=answer.sdp,
        content_type=SDP_TYPE,
        headers={
            **answer.headers,  # ETag, as MediaMTX gives it
            "Location": f"/api/v1/cameras/{name}/whep/{answer.session}",
            "Accept-Patch": ICE_FRAGMENT_TYPE,
        },
    )
    for link in answer.links:
        response.headers.add("Link", link)
    return response


async def add_candidates(request: web.Request) -> web.Response:
    name = _live_camera(request, session=True)
    fragment = await _read_text(request, ICE_FRAGMENT_TYPE, MAX_ICE_FRAGMENT_BYTES)
    await services(request).live_view.ice(
        name,
        request[PRINCIPAL].label,
        request.match_info["session"],
        fragment,
        request.headers.get("If-Match"),
    )
    return web.Response(status=204)


async def stop_live(request: web.Request) -> web.Response:
    name = _live_camera(request, session=True)
    session = request.match_info["session"]
    await services(request).live_view.stop(name, request[PRINCIPAL].label, session)
    return web.Response(status=204)


_NO_CAMERA = Reply("no such camera (or one outside the caller's scope)")
_NO_SESSION = Reply("no such camera or live session (or not the caller's)")
_OFF = Reply("the live view is off (console.live_view, or MediaMTX off), or the camera disabled")
_UPSTREAM = {
    502: Reply("MediaMTX's WebRTC server is unreachable, or answered what it should not"),
    504: Reply("MediaMTX's WebRTC server did not answer in time"),
}

ROUTES = [
    ApiRoute(
        "POST",
        "/api/v1/cameras/{name}/whep",
        start_live,
        "Start a live view (WHEP): the SDP offer in, MediaMTX's SDP answer out, and the "
        "session's URL in Location for trickle ICE (PATCH) and its end (DELETE)",
        role=Role.VIEWER,
        action="live.start",
        tag="cameras",
        path_params=CameraPath,
        request_media_types=(SDP_TYPE,),
        responses={
            201: Reply(
                "MediaMTX's answer",
                media_types=(SDP_TYPE,),
                headers={
                    "Location": "the session: /api/v1/cameras/{name}/whep/{session}",
                    "Accept-Patch": ICE_FRAGMENT_TYPE,
                },
            ),
            400: Reply("not an SDP offer, or MediaMTX refused it"),
            404: _NO_CAMERA,
            409: _OFF,
            503: Reply("MediaMTX has no live stream of the camera now (or vmsd is stopping)"),
            **_UPSTREAM,
        },
    ),
    ApiRoute(
        "PATCH",
        "/api/v1/cameras/{name}/whep/{session}",
        add_candidates,
        "Trickle ICE: the browser's candidates for a live session, passed on to MediaMTX",
        role=Role.VIEWER,
        action="live.ice",
        tag="cameras",
        path_params=WhepSessionPath,
        request_media_types=(ICE_FRAGMENT_TYPE,),
        responses={
            204: Reply("passed on"),
            400: Reply("not UTF-8 text, or MediaMTX refused the candidates"),
            404: _NO_SESSION,
            409: _OFF,
            **_UPSTREAM,
        },
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/cameras/{name}/whep/{session}",
        stop_live,
        "End a live session",
        role=Role.VIEWER,
        action="live.stop",
        tag="cameras",
        path_params=WhepSessionPath,
        responses={204: Reply("ended"), 404: _NO_SESSION, 409: _OFF, **_UPSTREAM},
    ),
]
