"""SIGHUP: the new file loaded, checked and applied; and what a reload applies and what waits
for a restart, in one table over the config model.

Every setting of the model is named here, by itself or through its section, as either
`RELOADED` (the component reads it from the ConfigHolder or is reconfigured on reload) or
`RESTART_ONLY` (read once at start). A test walks the model and fails on a key in neither.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from vmsd.access.audit import SYSTEM
from vmsd.access.audit_log import OK, AuditLog
from vmsd.cameras.service import CameraService
from vmsd.config.load import ConfigHolder, load_config
from vmsd.config.schema import Config
from vmsd.core.errors import ConfigError, VmsdError, describe_error
from vmsd.core.log import configure_logging, get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.redact import redact_text
from vmsd.events.bus import EventBus
from vmsd.events.webhooks import WebhookNotifier
from vmsd.mediamtx.controller import MediaMtxController
from vmsd.recorder.fleet import RecorderFleet
from vmsd.runtime.metrics import RuntimeMetrics
from vmsd.runtime.systemd import SystemdNotifier
from vmsd.runtime.tls import ApiTls

log = get_logger("vmsd.daemon")
RELOAD_ACTION = "config.reload"
FAILED = "failed"

# Read once at start: a reload that changes one logs `config_reload_restart_needed` with it.
RESTART_ONLY = frozenset(
    {
        "server.host",
        "server.port",
        "server.max_body_bytes",  # aiohttp's client_max_size, fixed when the app is built
        "state_dir",
        "database",
        "secrets",
        "mediamtx.mode",
        "mediamtx.binary",
        "mediamtx.config_path",
        "mediamtx.api_port",
        "mediamtx.hooks_host",
        "mediamtx.hooks_port",
        "mediamtx.auth_fail_limit",
        "mediamtx.auth_fail_window_seconds",
        "mediamtx.auth_block_seconds",
        "ffmpeg.binary",  # resolved once; recorders, snapshots and exports share it
        "recording.snapshot_cache_seconds",  # the snapshot cache is built at start
        "recording.snapshot_timeout_seconds",
        "recording.probe_max_concurrent",  # the probes' limit is set at start
        "system.gpu",  # the GPU provider is chosen once
        "auth.password_hash",  # the argon2 hasher is built at start
        "console.max_live_sessions",  # the live sessions' and grants' tables are sized at start
    }
)

# Applied by a reload: read through the ConfigHolder, or re-applied by the reload itself
# (cameras synced, MediaMTX re-rendered, recorders reconciled, webhooks re-matched, logging).
RELOADED = frozenset(
    {
        "server.open_endpoints",
        # The certificate and key are re-read (runtime.tls); turning TLS on or off needs a
        # restart (the listener is made once), and a reload says so.
        "server.tls",
        "auth.rate_limit",  # read at each request
        "auth.links",  # read at each link made
        "storage",
        "mediamtx.base_config",
        "mediamtx.rtsp_port",
        "mediamtx.metrics_port",
        "mediamtx.hook_names",
        "mediamtx.poll_interval_seconds",
        "recording.segment_seconds",
        "recording.format",
        "recording.stall_seconds",
        "recording.audio",
        "recording.retry_max_seconds",
        "recording.unauthorized_retry_seconds",
        "recording.probe_timeout_seconds",  # read by each probe
        "retention",
        "exports",
        "playback",  # read at each playback
        "events",
        "audit",  # read at each prune pass
        "notifications",
        "system.sample_interval_seconds",
        "cameras",
        "log",
        "auth.sessions",  # read at each login and each session check
        "auth.login",  # read at each login
        "auth.verdict_cache",  # read as each verdict is kept
        # MediaMTX re-rendered (a changed listener restarts its paths); the WHEP proxy reads
        # them at each request.
        "console.live_view",
        "console.webrtc",
        "console.live_credential_seconds",  # read at each live session's start
    }
)


def classification(key: str) -> str | None:
    """'restart', 'reload' or None (unclassified) for a dotted key, through its sections."""
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        prefix = ".".join(parts[:depth])
        if prefix in RESTART_ONLY:
            return "restart"
        if prefix in RELOADED:
            return "reload"
    return None


def changed_restart_only_keys(old: Config, new: Config) -> list[str]:
    """The restart-only settings whose value differs between two configurations."""
    changed = []
    for key in sorted(RESTART_ONLY):
        a: object = old
        b: object = new
        for part in key.split("."):
            a, b = getattr(a, part), getattr(b, part)
        if a != b:
            changed.append(key)
    return changed


@dataclass(frozen=True, slots=True)
class Reloadable:
    """What a SIGHUP re-applies: the file's cameras, the MediaMTX rendering, the recorders,
    the webhooks."""

    cameras: CameraService
    mediamtx: MediaMtxController
    recorders: RecorderFleet
    webhooks: WebhookNotifier

    async def apply(self, config: Config) -> None:
        try:
            await self.cameras.sync_config(config.cameras)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, VmsdError) as err:
            # The rest of the reload stands; the next SIGHUP or restart retries the sync.
            log.error("camera_sync_failed", error=str(err))
        await self.mediamtx.reconfigure(config)
        self.recorders.reconfigure()
        await self.webhooks.apply(config.notifications)


class Reloader:
    """Applies each SIGHUP in turn. An invalid file is rejected and the old config stays in
    force; a valid one replaces it as a whole, and the restart-only keys it changes are
    named."""

    def __init__(self, holder: ConfigHolder, notifier: SystemdNotifier, metrics: Metrics) -> None:
        self._holder = holder
        self._notifier = notifier
        self._runtime_metrics = metrics.group(RuntimeMetrics)
        self.reloadable: Reloadable | None = None  # set once the daemon has its parts
        self.tls: ApiTls | None = None  # the API listener's TLS, when it serves HTTPS

    async def run(self, requested: asyncio.Event, events: EventBus, audit: AuditLog) -> None:
        while True:
            await requested.wait()
            requested.clear()
            await self.reload(events, audit)

    async def reload(self, events: EventBus, audit: AuditLog) -> None:
        """Each reload is one audit row (principal `system`): `ok`, or `failed` with the
        file's problems (the old config stays) or the error that ended the apply."""
        self._notifier.reloading()
        path = str(self._holder.path)
        try:
            new = await asyncio.to_thread(load_config, self._holder.path)
        except ConfigError as err:
            self._runtime_metrics.config_reloads.labels(result="rejected").inc()
            log.error("config_reload_rejected", path=path, problems=err.details)
            problems = [redact_text(str(p)) for p in err.details]
            rejected = {"path": path, "problems": problems}
            self._notifier.ready("config reload rejected; previous configuration in force")
            await audit.record(SYSTEM, RELOAD_ACTION, FAILED, details=rejected)
            return
        old = self._holder.current
        restart_needed = changed_restart_only_keys(old, new)
        if new.server.tls.enabled != (self.tls is not None):
            restart_needed.append("server.tls")  # on or off: the listener is made at start
        self._holder.current = new
        tls_error = await asyncio.to_thread(self.tls.reload, new.server.tls) if self.tls else None
        if new.log != old.log:
            configure_logging(new.log.level, new.log.format)
        self._runtime_metrics.config_reloads.labels(result="applied").inc()
        if restart_needed:
            log.warning("config_reload_restart_needed", keys=restart_needed)
        details: dict[str, object] = {"path": path, "restart_needed": restart_needed}
        if self.reloadable is not None:
            try:
                await self.reloadable.apply(new)
            except Exception as err:  # the supervisor logs it and restarts the reloads
                error = {"error": redact_text(describe_error(err))}
                await audit.record(SYSTEM, RELOAD_ACTION, FAILED, details={**details, **error})
                raise
        log.info("config_reloaded", path=path)
        kept = {"tls_error": tls_error} if tls_error else {}
        await events.record("config_reloaded", restart_needed=restart_needed, **kept)
        if tls_error:
            self._notifier.ready("configuration reloaded; the TLS certificate was not (see log)")
        else:
            self._notifier.ready("configuration reloaded")
        # After READY: systemd's reload does not wait on a database that is away (3 s).
        await audit.record(SYSTEM, RELOAD_ACTION, OK, details={**details, **kept})
