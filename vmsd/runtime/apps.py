"""The daemon's two aiohttp apps, built from its started components: the MediaMTX hooks app
(auth requests, availability hooks) and the control API's app."""

from __future__ import annotations

from aiohttp import web

from vmsd.access.creators import principal_resolver
from vmsd.access.grants import Grants
from vmsd.access.links import LinkSigner, link_key
from vmsd.access.ratelimit import RateLimiter
from vmsd.access.secrets import credential_key
from vmsd.access.tokens import TokenService
from vmsd.api.app import create_app
from vmsd.api.hooks import HookServices, create_hooks_app
from vmsd.api.metrics import ApiMetrics
from vmsd.api.services import ApiServices
from vmsd.config.load import ConfigHolder
from vmsd.config.mediamtx import MediaMtxMode
from vmsd.config.schema import Config
from vmsd.core.health import Health
from vmsd.core.metrics import Metrics
from vmsd.mediamtx.whep import LiveView
from vmsd.runtime.groups import CoreGroup, MediaGroup, RecordingGroup
from vmsd.runtime.sites import auth_context_factory, build_damper
from vmsd.runtime.wiring import CameraParts


def build_hooks_app(
    config: Config,
    core: CoreGroup,
    cams: CameraParts,
    metrics: Metrics,
    *,
    hook_secret: str,
    internal_password: str,
    grants: Grants,
    live_grants: Grants,
) -> web.Application:
    """What MediaMTX calls: its auth requests (readers with `grants`, the live view's with
    `live_grants`, vmsd's own calls with `internal_password`) and its availability hooks."""
    return create_hooks_app(
        HookServices(
            secret=hook_secret,
            auth_context=auth_context_factory(
                cams.registry,
                core.tokens,
                hook_secret,
                internal_password,
                grants,
                core.accounts.registry,
                live_grants,
            ),
            damper=build_damper(config),
            registry=cams.registry,
            live=cams.live,
            metrics=metrics.group(ApiMetrics),
            users=core.accounts.registry,
        )
    )


def build_api_app(
    holder: ConfigHolder,
    health: Health,
    metrics: Metrics,
    config: Config,
    core: CoreGroup,
    media: MediaGroup,
    rec: RecordingGroup,
) -> web.Application:
    """The control API over every service it answers from."""
    services = ApiServices(
        config=holder,
        health=health,
        metrics=metrics,
        token_registry=core.tokens,
        tokens=TokenService(core.token_store, core.tokens),
        check_database=core.database.check,
        cameras=media.cameras.service,
        live=media.cameras.live,
        recorders=rec.parts.fleet,
        snapshots=rec.snapshots,
        recordings=rec.parts.recordings,
        retention=rec.parts.retention,
        exports=rec.parts.exports,
        system=rec.sampler,
        events=core.history,
        probes=rec.probes,
        audit=core.audit,
        links=LinkSigner(link_key(credential_key(config))),
        resolve_principal=principal_resolver(
            core.tokens, users=core.accounts.registry.principal_by_id
        ),
        rate_limiter=RateLimiter(),
        record_event=core.events.record,
        accounts=core.accounts,
        playback=rec.parts.playback,
        live_view=LiveView(
            holder,
            media.live_grants,
            mediamtx_on=media.mediamtx.mode is not MediaMtxMode.OFF,
        ),
    )
    return create_app(services)
