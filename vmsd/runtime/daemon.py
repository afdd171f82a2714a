"""The composition root: builds every component, starts them in order, stops them in reverse.

Start: state-dir lock -> database -> event bus, webhooks -> token registry -> camera registry
(config synced) -> hook listener -> MediaMTX config written -> leftover recorders ended,
journal replayed, index reconciled with the disk -> HTTP site -> READY=1 -> every long-running
component runs under the one Supervisor (a failure is logged, shown on /readyz, backed off and
restarted; it never stops the others), and the heartbeat proves the loop runs.
A failure to start exits the process (a ConfigError with 78).

Stop: not ready -> recorders finalise their segments -> index drained -> components cancelled
-> daemon_stopped recorded -> HTTP -> hooks -> events drained -> webhooks -> database, each
stage under its own budget (STOP_BUDGET_S), whose sum stays below the unit's TimeoutStopSec=90.
A second SIGINT skips to cancellation.
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
from vmsd.access.damping import FailureDamper
from vmsd.access.mediamtx_auth import AuthContext
from vmsd.access.roles import Role
from vmsd.access.secrets import (
    HOOK_SECRET_FILE_NAME,
    CredentialCipher,
    credential_key,
    load_or_create_hook_secret,
    synthetic_publish_password,
)
from vmsd.access.tokens import TokenRegistry, TokenService
from vmsd.api.app import create_app
from vmsd.api.hooks import HookServices, create_hooks_app
from vmsd.api.services import ApiServices
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.service import CameraService
from vmsd.config.load import ConfigHolder, load_config
from vmsd.config.schema import Config, MediaMtxMode
from vmsd.core.errors import ConfigError, VmsdError
from vmsd.core.health import Health, Phase
from vmsd.core.log import configure_logging, get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import EventBus
from vmsd.events.history import EventHistory
from vmsd.events.webhooks import WebhookNotifier
from vmsd.mediamtx.controller import MediaMtxController
from vmsd.recorder.binary import resolve_ffmpeg
from vmsd.recorder.fleet import RecorderFleet
from vmsd.recorder.snapshot import Snapshots
from vmsd.runtime.database import Database
from vmsd.runtime.heartbeat import Heartbeat
from vmsd.runtime.reload import changed_restart_only_keys
from vmsd.runtime.statelock import StateDirLock
from vmsd.runtime.systemd import SystemdNotifier
from vmsd.runtime.wiring import (
    RecordingParts,
    build_cameras,
    build_recording,
    start_cameras,
    start_recording,
)
from vmsd.store.events import EventStore
from vmsd.store.tokens import TokenStore
from vmsd.system.children import child_processes
from vmsd.system.collector import SystemCollector
from vmsd.system.gpu import gpu_provider
from vmsd.system.sampler import SystemSampler

log = get_logger("vmsd.daemon")

HTTP_STOP_S = 5.0
EVENT_JOURNAL_NAME = "event-journal.jsonl"
# Each stop stage's budget, in the order they run. Their sum (with the cancellation of the
# supervised components, bounded by their own stop code) stays below TimeoutStopSec=90 of
# systemd/vmsd.service; tests/integration/test_systemd_units.py checks it. Recorders:
# FFmpeg's quit grace (10 s) + SIGTERM grace (3 s) + the final segment's indexing window (3 s).
STOP_BUDGET_S = {
    "recorders": 20.0,
    "index": 5.0,
    "components": 10.0,
    "daemon_stopped": 3.0,
    "http": HTTP_STOP_S + 1.0,
    "hooks": 3.0,
    "events": 5.0,
    "webhooks": 5.0,
    "database": 20.0,
}


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
        await self.mediamtx.reconfigure(config)
        self.recorders.reconfigure()
        await self.webhooks.apply(config.notifications)


class _StopRequested(Exception):
    """Raised inside the root TaskGroup to cancel every background task on stop."""


Component = tuple[str, Callable[[], Awaitable[None]]]


class Daemon:
    def __init__(self, holder: ConfigHolder, notifier: SystemdNotifier | None = None) -> None:
        self._holder = holder
        self._notifier = notifier or SystemdNotifier()
        self._metrics = Metrics()
        self._health = Health(self._metrics)
        self._supervisor = Supervisor(self._health)
        self._heartbeat = Heartbeat(self._metrics, self._notifier, self._supervisor.alive)
        self._health.attach_liveness(self._heartbeat.live)
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
            webhooks = WebhookNotifier(
                config.notifications, events, self._metrics, self._supervisor
            )
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
            cipher = CredentialCipher(credential_key(config))
            cams = build_cameras(database.pool, cipher, self._metrics, record, self._health)
            await start_cameras(cams, config)
            hook_secret = load_or_create_hook_secret(config.state_dir / HOOK_SECRET_FILE_NAME)

            # vmsd's own readers and MediaMTX API calls: a new credential at every start.
            internal_password = secrets.token_urlsafe(24)
            mediamtx = MediaMtxController(
                config,
                cams.registry,
                cams.live,
                self._health,
                self._metrics,
                hook_secret=hook_secret,
                internal_password=internal_password,
            )
            hooks_app = create_hooks_app(
                HookServices(
                    secret=hook_secret,
                    auth_context=_auth_context_factory(
                        cams.registry, registry, hook_secret, internal_password
                    ),
                    damper=_damper(config),
                    registry=cams.registry,
                    live=cams.live,
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
            rec = build_recording(
                self._holder,
                database.pool,
                cams,
                self._metrics,
                record,
                self._supervisor,
                ffmpeg=ffmpeg,
                input_for=mediamtx.reader_input,
                via_mediamtx=mediamtx.mode is not MediaMtxMode.OFF,
            )
            await start_recording(rec, config, ffmpeg, record)
            snapshots = Snapshots(
                ffmpeg,
                mediamtx.reader_input,
                cache_s=config.recording.snapshot_cache_seconds,
                timeout_s=config.recording.snapshot_timeout_seconds,
            )
            self._reloadable = _Reloadable(cams.service, mediamtx, rec.fleet, webhooks)
            sampler = SystemSampler(
                self._holder,
                lambda: child_processes(
                    cams.registry, rec.fleet, mediamtx.pid, database.embedded_pid
                ),
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
                        cameras=cams.service,
                        live=cams.live,
                        recorders=rec.fleet,
                        snapshots=snapshots,
                        recordings=rec.recordings,
                        retention=rec.retention,
                        exports=rec.exports,
                        system=sampler,
                        events=history,
                    )
                ),
                config.server.host,
                config.server.port,
            )
            stack.push_async_callback(self._stage, "http", runner.cleanup)
            stack.push_async_callback(self._record_stopped, events)

            components: list[Component] = [
                ("database_watch", database.run),
                ("token_registry", registry.run),
                ("camera_registry", cams.registry.run),
                ("camera_states", functools.partial(cams.live.follow, cams.registry)),
                ("mediamtx", functools.partial(mediamtx.run, self._supervisor)),
                ("segment_index", rec.index.run),
                ("recorder_fleet", rec.fleet.run),
                ("retention", rec.retention.run),
                ("exports", rec.exports.run),
                ("system_sampler", sampler.run),
                ("event_history", history.run),
                ("event_bus", events.run),
                ("reloads", functools.partial(self._handle_reloads, events)),
            ]
            await self._serve(config, components, rec, events)
        log.info("daemon_stopped")

    async def _serve(
        self, config: Config, components: list[Component], rec: RecordingParts, events: EventBus
    ) -> None:
        """Ready, then every component supervised until a stop; then the orderly first half
        of the stop: recorders finalise their open segments, the index takes every one of
        them, then every other component is cancelled."""
        self._health.set_phase(Phase.READY)
        self._metrics.start_time.set(time.time())
        await events.record("daemon_started", version=__version__)
        self._notifier.ready(f"serving on {config.server.host}:{config.server.port}")
        log.info(
            "daemon_ready", host=config.server.host, port=config.server.port, version=__version__
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
                await self._stage("recorders", rec.fleet.stop)
                await self._stage("index", rec.index.wait_idle)
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
        await self._stage("daemon_stopped", functools.partial(events.record, "daemon_stopped"))

    async def _stage(self, name: str, stop: Callable[[], Awaitable[None]]) -> None:
        started = time.monotonic()
        budget = STOP_BUDGET_S[name]
        try:
            await asyncio.wait_for(stop(), budget)
        except TimeoutError:
            log.error("stop_stage_timeout", stage=name, timeout_s=budget)
        except Exception as err:  # a failing stage must not skip the stages after it
            log.exception("stop_stage_failed", stage=name, error=str(err))
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
                    ),
                )
            ]
        return cached[0][1]

    return context
