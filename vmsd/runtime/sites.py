"""The daemon's two HTTP listeners: the control API's site and the MediaMTX hooks listener,
whose auth endpoint answers from an AuthContext built once per registry snapshot."""

from __future__ import annotations

import functools
from collections.abc import Callable

from aiohttp import web

from vmsd.access.damping import FailureDamper
from vmsd.access.derive import synthetic_publish_password
from vmsd.access.grants import ReaderGrants
from vmsd.access.mediamtx_auth import AuthContext
from vmsd.access.roles import Role
from vmsd.access.tokens import TokenRegistry
from vmsd.api.middleware import security_headers
from vmsd.cameras.registry import CameraRegistry
from vmsd.config.schema import Config

HTTP_STOP_S = 5.0


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    app.on_response_prepare.append(security_headers)  # one place for both listeners
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=HTTP_STOP_S, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner


def build_damper(config: Config) -> FailureDamper:
    mm = config.mediamtx
    return FailureDamper(mm.auth_fail_limit, mm.auth_fail_window_seconds, mm.auth_block_seconds)


def auth_context_factory(
    cameras: CameraRegistry,
    tokens: TokenRegistry,
    hook_secret: str,
    internal_password: str,
    grants: ReaderGrants,
) -> Callable[[], AuthContext]:
    def token_role(token: str) -> Role | None:
        principal = tokens.lookup(token)
        return principal.role if principal is not None else None

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
                        token_role,
                        internal_password,
                        functools.partial(synthetic_publish_password, hook_secret),
                        grants.allows_read,
                    ),
                )
            ]
        return cached[0][1]

    return context
