"""The MediaMTX-facing listener: auth requests and availability hooks.

A separate aiohttp app on its own loopback listener: MediaMTX calls the auth endpoint
synchronously, over a new TCP connection each time, for every client (reference/mediamtx.md),
so it carries none of the API's middleware, answers from memory, and fails closed. Every URL
carries the per-install secret (`?key=`), which MediaMTX has in its authHTTPAddress.

Every body is read whole before the answer, bounded in size and in time; one that says it is
larger than the limit is refused before a byte of it is read, and the listener does not linger
to drain it (CONNECTION_LIMITS): the connection is closed. The auth endpoint answers with a
bare status (all MediaMTX reads); the hooks, and any other path or method here, with the API's
{"error": {...}} shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from vmsd.access.damping import FailureDamper
from vmsd.access.mediamtx_auth import (
    AuthContext,
    AuthRequest,
    Decision,
    decide,
    parse_auth_request,
)
from vmsd.access.roles import looks_like_token
from vmsd.access.users import UserRegistry, is_user_name
from vmsd.api.metrics import ApiMetrics
from vmsd.api.middleware import error_body
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.registry import CameraRegistry
from vmsd.core.errors import (
    BadRequestError,
    NotFoundError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationError,
    VmsdError,
)
from vmsd.core.jsonbody import load_json
from vmsd.core.log import get_logger
from vmsd.core.names import CAMERA_NAME_PATTERN, is_camera_name

LOGGER_NAME = "vmsd.hooks"
log = get_logger(LOGGER_NAME)
# The hot path asks the level first: a debug call that is filtered out still costs a trip
# through structlog's processors (measured 2.2 us of the ~30 us a request costs).
_stdlib_log = logging.getLogger(LOGGER_NAME)

_CREDENTIAL_FAILURES = frozenset(
    {"bad_credentials", "bad_internal_credential", "bad_reader_grant", "bad_live_grant"}
)
MAX_HOOK_BODY_BYTES = 64 * 1024
# MediaMTX and `vmsd hook` open a connection per request and write it whole at once, over
# loopback, and MediaMTX gives up after its readTimeout (10 s): a request still incomplete
# after this (its headers from the connect, its body from the headers) is stuck or hostile.
BODY_READ_TIMEOUT_S = 3.0
MAX_SOURCE_CHARS = 256  # MTX_SOURCE_TYPE ("rtspSource") and MTX_SOURCE_ID (a UUID or empty)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What an app asks of the listener serving it (runtime.sites.start_site)."""

    linger_s: float  # how long a body left unread after the answer is drained (aiohttp: 10 s)
    idle_s: float  # for the headers of a request, from the connect or the last answer (75 s)


CONNECTION_LIMITS = web.AppKey("connection_limits", ConnectionLimits)
# No lingering: aiohttp would otherwise keep reading, and discarding, a body refused unread.
HOOK_CONNECTION_LIMITS = ConnectionLimits(linger_s=0.0, idle_s=BODY_READ_TIMEOUT_S)
AUTH_PATH = "/hooks/mediamtx/auth"
HOOK_PATHS = {
    "available": "/hooks/mediamtx/available",
    "unavailable": "/hooks/mediamtx/unavailable",
}
_TOO_LARGE = f"the body is larger than {MAX_HOOK_BODY_BYTES} bytes"


class PayloadTooLargeError(VmsdError):
    code = "payload_too_large"
    http_status = 413


class RequestTimeoutError(VmsdError):
    code = "request_timeout"
    http_status = 408


# What the auth endpoint answers for a denial: 401, but for these refusals of the request.
_REFUSAL_STATUS = {PayloadTooLargeError.code: 413, RequestTimeoutError.code: 408}


@dataclass(frozen=True, slots=True)
class HookServices:
    secret: str
    auth_context: Callable[[], AuthContext]
    damper: FailureDamper
    registry: CameraRegistry
    live: LiveCameras
    metrics: ApiMetrics
    # Counter children by (action, result), bound once: a labels() lookup per request costs
    # more than the decision.
    auth_counters: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)
    # User accounts: a user:password is checked with argon2 once, then from memory.
    users: UserRegistry | None = None

    def count_auth(self, action: str, result: str) -> None:
        inc = self.auth_counters.get((action, result))
        if inc is None:
            inc = self.metrics.auth_requests.labels(action=action, result=result).inc
            self.auth_counters[(action, result)] = inc
        inc()


HOOKS = web.AppKey("hooks", HookServices)


def _authorized(request: web.Request, svc: HookServices) -> bool:
    """Exactly one `key`, equal to the secret: a repeated one is refused, not resolved (two
    readers of one URL may pick different ones)."""
    keys = request.query.getall("key", ())
    return len(keys) == 1 and hmac.compare_digest(keys[0].encode(), svc.secret.encode())


def _is_json(request: web.Request) -> bool:
    # MediaMTX (Go's http.Post) and `vmsd hook` send exactly this: no parse on the hot path.
    ctype = request.headers.get("Content-Type")
    return ctype == "application/json" or (
        ctype is not None and request.content_type == "application/json"
    )


async def read_body(request: web.Request) -> bytes:
    """The whole body, or a VmsdError: 413 when it says it is longer than MAX_HOOK_BODY_BYTES
    (before reading any of it) or a chunked one grows past it, 408 when it is not all there
    within BODY_READ_TIMEOUT_S (a truncated or slow body holds a handler no longer), 400 when
    the client goes away or garbles the chunked encoding mid-body."""
    length = request.content_length
    if length is not None and length > MAX_HOOK_BODY_BYTES:
        raise PayloadTooLargeError(_TOO_LARGE)
    try:
        if request.content.is_eof():
            # The usual case: it came with the headers. No timer, and no copy (request.read()
            # makes two): what is buffered is the body.
            body = request.content.read_nowait()
            if len(body) > MAX_HOOK_BODY_BYTES:  # chunked: no Content-Length said so
                raise PayloadTooLargeError(_TOO_LARGE)
            return body
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            return await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        raise PayloadTooLargeError(_TOO_LARGE) from err
    except TimeoutError as err:
        raise RequestTimeoutError(f"the body took longer than {BODY_READ_TIMEOUT_S:g} s") from err
    except (ConnectionError, HttpProcessingError) as err:
        raise BadRequestError("the body ended early, or its chunked encoding is broken") from err


async def auth(request: web.Request) -> web.Response:
    svc = request.app[HOOKS]
    started = time.perf_counter()
    decision, action, ip = await _decide(request, svc)
    result = "allow" if decision.allow else ("blocked" if decision.reason == "blocked" else "deny")
    svc.count_auth(action, result)
    svc.metrics.auth_duration.observe(time.perf_counter() - started)
    if decision.allow:
        if _stdlib_log.isEnabledFor(logging.DEBUG):
            log.debug("auth_allowed", action=action, ip=ip, principal=decision.principal)
        return web.Response(status=200)
    if decision.reason in _CREDENTIAL_FAILURES and svc.damper.record_failure(ip):
        svc.metrics.auth_blocked_ips.set(svc.damper.blocked_count)
        log.warning("auth_ip_blocked", ip=ip)
    # The first anonymous RTSP attempt is normal (the client then sends credentials); a blocked
    # IP was logged once when its block began, not once per attempt.
    level = logging.DEBUG if decision.reason in ("anonymous", "blocked") else logging.INFO
    if _stdlib_log.isEnabledFor(level):
        log.log(
            level,
            "auth_denied",
            action=action,
            ip=ip,
            reason=decision.reason,
            principal=decision.principal,
        )
    return web.Response(status=_REFUSAL_STATUS.get(decision.reason, 401))


async def _decide(request: web.Request, svc: HookServices) -> tuple[Decision, str, str]:
    """Fail closed: a refused body, a bad secret, another content type, a malformed body or
    an error in the decision is a denial."""
    try:
        body = await read_body(request)
    except VmsdError as err:
        return Decision(False, err.code), "unknown", request.remote or ""
    if not _authorized(request, svc):
        return Decision(False, "bad_hook_key"), "unknown", request.remote or ""
    if not _is_json(request):
        return Decision(False, "not_json"), "unknown", request.remote or ""
    try:
        req = parse_auth_request(body)
    except ValueError as err:
        return Decision(False, f"malformed: {err}"), "unknown", request.remote or ""
    action = req.action if req.action in _ACTIONS else "unknown"
    try:
        if svc.users is not None and _needs_password_check(req, svc, svc.users):
            await svc.users.verify(req.user, req.password)  # decide() reads its verdict
        decision = decide(req, svc.auth_context())
    except Exception:  # the one place a bug must become a denial, not a 500
        log.exception("auth_decision_failed", action=action)
        return Decision(False, "internal_error"), action, req.ip
    # vmsd's own credentials (per start, per run) are unguessable: a block of the IP they come
    # from (loopback) must not stop the recorders or the test-pattern publishers.
    if decision.reason not in _OWN_CREDENTIALS and svc.damper.blocked(req.ip):
        return Decision(False, "blocked"), action, req.ip
    return decision, action, req.ip


def _needs_password_check(req: AuthRequest, svc: HookServices, users: UserRegistry) -> bool:
    """A user account's name and a password with no kept verdict, from an address not
    blocked (a blocked one is refused anyway: no argon2 for it). Not an API token passed as
    the password, nor a publisher camera's own user name publishing (that camera's
    credential). A name no user has is verified too (a dummy argon2), so that the answer's
    time does not tell which names exist."""
    if not req.password or not is_user_name(req.user) or svc.damper.blocked(req.ip):
        return False
    if looks_like_token(req.password) and users.by_name(req.user) is None:
        return False  # a token as the password, with any user name: the token decides
    if req.action == "publish":
        camera = svc.registry.cameras.get(req.path)
        if camera is not None and camera.is_publisher and camera.username == req.user:
            return False
    return not users.has_verdict(req.user, req.password)


_ACTIONS = frozenset({"publish", "read", "playback", "api", "metrics", "pprof"})
# A live-view grant comes through vmsd's WHEP proxy, so from loopback too.
_OWN_CREDENTIALS = frozenset({"internal", "synthetic_publisher", "reader_grant", "live_grant"})


@dataclass(frozen=True, slots=True)
class AvailabilityReport:
    """What `vmsd hook` reports: MediaMTX's MTX_PATH, MTX_SOURCE_TYPE and MTX_SOURCE_ID."""

    path: str
    source_type: str
    source_id: str


def parse_availability(body: bytes) -> AvailabilityReport:
    """BadRequestError when the body is not strict JSON (vmsd.core.jsonbody); ValidationError,
    naming each field, when it is not an object with a camera name as `path` and, if present,
    short printable strings as `source_type` and `source_id`. No message echoes a value."""
    try:
        data: Any = load_json(body)
    except ValueError as err:
        raise BadRequestError(f"malformed JSON body: {err}") from err
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    problems: list[object] = []
    path = data.get("path")
    name = path if isinstance(path, str) and is_camera_name(path) else ""
    if not name:
        message = f"must be a camera name ({CAMERA_NAME_PATTERN}, not reserved)"
        problems.append({"field": "path", "message": message})
    sources: list[str] = []
    for key in ("source_type", "source_id"):
        value = data.get(key, "")
        # isprintable: no NUL, no control character, no lone surrogate from a \ud800 escape.
        if isinstance(value, str) and len(value) <= MAX_SOURCE_CHARS and value.isprintable():
            sources.append(value)
        else:
            message = f"must be a printable string of at most {MAX_SOURCE_CHARS} characters"
            problems.append({"field": key, "message": message})
    if problems:
        raise ValidationError("invalid hook report", problems)
    return AvailabilityReport(name, *sources)


def _error(err: VmsdError) -> web.Response:
    response = web.json_response(
        error_body(err.code, err.message, err.details), status=err.http_status
    )
    if err.http_status in (400, 408, 413):
        response.force_close()  # the rest of the request may still be on the wire
    return response


async def _read_report(request: web.Request, svc: HookServices) -> AvailabilityReport:
    body = await read_body(request)  # first, see _drain
    if not _authorized(request, svc):
        raise UnauthorizedError("bad hook key")
    if not _is_json(request):
        raise UnsupportedMediaTypeError("expected Content-Type application/json")
    return parse_availability(body)


def _availability(available: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    hook = "available" if available else "unavailable"

    async def handler(request: web.Request) -> web.Response:
        svc = request.app[HOOKS]
        try:
            report = await _read_report(request, svc)
            if report.path not in svc.registry.cameras:
                raise NotFoundError(f"no camera named {report.path!r}")
        except VmsdError as err:
            log.info("mediamtx_hook_refused", hook=hook, status=err.http_status, code=err.code)
            return _error(err)
        svc.metrics.hooks.labels(hook=hook).inc()
        log.debug("mediamtx_hook", hook=hook, camera=report.path, source_type=report.source_type)
        # Idempotent: a repeated report is no transition (hooks fire back to back on flaps).
        await svc.live.report(report.path, available, f"hook_{hook}")
        return web.Response(status=204)

    return handler


async def _drain(request: web.Request) -> None:
    """An answer given before the body is read would reset the connection (no lingering)."""
    with contextlib.suppress(VmsdError):
        await read_body(request)


async def _method_not_allowed(request: web.Request) -> web.Response:
    await _drain(request)
    return web.json_response(
        error_body("method_not_allowed", "only POST is allowed here"),
        status=405,
        headers={"Allow": "POST"},
    )


async def _not_found(request: web.Request) -> web.Response:
    await _drain(request)
    return _error(NotFoundError("no such endpoint on the MediaMTX hooks listener"))


def create_hooks_app(svc: HookServices) -> web.Application:
    app = web.Application(client_max_size=MAX_HOOK_BODY_BYTES)
    app[HOOKS] = svc
    app[CONNECTION_LIMITS] = HOOK_CONNECTION_LIMITS
    routes = [(AUTH_PATH, auth)] + [
        (path, _availability(hook == "available")) for hook, path in HOOK_PATHS.items()
    ]
    # POST first: a request resolves to the first route of its resource that fits, so "*"
    # only ever sees the other methods, and the catch-all only paths no route has.
    for path, handler in routes:
        app.router.add_post(path, handler)
        app.router.add_route("*", path, _method_not_allowed)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app
