"""The daemon's two HTTP listeners: the control API's site and the MediaMTX hooks listener,
whose auth endpoint answers from an AuthContext built once per registry snapshot."""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import ssl
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from vmsd.access.damping import FailureDamper
from vmsd.access.derive import synthetic_publish_password
from vmsd.access.grants import Grants
from vmsd.access.mediamtx_auth import AuthContext
from vmsd.access.tokens import TokenRegistry
from vmsd.access.users import UserRegistry
from vmsd.api.hooks import CONNECTION_LIMITS, ConnectionLimits
from vmsd.api.middleware import security_headers
from vmsd.cameras.registry import CameraRegistry
from vmsd.config.schema import Config
from vmsd.runtime.preflight import Listener, bind_failure, port_holder

HTTP_STOP_S = 5.0
DEFAULT_LIMITS = ConnectionLimits(linger_s=10.0, idle_s=75.0)  # aiohttp's own defaults


class _ClientErrors(logging.Filter):
    """aiohttp logs a request it cannot parse (request line, header, chunked framing) as an
    error with a traceback, whose locals hold the raw request line: the hooks' `?key=` secret
    with it. A client's mistake is one line at info at most, with neither."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            if record.levelno > logging.INFO:
                if not _PROTOCOL_LOG.isEnabledFor(logging.INFO):
                    return False
                record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "http_bad_request", ()
            record.exc_info, record.exc_text = None, None
        return True


_PROTOCOL_LOG = logging.getLogger("vmsd.http")
_PROTOCOL_LOG.addFilter(_ClientErrors())


async def start_site(
    app: web.Application, listener: Listener, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    """Serving on `listener` (HTTPS with `ssl_context`), or a StartupError naming its
    configuration key."""
    app.on_response_prepare.append(security_headers)  # one place for both listeners
    limits = app.get(CONNECTION_LIMITS, DEFAULT_LIMITS)
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=HTTP_STOP_S,
        handle_signals=False,
        lingering_time=limits.linger_s,
        keepalive_timeout=limits.idle_s,
        logger=_PROTOCOL_LOG,
    )
    await runner.setup()
    site = web.TCPSite(
        runner, listener.host, listener.port, reuse_address=True, ssl_context=ssl_context
    )
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        in_use = err.errno == errno.EADDRINUSE
        holder = await asyncio.to_thread(port_holder, listener.port) if in_use else None
        raise bind_failure(err, listener, holder) from err
    return runner


def build_damper(config: Config) -> FailureDamper:
    mm = config.mediamtx
    return FailureDamper(mm.auth_fail_limit, mm.auth_fail_window_seconds, mm.auth_block_seconds)


def _no_user(_user: str, _password: str) -> None:
    return None


def _no_live(_user: str, _password: str, _path: str) -> bool:
    return False


def auth_context_factory(
    cameras: CameraRegistry,
    tokens: TokenRegistry,
    hook_secret: str,
    internal_password: str,
    grants: Grants,
    users: UserRegistry | None = None,
    live: Grants | None = None,
) -> Callable[[], AuthContext]:
    """`users`: user accounts' verdicts, from memory (the hook runs argon2 before deciding,
    once per credential: vmsd.api.hooks). `live`: the WHEP proxy's live-view grants."""
    user_principal = users.cached_principal if users is not None else _no_user
    cached: list[tuple[object, AuthContext]] = []

    def context() -> AuthContext:
        # The registry's snapshot at this moment (a concurrent change is seen by the next
        # request); built once per snapshot, not once per request: this is the hot path.
        snapshot = cameras.cameras
        if not cached or cached[0][0] is not snapshot:
            cached[:] = [
                (
                    snapshot,
                    AuthContext(
                        snapshot,
                        tokens.lookup,
                        internal_password,
                        functools.partial(synthetic_publish_password, hook_secret),
                        grants.allows_read,
                        user_principal,
                        live.allows_read if live is not None else _no_live,
                    ),
                )
            ]
        return cached[0][1]

    return context
