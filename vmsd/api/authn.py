"""Who is asking: the principal behind a request's credentials (a bearer token, else a session
cookie), or a 401. A cookie-authenticated request that changes something must come from the
API's own origin (CSRF): a browser sends the cookie along with any site's form or fetch."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from vmsd.access.principal import Principal
from vmsd.api.routes import SAFE_METHODS
from vmsd.api.services import services
from vmsd.core.errors import ForbiddenError, UnauthorizedError

SESSION_COOKIE = "vmsd_session"


async def authenticate(request: web.Request) -> Principal:
    """A bearer header wins over a cookie (a script's token is what it means to use)."""
    header = request.headers.get("Authorization", "")
    if header:
        return _bearer(request, header)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise UnauthorizedError("missing bearer token or session cookie")
    principal = await services(request).accounts.session_principal(cookie)
    if principal is None:
        raise UnauthorizedError("the session has ended (logged out, expired or revoked)")
    if request.method not in SAFE_METHODS:
        check_same_origin(request, required=True)
    return principal


def _bearer(request: web.Request, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("expected 'Authorization: Bearer <token>'")
    principal = services(request).token_registry.lookup(token.strip())
    if principal is None:
        raise UnauthorizedError("invalid or revoked token")
    return principal


def own_origin(request: web.Request) -> str:
    """The API's origin as this request reached it: the scheme from server.tls, the host
    (and port) from the Host header."""
    scheme = "https" if services(request).config.current.server.tls.enabled else "http"
    return _origin(f"{scheme}://{request.host}")


def _origin(url: str) -> str:
    try:
        parsed = URL(url)
        return str(parsed.origin()) if parsed.absolute and parsed.host else ""
    except ValueError:
        return ""


def check_same_origin(request: web.Request, *, required: bool) -> None:
    """ForbiddenError unless the `Origin` header (or, without one, the `Referer`) is the API's
    own origin. `required=False` (the login): no header at all passes (a script), a foreign
    one does not."""
    origin = request.headers.get("Origin")
    referer = request.headers.get("Referer")
    if origin is None and referer is None:
        if required:
            raise ForbiddenError(
                "a session-authenticated request that changes something needs an Origin "
                "(or Referer) header of this API's own origin (CSRF protection)"
            )
        return
    claimed = _origin(origin) if origin is not None else _origin(referer or "")
    expected = own_origin(request)
    if not claimed or claimed != expected:
        which = "Origin" if origin is not None else "Referer"
        raise ForbiddenError(
            f"cross-origin request refused: the {which} header is not {expected} (CSRF protection)"
        )
