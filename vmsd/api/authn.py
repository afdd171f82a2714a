"""Who is asking: the principal behind a request's credentials (a bearer token), or a 401."""

from __future__ import annotations

from aiohttp import web

from vmsd.access.principal import Principal
from vmsd.api.services import services
from vmsd.core.errors import UnauthorizedError


def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise UnauthorizedError("missing bearer token")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("expected 'Authorization: Bearer <token>'")
    principal = services(request).token_registry.lookup(token.strip())
    if principal is None:
        raise UnauthorizedError("invalid or revoked token")
    return principal
