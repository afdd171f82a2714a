"""Request id + log + metrics, error mapping, authentication and authorization."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Mapping, Sequence

import structlog
from aiohttp import web
from pydantic import ValidationError as PydanticValidationError

from vmsd.access.principal import Principal
from vmsd.access.roles import Role
from vmsd.api.authn import authenticate
from vmsd.api.metrics import ApiMetrics
from vmsd.api.routes import ApiRoute, Handler
from vmsd.api.schemas import ErrorBody, ErrorDetail, ErrorInfo
from vmsd.api.services import services
from vmsd.core.errors import (
    ForbiddenError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
    VmsdError,
)
from vmsd.core.health import Phase
from vmsd.core.log import get_logger

log = get_logger("vmsd.api")

ROUTES = web.AppKey("routes", dict)  # AbstractRoute -> ApiRoute
PRINCIPAL = web.RequestKey("principal", Principal)
# Set on a response whose own Cache-Control stands (security_headers leaves it).
KEEP_CACHE_CONTROL = web.ResponseKey("keep_cache_control", bool)
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_S = "5"


def error_detail(item: object) -> ErrorDetail:
    """A VmsdError's detail in the one documented shape. Details made for the API are
    mappings with `field` and `message` (and a documented extra key); a plain line (a
    StoreError's or ConfigError's, written for logs and the CLI) is a detail about no field.
    Anything else is a bug: pydantic refuses it and the request is a logged 500."""
    if isinstance(item, Mapping):
        return ErrorDetail.model_validate({"field": None, **item})
    if isinstance(item, str):
        return ErrorDetail(field=None, message=item)
    raise TypeError(f"an error detail must be a mapping or a str (got {type(item).__name__})")


def error_body(code: str, message: str, details: Sequence[object] = ()) -> dict[str, object]:
    """Every error body of both listeners, built through ErrorBody (the document's schema)."""
    info = ErrorInfo(code=code, message=message, details=[error_detail(d) for d in details])
    return ErrorBody(error=info).model_dump(mode="json")


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare of every listener (the API and the MediaMTX hooks, added by
    runtime.sites.start_site), so aiohttp's own 404/405 and /metrics carry them too.

    nosniff: a JSON error or a recording is never run as a script or a page. no-store on
    every response, not only authenticated ones: what vmsd serves is access-controlled or
    live state (health, metrics), and a stale copy in a proxy or a browser is never right.
    It replaces a handler's weaker `no-cache` (the event stream) rather than keep it; only
    the console's static files (vmsd.api.console, the same for everyone) keep theirs.
    """
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not response.get(KEEP_CACHE_CONTROL, False):  # the console's files: ETag revalidation
        response.headers["Cache-Control"] = "no-store"


async def strict_transport(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare of the API only (create_app; the hooks listener is plain HTTP on
    loopback): HSTS on every answer given over HTTPS, at the live max-age (0: none)."""
    max_age = services(request).config.current.server.tls.hsts_max_age_seconds
    if request.secure and max_age > 0:
        response.headers["Strict-Transport-Security"] = f"max-age={max_age}"


def _access_level(access_log: bool, route: str, status: int) -> int:
    """`log.access: true`: every request at info, but for probes and scrapes that succeed
    (one line per Prometheus scrape or health check would drown the rest). Else debug."""
    if access_log and (route not in _QUIET_ROUTES or status >= 400):
        return logging.INFO
    return logging.DEBUG


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: request id, one log line, request metrics."""
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    route = _route(request)
    started = time.perf_counter()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
        response.headers["X-Request-ID"] = request_id
        elapsed = time.perf_counter() - started
        metrics = services(request).metrics.group(ApiMetrics)
        metrics.http_requests.labels(request.method, route, str(response.status)).inc()
        metrics.http_duration.labels(request.method, route).observe(elapsed)
        log.log(
            _access_level(services(request).config.current.log.access, route, response.status),
            "http_request",
            method=request.method,
            route=route,
            status=response.status,
            duration_ms=round(elapsed * 1000, 2),
            remote=request.remote,
        )
        return response
    finally:
        structlog.contextvars.unbind_contextvars("request_id")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as {"error": {...}}; never a traceback or a secret."""
    try:
        return await handler(request)
    except VmsdError as err:
        try:
            data = error_body(err.code, err.message, _details_for(request, err))
        except (TypeError, PydanticValidationError):
            log.exception("http_error_body_invalid", code=err.code, route=_route(request))
            return web.json_response(error_body("internal_error", "internal error"), status=500)
        headers = {}
        if isinstance(err, UnauthorizedError):
            headers["WWW-Authenticate"] = 'Bearer realm="vmsd"'
        if err.http_status == 503:  # stopping, the database away, a camera: all pass
            headers["Retry-After"] = RETRY_AFTER_S
        if isinstance(err, TooManyRequestsError):
            headers["Retry-After"] = str(max(1, math.ceil(err.retry_after_s)))
        return web.json_response(data, status=err.http_status, headers=headers)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        code, message = _http_error(request, err)
        return web.json_response(
            error_body(code, message), status=err.status, headers=_allow_header(err)
        )
    except Exception:
        log.exception("http_unhandled_error", method=request.method, route=_route(request))
        return web.json_response(error_body("internal_error", "internal error"), status=500)


def _route(request: web.Request) -> str:
    """The route's template, never the path itself: a path can carry a credential (a signed
    link's token)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _details_for(request: web.Request, err: VmsdError) -> Sequence[object]:
    """Viewers (and unauthenticated callers) get the classification; operators and admins
    also get the internal detail (FFmpeg's redacted stderr: hosts, ports, paths)."""
    principal = request.get(PRINCIPAL)
    if err.internal_details and principal is not None and principal.role.allows(Role.OPERATOR):
        return [*err.details, *err.internal_details]
    return list(err.details)


def _http_error(request: web.Request, err: web.HTTPException) -> tuple[str, str]:
    """aiohttp's own errors (no route 404, 405, a body past client_max_size 413) in the
    API's words: the code from the reason (`Not Found` -> not_found), but a 413 is
    `payload_too_large`, as on the hooks listener, and says which setting bounds it."""
    if err.status == 413:
        limit = services(request).config.current.server.max_body_bytes
        return "payload_too_large", f"the body is larger than server.max_body_bytes ({limit})"
    return (err.reason or "error").lower().replace(" ", "_"), err.reason


def _allow_header(err: web.HTTPException) -> dict[str, str]:
    allow = err.headers.get("Allow")
    return {"Allow": allow} if allow else {}


@web.middleware
async def authorization(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate the request and check the route's declared role. The principal is kept
    on the request before the role check, so the audit trail names who was refused."""
    spec: ApiRoute | None = request.app[ROUTES].get(request.match_info.route)
    if spec is None:  # no such route: aiohttp answers 404/405
        return await handler(request)
    svc = services(request)
    if svc.health.phase is Phase.STOPPING and request.path.startswith("/api/"):
        raise UnavailableError("vmsd is stopping")
    required = spec.required_role(svc.config.current.server.open_endpoints)
    if required is None:
        return await handler(request)
    principal = await authenticate(request)
    request[PRINCIPAL] = principal
    await _rate_limit(request, principal)
    if not principal.role.allows(required):
        raise ForbiddenError(
            f"this needs the {required.value} role ({principal.kind.value} has "
            f"{principal.role.value})"
        )
    return await handler(request)


async def _rate_limit(request: web.Request, principal: Principal) -> None:
    """auth.rate_limit, read at each request (a reload applies at once): one token bucket
    per principal. A refusal is counted; it is an event at most once a minute per principal
    (a client in a loop must not flood the event history)."""
    svc = services(request)
    limit = svc.config.current.auth.rate_limit
    if limit.requests_per_second <= 0:
        return
    decision = svc.rate_limiter.check(principal.label, limit.requests_per_second, limit.burst)
    if decision.allowed:
        return
    svc.metrics.group(ApiMetrics).rate_limited.labels(principal.kind.value).inc()
    if decision.report:
        log.warning("rate_limited", principal=principal.label)
        await svc.record_event("rate_limited", principal=principal.label)
    raise TooManyRequestsError(
        f"more than {limit.requests_per_second:g} requests per second (burst {limit.burst}); "
        "slow down",
        retry_after_s=decision.retry_after_s,
    )
