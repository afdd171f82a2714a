"""The MediaMTX-facing listener: auth requests and availability hooks.

A separate aiohttp app on its own loopback listener: MediaMTX calls the auth endpoint
synchronously, over a new TCP connection each time, for every client (reference/mediamtx.md),
so it carries none of the API's middleware, answers from memory, and fails closed. Every URL
carries the per-install secret (`?key=`), which MediaMTX has in its authHTTPAddress.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from vmsd.access.damping import FailureDamper
from vmsd.access.mediamtx_auth import AuthContext, Decision, decide, parse_auth_request
from vmsd.api.metrics import ApiMetrics
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.registry import CameraRegistry
from vmsd.core.log import get_logger
from vmsd.core.names import CAMERA_NAME_PATTERN

LOGGER_NAME = "vmsd.hooks"
log = get_logger(LOGGER_NAME)
# The hot path asks the level first: a debug call that is filtered out still costs a trip
# through structlog's processors (measured 2.2 us of the ~30 us a request costs).
_stdlib_log = logging.getLogger(LOGGER_NAME)

_CAMERA_NAME = re.compile(CAMERA_NAME_PATTERN)
_CREDENTIAL_FAILURES = frozenset({"bad_credentials", "bad_internal_credential", "bad_reader_grant"})
MAX_HOOK_BODY_BYTES = 64 * 1024


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

    def count_auth(self, action: str, result: str) -> None:
        inc = self.auth_counters.get((action, result))
        if inc is None:
            inc = self.metrics.auth_requests.labels(action=action, result=result).inc
            self.auth_counters[(action, result)] = inc
        inc()


HOOKS = web.AppKey("hooks", HookServices)


def _authorized(request: web.Request, svc: HookServices) -> bool:
    return hmac.compare_digest(request.query.get("key", "").encode(), svc.secret.encode())


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
    return web.Response(status=401)


async def _decide(request: web.Request, svc: HookServices) -> tuple[Decision, str, str]:
    """Fail closed: a bad secret, a malformed body or an error in the decision is a denial."""
    if not _authorized(request, svc):
        return Decision(False, "bad_hook_key"), "unknown", request.remote or ""
    try:
        body = await request.content.read(MAX_HOOK_BODY_BYTES + 1)
        if len(body) > MAX_HOOK_BODY_BYTES:
            return Decision(False, "body_too_large"), "unknown", request.remote or ""
        req = parse_auth_request(body)
    except ValueError as err:
        return Decision(False, f"malformed: {err}"), "unknown", request.remote or ""
    action = req.action if req.action in _ACTIONS else "unknown"
    try:
        decision = decide(req, svc.auth_context())
    except Exception:  # the one place a bug must become a denial, not a 500
        log.exception("auth_decision_failed", action=action)
        return Decision(False, "internal_error"), action, req.ip
    # vmsd's own credentials (per start, per run) are unguessable: a block of the IP they come
    # from (loopback) must not stop the recorders or the test-pattern publishers.
    if decision.reason not in _OWN_CREDENTIALS and svc.damper.blocked(req.ip):
        return Decision(False, "blocked"), action, req.ip
    return decision, action, req.ip


_ACTIONS = frozenset({"publish", "read", "playback", "api", "metrics", "pprof"})
_OWN_CREDENTIALS = frozenset({"internal", "synthetic_publisher", "reader_grant"})


def _availability(available: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    hook = "available" if available else "unavailable"

    async def handler(request: web.Request) -> web.Response:
        svc = request.app[HOOKS]
        if not _authorized(request, svc):
            return web.json_response({"error": "bad hook key"}, status=401)
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        path = data.get("path") if isinstance(data, dict) else None
        if not isinstance(path, str) or not _CAMERA_NAME.match(path):
            return web.json_response({"error": "path must be a camera name"}, status=422)
        source_type = data.get("source_type")
        svc.metrics.hooks.labels(hook=hook).inc()
        log.debug("mediamtx_hook", hook=hook, camera=path, source_type=source_type)
        if path not in svc.registry.cameras:
            return web.json_response({"error": f"no camera named {path!r}"}, status=404)
        # Idempotent: a repeated report is no transition (hooks fire back to back on flaps).
        await svc.live.report(path, available, f"hook_{hook}")
        return web.Response(status=204)

    return handler


def create_hooks_app(svc: HookServices) -> web.Application:
    app = web.Application(client_max_size=MAX_HOOK_BODY_BYTES)
    app[HOOKS] = svc
    app.router.add_post("/hooks/mediamtx/auth", auth)
    app.router.add_post("/hooks/mediamtx/available", _availability(True))
    app.router.add_post("/hooks/mediamtx/unavailable", _availability(False))
    return app
