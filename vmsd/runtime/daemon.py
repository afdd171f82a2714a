"""The composition root: builds every component, starts them in order, stops them in reverse.

Start: state-dir lock -> preflight (binaries, listeners probed, storage roots prepared) ->
database -> event bus, webhooks -> token and user registries -> camera registry (config
synced) -> hook listener (not with MediaMTX off) -> MediaMTX config written -> leftover
recorders ended, journal replayed, index reconciled with the disk -> HTTP site -> READY=1 ->
every long-running component runs under the one Supervisor (a failure is logged, shown on
/readyz, backed off and restarted; it never stops the others), and the heartbeat proves the
loop runs.
A failure to start exits the process: a ConfigError with 78, a StartupError with its own
status (vmsd.runtime.preflight), anything else with 1.

Stop: not ready -> recorders finalise their segments -> index drained -> components cancelled
-> daemon_stopped recorded -> HTTP -> hooks -> events drained -> webhooks -> database, each
stage under its own budget (vmsd.runtime.stop.STOP_BUDGET_S), whose sum stays below the
unit's TimeoutStopSec=90.
A second SIGINT skips to cancellation.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
from collections.abc import Awaitable, Callable

from vmsd import __version__
from vmsd.access.audit_log import AuditLog
from vmsd.access.audit_prune import AuditPruner
from vmsd.access.grants import LIVE_USER_PREFIX, READER_USER_PREFIX, Grants
from vmsd.access.metrics import AccessMetrics
from vmsd.access.secrets import (
    HOOK_SECRET_FILE_NAME,
    CredentialCipher,
    credential_key,
    load_or_create_hook_secret,
)
from vmsd.access.session_count import SessionCount
from vmsd.access.tokens import TokenRegistry
from vmsd.cameras.reachability import ReachabilityChecker
from vmsd.config.load import ConfigHolder
from vmsd.config.mediamtx import MediaMtxMode
from vmsd.config.schema import Config
from vmsd.core.errors import StoreError
from vmsd.core.health import Health, Phase
from vmsd.core.log import get_logger
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import EventBus
from vmsd.events.history import EventHistory
from vmsd.events.webhooks import WebhookNotifier
from vmsd.mediamtx.controller import MediaMtxController, effective_mode
from vmsd.recorder.inputs import INPUT_DIR_NAME, ReaderInputs
from vmsd.recorder.prober import StreamProber
from vmsd.recorder.roots import prepare_roots
from vmsd.recorder.snapshot import Snapshots
from vmsd.runtime.apps import build_api_app, build_hooks_app
from vmsd.runtime.database import Database
from vmsd.runtime.groups import CoreGroup, MediaGroup, RecordingGroup
from vmsd.runtime.heartbeat import Heartbeat
from vmsd.runtime.metrics import RuntimeMetrics
from vmsd.runtime.preflight import (
    api_listener,
    api_url,
    database_failure,
    ffmpeg_binary,
    hooks_listener,
    preflight,
    take_state_dir,
)
from vmsd.runtime.reload import Reloadable, Reloader
from vmsd.runtime.signals import install_signal_handlers
from vmsd.runtime.sites import start_site
from vmsd.runtime.statelock import StateDirLock
from vmsd.runtime.stop import stop_stage
from vmsd.runtime.systemd import SystemdNotifier
from vmsd.runtime.tls import ApiTls
from vmsd.runtime.wiring import (
    RecordingParts,
    build_accounts,
    build_cameras,
    build_metrics,
    build_recording,
    start_cameras,
    start_recording,
)
from vmsd.store.audit import AuditStore
from vmsd.store.events import EventStore
from vmsd.store.tokens import TokenStore
from vmsd.system.children import child_processes
from vmsd.system.collector import SystemCollector
from vmsd.system.gpu import gpu_provider
from vmsd.system.sampler import SystemSampler

log = get_logger("vmsd.daemon")

EVENT_JOURNAL_NAME = "event-journal.jsonl"

class _StopRequested(Exception):
    """Raised inside the root TaskGroup to cancel every background task on stop."""


Component = tuple[str, Callable[[], Awaitable[None]]]


class Daemon:
    def __init__(self, holder: ConfigHolder, notifier: SystemdNotifier | None = None) -> None:
        self._holder = holder
        self._notifier = notifier or SystemdNotifier()
        self._metrics = build_metrics()
        self._runtime_metrics = self._metrics.group(RuntimeMetrics)
        self._health = Health(self._metrics)
        self._supervisor = Supervisor(self._health)
        self._heartbeat = Heartbeat(self._metrics, self._notifier, self._supervisor.alive)
        self._health.attach_liveness(self._heartbeat.live)
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._reloader = Reloader(holder, self._notifier, self._metrics)

    @property
    def config(self) -> Config:
        return self._holder.current

    async def run(self) -> None:
        """Runs until SIGTERM/SIGINT; raises on a failure to start. Every stage pushes its
        stop onto the stack, so a stop (or a failure to start) unwinds in reverse order."""
        install_signal_handlers(self._stop, self._reload)
        config = self.config
        async with contextlib.AsyncExitStack() as stack:
            lock = StateDirLock(config.state_dir, holder="vmsd daemon")
            take_state_dir(lock)
            stack.callback(lock.release)
            ffmpeg = await self._preflight(config)
            core = await self._start_core(stack, config)
            media = await self._start_media(stack, config, core)
            rec = await self._start_recording(config, core, media, ffmpeg)
            await self._start_http(stack, config, core, media, rec)
            stack.push_async_callback(self._record_stopped, core.events)
            await self._serve(config, self._components(core, media, rec), rec.parts, core.events)
        log.info("daemon_stopped")

    async def _preflight(self, config: Config) -> str:
        """What needs no database, checked before it starts; returns the FFmpeg binary."""
        ffmpeg = ffmpeg_binary(config)
        await asyncio.to_thread(preflight, config)
        if config.server.tls.enabled:  # a bad certificate fails the start before the database
            self._reloader.tls = await asyncio.to_thread(ApiTls, config.server.tls)
        await asyncio.to_thread(prepare_roots, config.storage.paths, config.state_dir)
        return ffmpeg

    async def _start_core(self, stack: contextlib.AsyncExitStack, config: Config) -> CoreGroup:
        """The database, the event bus and its webhooks, the token registry."""
        self._notifier.status("starting database")
        database = Database(config, self._health)
        stack.push_async_callback(stop_stage, "database", database.stop)
        try:
            await database.start()
        except StoreError as err:
            raise database_failure(config, err) from err
        events = EventBus(
            EventStore(database.pool), config.state_dir / EVENT_JOURNAL_NAME, self._metrics
        )
        await events.start()
        # Started first, so startup events (recovered segments...) are delivered too.
        webhooks = WebhookNotifier(config.notifications, events, self._metrics, self._supervisor)
        await webhooks.start()
        # Stop runs last-in first-out: every event recorded so far reaches the table and the
        # listeners (daemon_stopped included), then the webhooks get their last seconds to
        # deliver, then the database stops.
        stack.push_async_callback(stop_stage, "webhooks", webhooks.stop)
        stack.push_async_callback(stop_stage, "events", events.drain)
        history = EventHistory(self._holder, EventStore(database.pool), events)
        token_store = TokenStore(database.pool)
        tokens = TokenRegistry(database.pool, token_store)
        await tokens.refresh()
        audit = AuditLog(AuditStore(database.pool), self._metrics)
        accounts = build_accounts(database.pool, self._holder, self._metrics, events.record)
        await accounts.registry.refresh()
        return CoreGroup(database, events, webhooks, history, token_store, tokens, audit, accounts)

    async def _start_media(
        self, stack: contextlib.AsyncExitStack, config: Config, core: CoreGroup
    ) -> MediaGroup:
        """The cameras, the hooks listener, the MediaMTX configuration written."""
        self._notifier.status("loading cameras")
        pool = core.database.pool
        cipher = CredentialCipher(credential_key(config))
        cams = build_cameras(
            pool,
            cipher,
            self._metrics,
            core.events.record,
            self._health,
            accepts_publishers=effective_mode(config) is not MediaMtxMode.OFF,
        )
        await start_cameras(cams, config)
        hook_secret = load_or_create_hook_secret(config.state_dir / HOOK_SECRET_FILE_NAME)
        # vmsd's own MediaMTX API calls: a new credential at every start. Readers get grants.
        internal_password = secrets.token_urlsafe(24)
        grants = Grants(READER_USER_PREFIX)
        live_grants = Grants(LIVE_USER_PREFIX, max_grants=config.console.max_live_sessions)
        mediamtx = MediaMtxController(
            config,
            cams.registry,
            cams.live,
            self._health,
            self._metrics,
            hook_secret=hook_secret,
            internal_password=internal_password,
        )
        hooks_app = build_hooks_app(
            config,
            core,
            cams,
            self._metrics,
            hook_secret=hook_secret,
            internal_password=internal_password,
            grants=grants,
            live_grants=live_grants,
        )
        # Before MediaMTX starts: its first act is to ask the auth endpoint. With MediaMTX off
        # nothing would call it, so nothing listens.
        listener = hooks_listener(config)
        if listener is not None:
            hooks = await start_site(hooks_app, listener)
            stack.push_async_callback(stop_stage, "hooks", hooks.cleanup)
        self._notifier.status("writing the MediaMTX configuration")
        await mediamtx.start()
        return MediaGroup(cams, mediamtx, grants, live_grants)

    async def _start_recording(
        self, config: Config, core: CoreGroup, media: MediaGroup, ffmpeg: str
    ) -> RecordingGroup:
        """Recovery first, then the recorders' parts; snapshots, probes; the system sampler."""
        self._notifier.status("reconciling recordings")
        mediamtx = media.mediamtx
        via_mediamtx = mediamtx.mode is not MediaMtxMode.OFF
        inputs = ReaderInputs(
            config.state_dir / INPUT_DIR_NAME, media.grants if via_mediamtx else None
        )
        await asyncio.to_thread(inputs.prepare)
        parts = build_recording(
            self._holder,
            core.database.pool,
            media.cameras,
            self._metrics,
            core.events.record,
            self._supervisor,
            ffmpeg=ffmpeg,
            input_for=mediamtx.reader_input,
            inputs=inputs,
            via_mediamtx=via_mediamtx,
        )
        parts.fleet.roots_prepared(config.storage.paths)
        await start_recording(parts, config, ffmpeg, core.events.record)
        snapshots = Snapshots(
            ffmpeg,
            mediamtx.reader_input,
            inputs,
            cache_s=config.recording.snapshot_cache_seconds,
            timeout_s=config.recording.snapshot_timeout_seconds,
        )
        probes = StreamProber(
            self._holder,
            ffmpeg,
            inputs,
            mediamtx.reader_input,
            via_mediamtx=via_mediamtx,
            max_concurrent=config.recording.probe_max_concurrent,
        )
        self._reloader.reloadable = Reloadable(
            media.cameras.service, mediamtx, parts.fleet, core.webhooks
        )
        registry, database = media.cameras.registry, core.database
        sampler = SystemSampler(
            self._holder,
            lambda: child_processes(registry, parts.fleet, mediamtx.pid, database.embedded_pid),
            gpu_provider(config.system.gpu),
        )
        await sampler.start()
        self._metrics.registry.register(SystemCollector(sampler.latest))
        return RecordingGroup(parts, snapshots, sampler, probes)

    async def _start_http(
        self,
        stack: contextlib.AsyncExitStack,
        config: Config,
        core: CoreGroup,
        media: MediaGroup,
        rec: RecordingGroup,
    ) -> None:
        app = build_api_app(self._holder, self._health, self._metrics, config, core, media, rec)
        tls = self._reloader.tls
        runner = await start_site(app, api_listener(config), tls.context if tls else None)
        stack.push_async_callback(stop_stage, "http", runner.cleanup)

    def _components(
        self, core: CoreGroup, media: MediaGroup, rec: RecordingGroup
    ) -> list[Component]:
        """Every long-running component, each run under the supervisor."""
        cams, parts = media.cameras, rec.parts
        # Without MediaMTX nothing but a recorder reads a camera: a TCP check for the others.
        unread: list[Component] = []
        if media.mediamtx.mode is MediaMtxMode.OFF:
            unread = [("camera_reachability", ReachabilityChecker(cams.registry, cams.live).run)]
        return [
            *unread,
            ("database_watch", core.database.run),
            ("token_registry", core.tokens.run),
            ("user_registry", core.accounts.registry.run),
            (
                "session_count",
                SessionCount(core.accounts.sessions, self._metrics.group(AccessMetrics)).run,
            ),
            ("camera_registry", cams.registry.run),
            ("camera_states", functools.partial(cams.live.follow, cams.registry)),
            ("mediamtx", functools.partial(media.mediamtx.run, self._supervisor)),
            ("segment_index", parts.index.run),
            ("recorder_fleet", parts.fleet.run),
            ("retention", parts.retention.run),
            ("exports", parts.exports.run),
            ("system_sampler", rec.sampler.run),
            ("event_history", core.history.run),
            ("audit_retention", AuditPruner(self._holder, core.audit).run),
            ("event_bus", core.events.run),
            (
                "reloads",
                functools.partial(self._reloader.run, self._reload, core.events, core.audit),
            ),
        ]

    async def _serve(
        self, config: Config, components: list[Component], rec: RecordingParts, events: EventBus
    ) -> None:
        """Ready, then every component supervised until a stop; then the orderly first half
        of the stop: recorders finalise their open segments, the index takes every one of
        them, then every other component is cancelled."""
        self._health.set_phase(Phase.READY)
        self._runtime_metrics.start_time.set(time.time())
        await events.record("daemon_started", version=__version__)
        url = api_url(config)
        self._notifier.ready(f"serving on {url}")
        log.info(
            "daemon_ready",
            host=config.server.host,
            port=config.server.port,
            url=url,
            version=__version__,
        )
        started = time.monotonic()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._heartbeat.run())
                for name, run in components:
                    tg.create_task(self._supervisor.run(name, run), name=name)
                await self._stop.wait()
                self._health.set_phase(Phase.STOPPING)
                self._notifier.stopping()
                await stop_stage("recorders", rec.fleet.stop)
                await stop_stage("index", rec.index.wait_idle)
                started = time.monotonic()
                raise _StopRequested
        except* _StopRequested:
            pass
        log.info(
            "stop_stage_done",
            stage="components",
            duration_s=round(time.monotonic() - started, 3),
        )

    async def _record_stopped(self, events: EventBus) -> None:
        """Runs on every way out once the daemon was up: a failure, a stop, a cancellation."""
        log.info("daemon_stopping")
        await stop_stage("daemon_stopped", functools.partial(events.record, "daemon_stopped"))
