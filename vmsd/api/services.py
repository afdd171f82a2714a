"""The collaborators the HTTP layer may call; one frozen object under one AppKey."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from vmsd.access.accounts import Accounts
from vmsd.access.audit_log import AuditLog
from vmsd.access.links import LinkSigner, ResolvePrincipal
from vmsd.access.ratelimit import RateLimiter
from vmsd.access.tokens import TokenRegistry, TokenService
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.service import CameraService
from vmsd.config.load import ConfigHolder
from vmsd.core.health import Health
from vmsd.core.metrics import Metrics
from vmsd.events.bus import RecordEvent
from vmsd.events.history import EventHistory
from vmsd.exports.service import ExportService
from vmsd.mediamtx.whep import LiveView
from vmsd.recorder.fleet import RecorderFleet
from vmsd.recorder.prober import StreamProber
from vmsd.recorder.snapshot import Snapshots
from vmsd.recordings.player import PlaybackService
from vmsd.recordings.service import RecordingsService
from vmsd.retention.service import RetentionService
from vmsd.system.sampler import SystemSampler


@dataclass(frozen=True, slots=True)
class ApiServices:
    config: ConfigHolder
    health: Health
    metrics: Metrics
    token_registry: TokenRegistry
    tokens: TokenService
    check_database: Callable[[], Awaitable[None]]
    cameras: CameraService
    live: LiveCameras
    recorders: RecorderFleet
    snapshots: Snapshots
    recordings: RecordingsService
    retention: RetentionService
    exports: ExportService
    system: SystemSampler
    events: EventHistory
    probes: StreamProber
    audit: AuditLog
    links: LinkSigner
    # The principal a link's creator is now (vmsd.access.creators.principal_resolver).
    resolve_principal: ResolvePrincipal
    rate_limiter: RateLimiter
    record_event: RecordEvent
    accounts: Accounts
    playback: PlaybackService
    live_view: LiveView  # the WHEP proxy's MediaMTX side (vmsd.api.whep)


SERVICES = web.AppKey("services", ApiServices)


def services(request: web.Request) -> ApiServices:
    return request.app[SERVICES]
