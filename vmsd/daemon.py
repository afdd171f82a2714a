"""The composition root: builds every component, starts them in order, stops them in reverse.

Start: state-dir lock -> database -> token registry -> camera registry (config synced) -> hook
listener -> MediaMTX config written -> leftover recorders ended, journal replayed, index
reconciled with the disk -> HTTP site -> READY=1 -> MediaMTX, index and recorders run.
Stop: not ready -> recorders finalise their segments -> index drained -> background tasks
cancelled -> HTTP -> hooks -> database, each stage under its own timeout (STAGE_TIMEOUT_S); the
sum stays below the unit's TimeoutStopSec=90. A second SIGINT skips to cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from vmsd import __version__
from vmsd.api.app import create_app
from vmsd.api.hooks import HookServices, create_hooks_app
from vmsd.api.services import ApiServices
from vmsd.auth import Role
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.service import CameraService
from vmsd.cameras.state import CameraStates
from vmsd.config import Config, ConfigHolder, MediaMtxMode, load_config
from vmsd.database import Database
from vmsd.deletion import SegmentDeleter
from vmsd.errors import ConfigError, VmsdError
from vmsd.events.bus import EventBus, RecordEvent
from vmsd.events.history import EventHistory
from vmsd.events.webhooks import WebhookNotifier
from vmsd.exports import ExportService
from vmsd.ffmpeg import resolve_ffmpeg
from vmsd.health import Health, Phase
from vmsd.index import SegmentIndex
from vmsd.log import configure_logging, get_logger
from vmsd.mediamtx.authz import AuthContext
from vmsd.mediamtx.controller import MediaMtxController
from vmsd.mediamtx.damping import FailureDamper
from vmsd.metrics import Metrics
from vmsd.recorder.fleet import RecorderFleet
from vmsd.recorder.pidfile import end_leftovers
from vmsd.recorder.recovery import recover
from vmsd.recordings import RecordingsService
from vmsd.retention.service import RetentionService
from vmsd.secrets import (
    HOOK_SECRET_FILE_NAME,
    CredentialCipher,
    credential_key,
    load_or_create_hook_secret,
    synthetic_publish_password,
)
from vmsd.snapshot import Snapshots
from vmsd.statelock import StateDirLock
from vmsd.store.cameras import CameraStore
from vmsd.store.events import EventStore
from vmsd.store.exports import ExportStore
from vmsd.store.recordings import RecordingQueries, RecordingStore
from vmsd.store.tokens import TokenStore
from vmsd.system.children import child_processes
from vmsd.system.collector import SystemCollector
from vmsd.system.gpu import gpu_provider
from vmsd.system.sampler import SystemSampler
from vmsd.systemd import SystemdNotifier
from vmsd.tokens import TokenRegistry, TokenService

log = get_logger("vmsd.daemon")

HTTP_STOP_S = 5.0
STAGE_TIMEOUT_S = 20.0
# Settings read only at start; a reload that changes them is applied at the next restart.
EVENT_JOURNAL_NAME = "event-journal.jsonl"
RESTART_ONLY_KEYS = (
    "server.host",
    "server.port",
    "server.max_body_bytes",
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
)


@dataclass(frozen=True, slots=True)
class _Reloadable:
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
        self.mediamtx.reconfigure(config)
        self.recorders.reconfigure()
        await self.webhooks.apply(config.notifications)


@dataclass(frozen=True, slots=True)
class _Recording:
    index: SegmentIndex
    fleet: RecorderFleet
    retention: RetentionService
    recordings: RecordingsService
    exports: ExportService


class _StopRequested(Exception):
    """Raised inside the root TaskGroup to cancel every background task on stop."""


class Daemon:
    def __init__(self, holder: ConfigHolder, notifier: SystemdNotifier | None = None) -> None:
        self._holder = holder
        self._notifier = notifier or SystemdNotifier()
        self._metrics = Metrics()
        self._health = Health(self._metrics)
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._interrupts = 0
        self._reloadable: _Reloadable | None = None

    @property
    def config(self) -> Config:
        return self._holder.current

    async def run(self) -> None:
        """Runs until SIGTERM/SIGINT; raises on a failure to start."""
        self._install_signal_handlers()
        config = self.config
        async with contextlib.AsyncExitStack() as stack:
            lock = StateDirLock(config.state_dir, holder="vmsd daemon")
            lock.acquire()
            stack.callback(lock.release)
            self._notifier.status("starting database")

            database = Database(config, self._health)
            stack.push_async_callback(self._stage, "database", database.stop)
            await database.start()
            events = EventBus(
                EventStore(database.pool), config.state_dir / EVENT_JOURNAL_NAME, self._metrics
            )
            await events.start()
            # Started first, so startup events (recovered segments...) are delivered too.
            webhooks = WebhookNotifier(config.notifications, events, self._metrics)
            await webhooks.start()
            # Stop runs last-in first-out: every event recorded so far reaches the table and
            # the listeners (daemon_stopped included), then the webhooks get their last
            # seconds to deliver, then the database stops.
            stack.push_async_callback(self._stage, "webhooks", webhooks.stop)
            stack.push_async_callback(self._stage, "events", events.drain)
            record = events.record
            history = EventHistory(self._holder, EventStore(database.pool), events)
            token_store = TokenStore(database.pool)
            registry = TokenRegistry(database.pool, token_store)
            await registry.refresh()

            self._notifier.status("loading cameras")
            cameras, camera_service, live = await self._start_cameras(database.pool, config, record)
            hook_secret = load_or_create_hook_secret(config.state_dir / HOOK_SECRET_FILE_NAME)

            # vmsd's own readers and MediaMTX API calls: a new credential at every start.
            internal_password = secrets.token_urlsafe(24)
            mediamtx = MediaMtxController(
                config,
                cameras,
                live,
                self._health,
                self._metrics,
                hook_secret=hook_secret,
                internal_password=internal_password,
            )
            hooks_app = create_hooks_app(
                HookServices(
                    secret=hook_secret,
                    auth_context=_auth_context_factory(
                        cameras, registry, hook_secret, internal_password
                    ),
                    damper=_damper(config),
                    registry=cameras,
                    live=live,
                    metrics=self._metrics,
                )
            )
            # Before MediaMTX starts: its first act is to ask the auth endpoint.
            hooks_runner = await _start_site(
                hooks_app, config.mediamtx.hooks_host, config.mediamtx.hooks_port
            )
            stack.push_async_callback(self._stage, "hooks", hooks_runner.cleanup)
            self._notifier.status("writing the MediaMTX configuration")
            await mediamtx.start()

            self._notifier.status("reconciling recordings")
            ffmpeg = resolve_ffmpeg(config.ffmpeg.binary)
            rec = await self._start_recording(
                config, database.pool, cameras, live, mediamtx, ffmpeg, record
            )
            index, fleet, retention = rec.index, rec.fleet, rec.retention
            snapshots = Snapshots(
                ffmpeg,
                mediamtx.reader_input,
                cache_s=config.recording.snapshot_cache_seconds,
                timeout_s=config.recording.snapshot_timeout_seconds,
            )
            self._reloadable = _Reloadable(camera_service, mediamtx, fleet, webhooks)
            sampler = SystemSampler(
                self._holder,
                lambda: child_processes(cameras, fleet, mediamtx.pid, database.embedded_pid),
                gpu_provider(config.system.gpu),
            )
            await sampler.start()
            self._metrics.registry.register(SystemCollector(sampler.latest))

            runner = await _start_site(
                create_app(
                    ApiServices(
                        config=self._holder,
                        health=self._health,
                        metrics=self._metrics,
                        token_registry=registry,
                        tokens=TokenService(token_store, registry),
                        check_database=database.check,
                        cameras=camera_service,
                        live=live,
                        recorders=fleet,
                        snapshots=snapshots,
                        recordings=rec.recordings,
                        retention=retention,
                        exports=rec.exports,
                        system=sampler,
                        events=history,
                    )
                ),
                config.server.host,
                config.server.port,
            )
            stack.push_async_callback(self._stage, "http", runner.cleanup)

            self._health.set_phase(Phase.READY)
            self._metrics.start_time.set(time.time())
            await events.record("daemon_started", version=__version__)
            self._notifier.ready(f"serving on {config.server.host}:{config.server.port}")
            log.info(
                "daemon_ready",
                host=config.server.host,
                port=config.server.port,
                version=__version__,
            )

            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(database.run())
                    tg.create_task(registry.run())
                    tg.create_task(cameras.run())
                    tg.create_task(live.follow(cameras))
                    tg.create_task(mediamtx.run())
                    tg.create_task(index.run())
                    tg.create_task(fleet.run())
                    tg.create_task(retention.run())
                    tg.create_task(rec.exports.run())
                    tg.create_task(sampler.run())
                    tg.create_task(history.run())
                    tg.create_task(events.run())
                    tg.create_task(self._handle_reloads(events))
                    tg.create_task(self._watchdog())
                    await self._stop.wait()
                    # Orderly: stop accepting (not ready), recorders finalise their open
                    # segments, the index takes every one of them, then everything else ends.
                    self._health.set_phase(Phase.STOPPING)
                    self._notifier.stopping()
                    await self._stage("recorders", fleet.stop)
                    await self._stage("index", index.wait_idle)
                    raise _StopRequested
            except* _StopRequested:
                pass

            log.info("daemon_stopping")
            await events.record("daemon_stopped")
        log.info("daemon_stopped")

    async def _start_cameras(
        self, pool: asyncpg.Pool, config: Config, record: RecordEvent
    ) -> tuple[CameraRegistry, CameraService, LiveCameras]:
        """The registry in memory, the file's cameras synced into it, their live states."""
        cipher = CredentialCipher(credential_key(config))
        store = CameraStore(pool)
        registry = CameraRegistry(pool, store, cipher)
        service = CameraService(store, cipher, registry, record)
        await service.sync_config(config.cameras)
        live = LiveCameras(CameraStates(), self._metrics, record)
        await live.sync(registry.cameras)
        return registry, service, live

    async def _start_recording(
        self,
        config: Config,
        pool: asyncpg.Pool,
        cameras: CameraRegistry,
        live: LiveCameras,
        mediamtx: MediaMtxController,
        ffmpeg: str,
        record: RecordEvent,
    ) -> _Recording:
        """Leftover FFmpeg of a previous run ended, the journal replayed, the index reconciled
        with the disk: only then may new recorders write."""
        store = RecordingStore(pool)
        index = SegmentIndex(store, config.state_dir, self._metrics)
        fleet = RecorderFleet(
            self._holder,
            cameras,
            live,
            index,
            self._metrics,
            record,
            ffmpeg=ffmpeg,
            input_for=mediamtx.reader_input,
            via_mediamtx=mediamtx.mode is not MediaMtxMode.OFF,
        )
        await asyncio.to_thread(end_leftovers, fleet.pid_dir)
        await index.start()
        deleter = SegmentDeleter(store)
        await deleter.finish_interrupted()
        await recover(
            config.storage.paths, store, ffmpeg, record, exclude=await index.journal_paths()
        )
        queries = RecordingQueries(pool)
        exports = ExportService(self._holder, ExportStore(pool), queries, ffmpeg, record)
        await exports.start()
        retention = RetentionService(
            self._holder, store, deleter, cameras, self._metrics, record, exports.pinned
        )
        fleet.on_no_space(retention.kick)
        fleet.on_disk_space(retention.disk_space)
        recordings = RecordingsService(self._holder, queries, deleter)
        return _Recording(index, fleet, retention, recordings, exports)

    async def _stage(self, name: str, stop: Callable[[], Awaitable[None]]) -> None:
        started = time.monotonic()
        try:
            await asyncio.wait_for(stop(), STAGE_TIMEOUT_S)
        except TimeoutError:
            log.error("stop_stage_timeout", stage=name, timeout_s=STAGE_TIMEOUT_S)
        log.info("stop_stage_done", stage=name, duration_s=round(time.monotonic() - started, 3))

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        main_task = asyncio.current_task()
        assert main_task is not None

        def on_stop_signal(signame: str) -> None:
            self._interrupts += 1
            if self._interrupts > 1 and signame == "SIGINT":
                log.warning("second_interrupt_cancelling")
                main_task.cancel()
                return
            log.info("stop_requested", signal=signame)
            self._stop.set()

        loop.add_signal_handler(signal.SIGTERM, on_stop_signal, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, on_stop_signal, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)

    async def _handle_reloads(self, events: EventBus) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            await self.reload(events)

    async def reload(self, events: EventBus) -> None:
        """SIGHUP: an invalid file is rejected and the old config stays in force."""
        self._notifier.reloading()
        try:
            new = await asyncio.to_thread(load_config, self._holder.path)
        except ConfigError as err:
            self._metrics.config_reloads.labels(result="rejected").inc()
            log.error("config_reload_rejected", path=str(self._holder.path), problems=err.details)
            self._notifier.ready("config reload rejected; previous configuration in force")
            return
        old = self._holder.current
        restart_needed = changed_restart_only_keys(old, new)
        self._holder.current = new
        if new.log != old.log:
            configure_logging(new.log.level, new.log.format)
        self._metrics.config_reloads.labels(result="applied").inc()
        if restart_needed:
            log.warning("config_reload_restart_needed", keys=restart_needed)
        if self._reloadable is not None:
            await self._reloadable.apply(new)
        log.info("config_reloaded", path=str(self._holder.path))
        await events.record("config_reloaded", restart_needed=restart_needed)
        self._notifier.ready("configuration reloaded")

    async def _watchdog(self) -> None:
        interval = self._notifier.watchdog_interval_s
        if interval is None:
            return
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval)


async def _start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=HTTP_STOP_S, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner


def _damper(config: Config) -> FailureDamper:
    mm = config.mediamtx
    return FailureDamper(mm.auth_fail_limit, mm.auth_fail_window_seconds, mm.auth_block_seconds)


def _auth_context_factory(
    cameras: CameraRegistry, tokens: TokenRegistry, hook_secret: str, internal_password: str
) -> Callable[[], AuthContext]:
    def token_role(token: str) -> Role | None:
        principal = tokens.lookup(token)
        return principal.role if principal is not None else None

    def context() -> AuthContext:
        # The registry's snapshot at this moment: a concurrent change is seen by the next one.
        return AuthContext(
            cameras.cameras,
            token_role,
            internal_password,
            functools.partial(synthetic_publish_password, hook_secret),
        )

    return context


def changed_restart_only_keys(old: Config, new: Config) -> list[str]:
    changed = []
    for key in RESTART_ONLY_KEYS:
        a: object = old
        b: object = new
        for part in key.split("."):
            a, b = getattr(a, part), getattr(b, part)
        if a != b:
            changed.append(key)
    return changed
