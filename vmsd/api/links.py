"""Shareable links: POST .../{id}/link makes one for a recording or an export; GET
/api/v1/links/{token} serves its file to anyone holding it (a browser, VLC, curl), with
Range, exactly as the download routes do.

Every refusal of a well-formed token is the same 404, whatever check failed (signature,
expiry, the object gone, the creator gone, revoked, disabled or no longer allowed the
camera): the holder learns nothing about why. The audit row says why.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from vmsd.access.links import (
    MAX_TOKEN_CHARS,
    TOKEN_PATTERN,
    LinkClaims,
    LinkKind,
    granting_scope,
    link_allows,
    link_principal,
)
from vmsd.access.roles import Role
from vmsd.api.audit_note import AuditNote, audit_note
from vmsd.api.body import read_json
from vmsd.api.middleware import PRINCIPAL
from vmsd.api.query import IdPath, Params, read_params
from vmsd.api.recordings import file_response
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import ApiServices, services
from vmsd.config.base import DurationS
from vmsd.core.errors import ConflictError, NotFoundError, ValidationError
from vmsd.recordings.service import ServedFile

DEFAULT_EXPIRES_IN_S = 3600.0
REFUSED = "no such link, or it has expired or been revoked"
_LINKS_PATH = "/api/v1/links/"


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    expires_in: DurationS = Field(
        default=DEFAULT_EXPIRES_IN_S,
        description="how long the link works (default 1h, capped by auth.links.max_expires_in)",
    )


class LinkPath(Params):
    token: str = Field(
        min_length=3, max_length=MAX_TOKEN_CHARS, pattern=TOKEN_PATTERN, description="the link"
    )


class LinkOut(Out):
    url: str = Field(description="absolute, from the request's scheme and Host")
    path: str
    expires_at: datetime


def camera_groups(svc: ApiServices, camera: str) -> tuple[str, ...]:
    """The camera's groups (none for a camera that is gone: its recordings remain)."""
    found = svc.cameras.find(camera)
    return found.groups if found is not None else ()


def _visible(request: web.Request, camera: str, groups: tuple[str, ...], missing: str) -> None:
    """A camera the principal may not see is none of its business: 404, as for no object."""
    if not request[PRINCIPAL].scope.allows(camera, groups):
        raise NotFoundError(missing)


def _created(
    request: web.Request, req: LinkCreate, kind: LinkKind, object_id: int, camera: str
) -> web.Response:
    svc = services(request)
    limit = svc.config.current.auth.links.max_expires_in
    if req.expires_in > limit:
        raise ValidationError(
            "invalid request body",
            [
                {
                    "field": "expires_in",
                    "message": f"at most {limit:g} s (auth.links.max_expires_in)",
                }
            ],
        )
    principal = request[PRINCIPAL]
    scope = granting_scope(principal.scope, camera, camera_groups(svc, camera))
    expires = math.ceil(time.time() + req.expires_in)
    claims = LinkClaims(kind, object_id, expires, principal.kind, principal.id, scope)
    try:
        token = svc.links.sign(claims)
    except ValueError as err:
        raise ValidationError(
            "cannot make this link", [{"field": None, "message": str(err)}]
        ) from err
    path = _LINKS_PATH + token
    url = str(request.url.with_path(path).with_query(None))
    expires_at = datetime.fromtimestamp(expires, UTC)
    return body(LinkOut(url=url, path=path, expires_at=expires_at), status=201)


async def create_recording_link(request: web.Request) -> web.Response:
    recording_id = read_params(IdPath, request.match_info).id
    svc = services(request)
    row = await svc.recordings.get(recording_id)
    _visible(
        request, row.camera, camera_groups(svc, row.camera), f"no recording with id {recording_id}"
    )
    req = await read_json(request, LinkCreate)  # after: an unseen row is a 404 whatever is sent
    await svc.recordings.file(recording_id)  # a link only to a file that can be served
    return _created(request, req, LinkKind.RECORDING, recording_id, row.camera)


async def create_export_link(request: web.Request) -> web.Response:
    export_id = read_params(IdPath, request.match_info).id
    svc = services(request)
    job = await svc.exports.get(export_id)
    _visible(request, job.camera, camera_groups(svc, job.camera), f"no export with id {export_id}")
    req = await read_json(request, LinkCreate)
    await svc.exports.file(export_id)  # 409 until the export is done
    return _created(request, req, LinkKind.EXPORT, export_id, job.camera)


async def _served(svc: ApiServices, claims: LinkClaims) -> tuple[str, ServedFile]:
    if claims.kind is LinkKind.RECORDING:
        row = await svc.recordings.get(claims.object_id)
        return row.camera, await svc.recordings.file(claims.object_id)
    job = await svc.exports.get(claims.object_id)
    return job.camera, await svc.exports.file(claims.object_id)


def _refuse(note: AuditNote, reason: str) -> NotFoundError:
    note.details["refused"] = reason
    return NotFoundError(REFUSED)


async def use_link(request: web.Request) -> web.FileResponse:
    note = audit_note(request)
    note.target = "link"  # never the token itself: it is the credential
    token = read_params(LinkPath, request.match_info).token
    svc = services(request)
    claims = svc.links.verify(token, time.time())
    if claims is None:
        raise _refuse(note, "bad signature or expired")
    note.target = claims.target
    creator = svc.resolve_principal(claims.creator_kind, claims.creator_id)
    if creator is not None:
        request[PRINCIPAL] = link_principal(claims, creator)
    try:
        camera, served = await _served(svc, claims)
    except (NotFoundError, ConflictError) as err:
        raise _refuse(note, "object gone") from err
    if not link_allows(claims, creator, camera, camera_groups(svc, camera)):
        raise _refuse(note, "creator gone or no longer allowed the camera")
    return file_response(served)


_VIDEO = ("video/mp4", "video/x-matroska")
_LINK_HEADERS = {
    "Content-Disposition": "attachment, with the file name the object's own /download gives"
}
_CREATED = Reply("the link (its token is the credential: share it as a secret)", LinkOut)
_USE_REPLIES = {
    200: Reply("the file", media_types=_VIDEO, headers=_LINK_HEADERS),
    206: Reply("part of it", media_types=_VIDEO, headers=_LINK_HEADERS),
    404: Reply("the same for every refusal: " + REFUSED),
    416: Reply("the Range is outside the file"),
}
ROUTES = [
    ApiRoute(
        "POST",
        "/api/v1/recordings/{id}/link",
        create_recording_link,
        "A shareable link to the segment's file: works with no other credential until it "
        "expires or its creator loses access to the camera",
        role=Role.VIEWER,
        action="recording.link",
        tag="links",
        request_model=LinkCreate,
        path_params=IdPath,
        responses={201: _CREATED, 404: Reply("no such recording or file")},
    ),
    ApiRoute(
        "POST",
        "/api/v1/exports/{id}/link",
        create_export_link,
        "A shareable link to the exported MP4 (a done export)",
        role=Role.VIEWER,
        action="export.link",
        tag="links",
        request_model=LinkCreate,
        path_params=IdPath,
        responses={
            201: _CREATED,
            404: Reply("no such export"),
            409: Reply("the export is not done (queued, running or failed)"),
        },
    ),
    ApiRoute(
        "GET",
        "/api/v1/links/{token}",
        use_link,
        "The file a link names (Range answered with 206); the token is the credential",
        role=None,
        action="link.use",
        tag="links",
        path_params=LinkPath,
        responses=_USE_REPLIES,
    ),
    ApiRoute(
        "HEAD",
        "/api/v1/links/{token}",
        use_link,
        "The headers of GET (players and browsers probe first)",
        role=None,
        tag="links",
        path_params=LinkPath,
        responses=_USE_REPLIES,
    ),
]
