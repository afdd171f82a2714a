"""Per-camera access in the API: what every camera-facing handler asks of its request.

A principal sees and acts on the cameras its scope allows (vmsd.access.scope) and no other,
whatever its role. A camera outside the scope is answered exactly as an unknown one (the same
404 body), so a scoped principal never learns that it exists. Rows that name a camera (a
recording, an export, an event) follow their camera: a camera gone from the registry has no
groups, so only a scope naming it (or `*`) still sees its rows.

Open routes (server.open_endpoints) carry no principal: they see everything, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from aiohttp import web

from vmsd.access.principal import Principal
from vmsd.api.middleware import PRINCIPAL
from vmsd.api.services import services
from vmsd.cameras.model import Camera
from vmsd.core.errors import ForbiddenError, NotFoundError


def principal_of(request: web.Request) -> Principal | None:
    """The request's principal; None on an open route."""
    return request.get(PRINCIPAL)


def sees_everything(request: web.Request) -> bool:
    """Scope `*` (or an open route): also what belongs to no camera (daemon, MediaMTX and
    config events; probing an arbitrary source)."""
    principal = principal_of(request)
    return principal is None or principal.scope.everything


def visible(request: web.Request, camera: Camera) -> bool:
    principal = principal_of(request)
    return principal is None or principal.scope.allows(camera.name, camera.groups)


def visible_name(request: web.Request, name: str | None) -> bool:
    """A row's camera, by name: None (no camera) only for a `*` scope."""
    principal = principal_of(request)
    if principal is None or principal.scope.everything:
        return True
    if name is None:
        return False
    camera = services(request).cameras.find(name)
    return principal.scope.allows(name, camera.groups if camera is not None else ())


def row_filter(request: web.Request) -> Callable[[str], bool]:
    """visible_name as the services take it: is a row of this camera visible?"""
    return functools.partial(visible_name, request)


def require_camera(request: web.Request, name: str) -> Camera:
    """The camera, or the very 404 an unknown name gets (CameraService.get)."""
    camera = services(request).cameras.get(name)
    if not visible(request, camera):
        raise NotFoundError(f"no camera named {name!r}")
    return camera


def visible_cameras(request: web.Request) -> frozenset[str] | None:
    """The camera names a list may show; None: every camera (no filter). The registry's
    cameras the scope allows, and the names it lists (rows of a removed camera)."""
    principal = principal_of(request)
    if principal is None or principal.scope.everything:
        return None
    scope = principal.scope
    cameras = services(request).cameras.list()
    return frozenset(c.name for c in cameras if scope.allows(c.name, c.groups)) | scope.names


def camera_filter(request: web.Request, asked: Sequence[str]) -> list[str] | None:
    """A list's camera filter: the cameras asked for (none: all) within those visible.
    None: no filter at all; an empty list: nothing is visible (the caller answers empty)."""
    allowed = visible_cameras(request)
    if allowed is None:
        return list(asked) or None
    if not asked:
        return sorted(allowed)
    return [name for name in asked if name in allowed]


def require_every_camera(request: web.Request, what: str) -> None:
    """What is not about one camera of the scope (probing an arbitrary source) needs `*`."""
    if not sees_everything(request):
        raise ForbiddenError(f"{what} needs the camera scope '*'")


def require_in_scope(
    request: web.Request,
    name: str,
    groups: Sequence[str],
    current_groups: Sequence[str] = (),
) -> None:
    """A camera the caller creates, or the groups it gives one, stay within its scope: the
    camera must be visible to it with those groups, and a group it adds must be one its scope
    holds (giving a camera a group grants that camera to the group's holders)."""
    principal = principal_of(request)
    if principal is None or principal.scope.everything:
        return
    scope = principal.scope
    if not scope.allows(name, groups):
        raise ForbiddenError(f"camera {name!r} with those groups is outside the caller's scope")
    added = sorted(set(groups) - set(current_groups) - scope.groups)
    if added:
        raise ForbiddenError(f"the caller's scope does not hold the groups {', '.join(added)}")
