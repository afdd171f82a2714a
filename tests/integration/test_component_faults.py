"""Failures injected into supervised components through their collaborators (fakes of the
stores they call, not patches of their internals):

- a failure the component cannot plan for (a bug: RuntimeError) fails that component: the
  supervisor shows it in Health, restarts it, it runs again, and the recorders, built and
  supervised the daemon's way (vmsd.wiring), keep their FFmpeg processes. One module-wide
  stack (`stack`) runs the recorders and every supervised component beside them: exports,
  event history, token and camera registries, system sampler, database watch, MediaMTX
  poller (a loopback Control API answering garbage), segment index, camera states and the
  fleet's reconcile loop;
- the periodic jobs that plan for any failure themselves (retention, the event bus's journal
  replay) log and count it and run again, without a supervisor restart;
- the database being away (a store that times out or refuses) is the component's own plan:
  no failure, a retry at its next pass;
- a camera row encrypted with another install's key is skipped and reported, the rest loads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import asyncpg
import pytest
import structlog
from aiohttp import web
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry

from tests.conftest import CameraStack, direct_inputs, ffmpeg_binary, reader_input
from tests.net import free_port
from tests.paths import REPO_ROOT
from tests.streams.sources import GST_RTSP, RtspServer, require
from vmsd.access.secrets import CredentialCipher
from vmsd.access.tokens import TokenRegistry
from vmsd.cameras.model import Camera
from vmsd.cameras.registry import ROWS_HEALTH, CameraRegistry
from vmsd.cameras.state import CameraState
from vmsd.config.events import NotificationsConfig
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.backoff import Backoff
from vmsd.core.health import ComponentStatus, Health
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import EventBus
from vmsd.events.history import EventHistory
from vmsd.events.metrics import EventMetrics
from vmsd.events.webhooks import WebhookNotifier
from vmsd.exports.service import ExportService
from vmsd.mediamtx.controller import CONFIG_HEALTH_NAME as CONFIG_HEALTH
from vmsd.mediamtx.controller import MediaMtxController
from vmsd.recorder.fleet import RECONCILE_COMPONENT
from vmsd.runtime.database import Database
from vmsd.runtime.embedded import EmbeddedPostgres, dsn_for
from vmsd.runtime.wiring import (
    CameraParts,
    RecordingParts,
    build_cameras,
    build_recording,
    start_cameras,
    start_recording,
)
from vmsd.store.cameras import CameraRow, CameraStore
from vmsd.store.db import apply_migrations, ping
from vmsd.store.events import EventStore
from vmsd.store.exports import ExportStore
from vmsd.store.recordings import RecordingQueries, RecordingStore
from vmsd.store.tokens import TokenStore
from vmsd.system.children import child_processes
from vmsd.system.gpu import NoGpus
from vmsd.system.sampler import SystemSampler

FAST = Backoff(initial_s=0.1, max_s=0.3, jitter=0.0)


class Flaky:
    """Wraps a real store: the named methods raise `error` for their first `times` calls."""

    def __init__(self, real: Any, methods: set[str], error: Exception, times: int = 1) -> None:
        self._real, self._methods, self._error, self._left = real, methods, error, times
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in self._methods:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self._left > 0:
                self._left -= 1
                raise self._error
            return await attr(*args, **kwargs)

        return call


async def _until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(0.1)


def _status(health: Health, name: str) -> tuple[bool, int] | None:
    for c in health.components():
        if c.name == name:
            return c.ok, c.failures
    return None


@contextlib.asynccontextmanager
async def _supervised(
    supervisor: Supervisor, components: dict[str, Callable[[], Awaitable[None]]]
) -> AsyncIterator[None]:
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(supervisor.run(n, c)) for n, c in components.items()]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()


class Faults:
    """Wraps a real collaborator (a store, a GPU provider): every method call is counted, and
    an armed method raises its error at its next `times` calls instead of doing its work."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._armed: dict[str, list[BaseException]] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.failed_with: dict[str, list[tuple[Any, ...]]] = {}

    def arm(self, method: str, error: BaseException, times: int = 1) -> None:
        self._armed[method] = [error] * times

    def _fault(self, name: str, args: tuple[Any, ...]) -> BaseException | None:
        self.calls[name] += 1
        armed = self._armed.get(name)
        if not armed:
            return None
        self.failed_with.setdefault(name, []).append(args)
        return armed.pop()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr):
            return attr
        if inspect.iscoroutinefunction(attr):

            async def acall(*args: Any, **kwargs: Any) -> Any:
                if (err := self._fault(name, args)) is not None:
                    raise err
                return await attr(*args, **kwargs)

            return acall

        def call(*args: Any, **kwargs: Any) -> Any:
            if (err := self._fault(name, args)) is not None:
                raise err
            return attr(*args, **kwargs)

        return call


class FaultyCall:
    """A collaborator that is a plain callable (a ping, `input_for`), failing while armed."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self._armed: list[BaseException] = []
        self.calls = 0

    def arm(self, error: BaseException, times: int = 1) -> None:
        self._armed = [error] * times

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self._armed:
            raise self._armed.pop()
        return self._fn(*args, **kwargs)


class FaultyRegistry:
    """The camera registry as LiveCameras.follow uses it: its snapshot raises while armed."""

    def __init__(self, real: CameraRegistry) -> None:
        self._real = real
        self._armed: list[BaseException] = []
        self.reads = 0

    def arm(self, error: BaseException) -> None:
        self._armed = [error]

    def subscribe(self) -> asyncio.Event:
        return self._real.subscribe()

    @property
    def cameras(self) -> Mapping[str, Camera]:
        self.reads += 1
        if self._armed:
            raise self._armed.pop()
        return self._real.cameras


class FailureLog(Health):
    """Health that also keeps every failure reported to it, in order: a failed state may last
    only the backoff (0.1 s) before the restart, too short to be seen by polling."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(metrics)
        self.failures: list[tuple[str, str]] = []

    def failed(self, name: str, error: str) -> None:
        self.failures.append((name, error))
        super().failed(name, error)

    def failures_of(self, name: str) -> list[str]:
        return [error for n, error in self.failures if n == name]


class ControlApi:
    """A MediaMTX Control API on loopback whose first `bad` answers to /v3/paths/list are
    valid JSON of the wrong shape (`items` a number); then real pages naming `paths`."""

    def __init__(self, paths: list[str], bad: int = 1) -> None:
        self._paths, self._bad = paths, bad
        self.list_requests = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/v3/paths/list", self._list)
        app.router.add_get("/v3/info", self._info)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        return port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _list(self, _request: web.Request) -> web.Response:
        self.list_requests += 1
        if self.list_requests <= self._bad:
            return web.json_response({"pageCount": 1, "items": 5})
        items = [
            {"name": p, "available": True, "readers": [], "inboundBytes": 0} for p in self._paths
        ]
        return web.json_response({"pageCount": 1, "items": items})

    async def _info(self, _request: web.Request) -> web.Response:
        return web.json_response({})


T = TypeVar("T")

BUG = "RuntimeError: injected failure"


@dataclass
class Stack:
    """Real recorders (two cameras, real FFmpeg, built and supervised the daemon's way) and,
    beside them, every other supervised component with a fault in one of its collaborators."""

    health: FailureLog
    metrics: Metrics
    pool: asyncpg.Pool
    cams: CameraParts
    rec: RecordingParts
    events: EventBus
    event_store: Faults
    recording_store: Faults
    input_for: FaultyCall
    states_registry: FaultyRegistry
    # Components failing at their first pass: the error expected, their calls so far.
    first_pass: dict[str, tuple[str, Callable[[], int]]]
    before: dict[str, int | None] = field(default_factory=dict)

    def pids(self) -> dict[str, int | None]:
        return {n: (s.pid if (s := self.rec.fleet.status(n)) else None) for n in ("a", "b")}


@pytest.fixture(scope="module")
async def stack(
    pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    require(GST_RTSP)
    tmp = tmp_path_factory.mktemp("component-faults")
    async with contextlib.AsyncExitStack() as exits:
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(dsn_for(pg_server.socket_dir, "postgres"))
        exits.push_async_callback(admin.close)
        await admin.execute(f'CREATE DATABASE "{name}"')
        exits.push_async_callback(admin.execute, f'DROP DATABASE "{name}" WITH (FORCE)')
        dsn = dsn_for(pg_server.socket_dir, name)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        assert pool is not None
        exits.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await apply_migrations(conn)

        metrics = Metrics()
        health = FailureLog(metrics)
        supervisor = Supervisor(health, backoff=FAST, settled_after_s=0.5)
        rtsp = exits.enter_context(RtspServer(["/a", "/b"], fps=10, gop=10))
        (tmp / "state").mkdir()
        config = Config.model_validate(
            {
                "state_dir": str(tmp / "state"),
                "storage": {"paths": [str(tmp / "recordings")]},
                "recording": {"segment_seconds": 2},
                "cameras": [{"name": n, "source": rtsp.url(n)} for n in ("a", "b")],
            }
        )
        holder = ConfigHolder(config, Path("unused.yml"))
        event_store = Faults(EventStore(pool))
        events = EventBus(
            event_store,  # type: ignore[arg-type]
            tmp / "event-journal.jsonl",
            metrics,
            journal_retry_s=0.3,
        )
        await events.start()
        record = events.record
        cipher = CredentialCipher(Fernet.generate_key())
        cams = build_cameras(pool, cipher, metrics, record, health)
        await start_cameras(cams, config)
        recording_store = Faults(RecordingStore(pool))
        input_for = FaultyCall(reader_input)
        rec = build_recording(
            holder, pool, cams, metrics, record, supervisor,
            ffmpeg=ffmpeg_binary(), input_for=input_for,
            inputs=direct_inputs(config.state_dir), via_mediamtx=False,
            store=recording_store,  # type: ignore[arg-type]
        )  # fmt: skip
        await start_recording(rec, config, ffmpeg_binary(), record)
        states_registry = FaultyRegistry(cams.registry)

        tasks: list[asyncio.Task[None]] = []

        async def end_tasks() -> None:
            await asyncio.wait_for(rec.fleet.stop(), 15)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        exits.push_async_callback(end_tasks)

        def supervise(components: dict[str, Callable[[], Awaitable[None]]]) -> None:
            tasks.extend(asyncio.create_task(supervisor.run(n, c)) for n, c in components.items())

        supervise(
            {
                "segment_index": rec.index.run,
                "recorder_fleet": rec.fleet.run,
                "event_bus": events.run,
                "camera_states": functools.partial(cams.live.follow, states_registry),  # type: ignore[arg-type]
            }
        )
        parts = Stack(
            health, metrics, pool, cams, rec, events, event_store, recording_store, input_for,
            states_registry, {},
        )  # fmt: skip
        await _until(lambda: all(parts.pids().values()), 30, "recorders running")
        parts.before = parts.pids()

        # Every other component, its fault armed for its first pass.
        export_store = Faults(ExportStore(pool))
        export_store.arm("next_queued", RuntimeError("injected failure"))
        history_store = Faults(EventStore(pool))
        history_store.arm("delete_older_than", RuntimeError("injected failure"))
        token_store = Faults(TokenStore(pool))
        token_store.arm("active_hashes", RuntimeError("injected failure"))
        camera_store = Faults(CameraStore(pool))
        camera_store.arm("list_all", RuntimeError("injected failure"))
        recording_store.arm("camera_totals", RuntimeError("injected failure"))
        gpus = Faults(NoGpus("off"))
        gpus.arm("read", RuntimeError("injected failure"))
        sampler = SystemSampler(
            holder,
            lambda: child_processes(cams.registry, rec.fleet, None, None),
            gpus,  # type: ignore[arg-type]
        )
        await sampler.start()
        ping_ = FaultyCall(ping)
        ping_.arm(RuntimeError("injected failure"))
        database = Database(
            Config.model_validate({"state_dir": str(tmp / "state"), "database": {"url": dsn}}),
            health,
            ping=ping_,
        )
        await database.start()
        exits.push_async_callback(database.stop)
        api = ControlApi(["a", "b"])
        mediamtx_config = Config.model_validate(
            {
                "state_dir": str(tmp / "state"),
                "mediamtx": {
                    "mode": "external",
                    "base_config": str(REPO_ROOT / "mediamtx.yml"),
                    "config_path": str(tmp / "mediamtx.yml"),
                    "api_port": await api.start(),
                    "poll_interval_seconds": 1,
                },
            }
        )
        exits.push_async_callback(api.stop)
        controller = MediaMtxController(
            mediamtx_config, cams.registry, cams.live, health, metrics,
            hook_secret="h" * 32, internal_password="p" * 24,
        )  # fmt: skip
        await controller.start()
        parts.first_pass.update(
            {
                "exports": (BUG, lambda: export_store.calls["next_queued"]),
                "event_history": (BUG, lambda: history_store.calls["delete_older_than"]),
                "token_registry": (BUG, lambda: token_store.calls["active_hashes"]),
                "camera_registry": (BUG, lambda: camera_store.calls["list_all"]),
                "system_sampler": (BUG, lambda: gpus.calls["read"]),
                "database_watch": (BUG, lambda: ping_.calls),
                "mediamtx_poller": (
                    "TypeError: 'int' object is not iterable",
                    lambda: api.list_requests,
                ),
            }
        )
        supervise(
            {
                "exports": ExportService(
                    holder,
                    export_store,  # type: ignore[arg-type]
                    rec.queries,
                    ffmpeg_binary(),
                    record,
                ).run,
                "event_history": EventHistory(holder, history_store, events).run,  # type: ignore[arg-type]
                "token_registry": TokenRegistry(pool, token_store).run,  # type: ignore[arg-type]
                # A second registry: the recorders' own one is refreshed by the tests.
                "camera_registry": CameraRegistry(pool, camera_store, cipher).run,  # type: ignore[arg-type]
                "retention": rec.retention.run,
                "system_sampler": sampler.run,
                "database_watch": database.run,
                "mediamtx": functools.partial(controller.run, supervisor),
            }
        )
        yield parts


def _status_of(health: Health, name: str) -> ComponentStatus:
    found = [c for c in health.components() if c.name == name]
    assert found, f"{name} not in Health"
    return found[0]


async def _restarted(stack: Stack, name: str, error: str, ran: Callable[[], bool]) -> None:
    """`name` failed once with `error` (shown on Health), was restarted, is healthy again and
    ran again; no recorder was touched."""
    await _until(
        lambda: _status(stack.health, name) == (True, 1) and ran(),
        15,
        f"{name} failed once, was restarted, is healthy again and ran again",
    )
    assert stack.health.failures_of(name) == [error]
    assert _status_of(stack.health, name).last_error == error
    assert stack.pids() == stack.before, "no recorder was touched"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "component",
    [
        "exports",
        "event_history",
        "token_registry",
        "camera_registry",
        "system_sampler",
        "database_watch",
        "mediamtx_poller",
    ],
)
async def test_component_failing_at_its_first_pass_restarts_alone(
    stack: Stack, component: str
) -> None:
    error, calls = stack.first_pass[component]
    await _restarted(stack, component, error, lambda: calls() >= 2)


async def test_index_store_bug_restarts_the_index_and_its_segments_are_indexed(
    stack: Stack,
) -> None:
    """A bug in the index's insert reaches the supervisor; the segments of the failed insert
    are journaled by the stopping index and replayed by the restarted one."""
    store = stack.recording_store
    store.arm("insert", RuntimeError("injected failure"))
    calls = store.calls["insert"]
    await _restarted(stack, "segment_index", BUG, lambda: store.calls["insert"] >= calls + 2)
    ((records,),) = store.failed_with["insert"]
    paths = [r.path for r in records]

    async def indexed() -> int:
        found = await stack.pool.fetchval(
            "SELECT count(*) FROM recordings WHERE path = ANY($1::text[])", paths
        )
        return int(found)

    deadline = time.monotonic() + 10
    while await indexed() < len(paths):
        assert time.monotonic() < deadline, f"segments of the failed insert indexed: {paths}"
        await asyncio.sleep(0.2)
    assert stack.rec.index.pending == 0


async def test_camera_states_bug_restarts_following_and_misses_no_change(stack: Stack) -> None:
    """LiveCameras.follow failing on a registry change is restarted and catches up with the
    change it failed on (here: a new, disabled camera)."""
    stack.states_registry.arm(RuntimeError("injected failure"))
    await stack.cams.store.insert(
        CameraRow(
            name="c", source="rtsp://127.0.0.1:9/c", username="", password_enc=None,
            rtsp_transport="tcp", enabled=False, record=False, recording={}, retention={},
            description="", location="", managed_by="api",
        )
    )  # fmt: skip
    await stack.cams.registry.refresh()
    try:
        await _restarted(stack, "camera_states", BUG, lambda: stack.states_registry.reads >= 2)
        await _until(
            lambda: stack.cams.live.get("c").state is CameraState.DISABLED,
            5,
            "the change it failed on is applied after the restart",
        )
    finally:
        await stack.cams.store.delete("c")
        await stack.cams.registry.refresh()


async def test_retention_pass_bug_is_counted_and_retried_not_restarted(stack: Stack) -> None:
    """Retention is a periodic job: a failed pass (here its first one) is logged, counted
    (vmsd_retention_passes_total{result="failed"}) and shown on Health, the job is not
    restarted, and the next pass (a kick, or the interval) runs and clears it."""

    def passes(result: str) -> float:
        value = stack.metrics.registry.get_sample_value(
            "vmsd_retention_passes_total", {"result": result}
        )
        return value or 0.0

    await _until(lambda: passes("failed") == 1, 10, "the first pass failed")
    stack.rec.retention.kick()
    await _until(lambda: passes("ok") >= 1, 10, "the next pass ran")
    assert stack.recording_store.calls["camera_totals"] >= 2
    assert _status(stack.health, "retention") == (True, 1)
    assert stack.health.failures_of("retention") == [BUG]
    assert stack.pids() == stack.before


async def test_event_bus_store_bug_is_handled_and_its_journal_replayed(stack: Stack) -> None:
    """The bus never fails for its store: an event the database cannot take now is journaled;
    a bug in the replay's batch insert is logged, the events go in one by one; run() did the
    replay (no new event asked for it); the event_bus component never failed."""
    store = stack.event_store

    def journaled() -> float:
        value = stack.metrics.registry.get_sample_value("vmsd_event_journal_pending_events")
        return value or 0.0

    store.arm("insert", TimeoutError())
    with structlog.testing.capture_logs() as logs:
        await stack.events.record("export_failed", camera="a", error="fault test")
        assert journaled() >= 1
        store.arm("insert", RuntimeError("injected failure"))
        await _until(lambda: journaled() == 0, 5, "journal replayed by run()")
    assert any(e["event"] == "event_record_failed" for e in logs)
    rows = await stack.pool.fetch(
        "SELECT data FROM events WHERE type = 'export_failed' AND camera = 'a'"
    )
    assert len(rows) == 1
    assert _status(stack.health, "event_bus") == (True, 0)
    assert stack.pids() == stack.before


async def test_fleet_reconcile_bug_restarts_the_reconcile_loop_and_keeps_the_recorders(
    stack: Stack,
) -> None:
    """The fleet's reconcile failing (its `input_for` collaborator raises while a reload
    reconciles the recorders) restarts that loop alone, supervised inside the fleet: the
    recorders its TaskGroup owns record on."""
    stack.input_for.arm(RuntimeError("injected failure"))
    calls = stack.input_for.calls
    stack.rec.fleet.reconfigure()
    await _restarted(stack, RECONCILE_COMPONENT, BUG, lambda: stack.input_for.calls >= calls + 2)
    assert _status(stack.health, "recorder_fleet") == (True, 0)


async def test_export_pass_with_the_database_away_is_retried_not_failed(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    holder = ConfigHolder(Config(state_dir=tmp_path), Path("unused.yml"))
    away = Flaky(ExportStore(db_pool), {"next_queued", "expired"}, TimeoutError(), times=3)

    async def record(type_: str, **data: Any) -> None:
        pass

    service = ExportService(holder, away, RecordingQueries(db_pool), ffmpeg_binary(), record)  # type: ignore[arg-type]
    async with asyncio.TaskGroup() as tg:
        with structlog.testing.capture_logs() as logs:
            assert await service.run_once(tg) is False
            assert await service.run_once(tg) is False
            assert await service.run_once(tg) is False  # the third failure: in expired()
            assert await service.run_once(tg) is True
    deferred = [e for e in logs if e["event"] == "exports_pass_deferred"]
    assert len(deferred) == 1, "one warning per outage"
    assert any(e["event"] == "exports_pass_resumed" for e in logs)


async def test_export_result_the_database_cannot_take_is_saved_later(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    holder = ConfigHolder(Config(state_dir=tmp_path), Path("unused.yml"))
    real = ExportStore(db_pool)
    now = datetime.now(UTC)
    job = await real.create("cam", now - timedelta(minutes=2), now, now + timedelta(hours=1))
    away = Flaky(real, {"finish"}, asyncpg.InterfaceError("connection lost"))

    async def record(type_: str, **data: Any) -> None:
        pass

    service = ExportService(holder, away, RecordingQueries(db_pool), ffmpeg_binary(), record)  # type: ignore[arg-type]
    async with asyncio.TaskGroup() as tg:
        assert await service.run_once(tg) is True  # claims the job: no recordings -> failed
        await _until(lambda: away.calls.get("finish", 0) == 1, 5, "job finished")
        assert (await real.get(job.id)).state == "running"  # the result waits in memory
        assert await service.run_once(tg) is True
    done = await real.get(job.id)
    assert done.state == "failed" and done.error == "no recordings in the range"


async def test_unreadable_camera_row_is_skipped_and_reported(db_pool: asyncpg.Pool) -> None:
    ours, theirs = (CredentialCipher(Fernet.generate_key()) for _ in range(2))
    store = CameraStore(db_pool)
    for name, cipher in (("mine", ours), ("foreign", theirs)):
        await store.insert(
            CameraRow(
                name=name, source="rtsp://127.0.0.1:8554/x", username="u",
                password_enc=cipher.encrypt("secret"), rtsp_transport="tcp", enabled=True,
                record=True, recording={}, retention={}, description="", location="",
                managed_by="api",
            )
        )  # fmt: skip
    health = Health(Metrics())
    registry = CameraRegistry(db_pool, store, ours, health=health)
    with structlog.testing.capture_logs() as logs:
        await registry.refresh()
        await registry.refresh()  # logged once per row, not per refresh
    assert set(registry.cameras) == {"mine"}
    assert registry.unreadable == {"foreign"}
    assert [e["camera"] for e in logs if e["event"] == "camera_row_unreadable"] == ["foreign"]
    status = next(c for c in health.components() if c.name == ROWS_HEALTH)
    assert not status.ok and "foreign" in status.detail
    await store.delete("foreign")
    await registry.refresh()
    assert registry.unreadable == frozenset()
    assert _status(health, ROWS_HEALTH) == (True, 0)


async def test_crashed_webhook_worker_is_restarted_and_shown(db_pool: asyncpg.Pool) -> None:
    class CrashingEventMetrics(EventMetrics):
        """The worker's first attempt count raises: a crash outside the HTTP attempt."""

        def __init__(self, registry: CollectorRegistry) -> None:
            super().__init__(registry)
            real, crashes = self.webhook_attempts, [1]

            class Attempts:
                def labels(self, **labels: str) -> Any:
                    if crashes:
                        crashes.pop()
                        raise RuntimeError("injected crash")
                    return real.labels(**labels)

            self.webhook_attempts = Attempts()  # type: ignore[assignment]

    class CrashingMetrics(Metrics):
        """The registry hands the events domain its crashing metrics."""

        def group(self, factory: Callable[[CollectorRegistry], T]) -> T:
            if factory is EventMetrics:
                return cast(T, super().group(CrashingEventMetrics))
            return super().group(factory)

    metrics = CrashingMetrics()
    health = Health(metrics)
    supervisor = Supervisor(health, backoff=FAST, settled_after_s=0.3)
    bus = EventBus(EventStore(db_pool), Path("/nonexistent/journal"), metrics)
    config = NotificationsConfig.model_validate(
        {"webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook", "secret": "s" * 32}]}
    )
    notifier = WebhookNotifier(config, bus, metrics, supervisor)
    await notifier.start()
    try:
        await _until(lambda: "webhook:ops" in supervisor.running(), 2, "worker supervised")
        await bus.record("camera_offline", camera="x")
        await _until(lambda: _status(health, "webhook:ops") == (False, 1), 5, "crash shown")
        await _until(lambda: _status(health, "webhook:ops") == (True, 1), 5, "restarted")
    finally:
        await notifier.stop(flush_timeout_s=0.1)
    assert "webhook:ops" not in supervisor.running()
    assert _status(health, "webhook:ops") is None


async def test_mediamtx_config_write_failure_is_reported_and_retried(
    camera_stack: CameraStack, tmp_path: Path, repo_root: Path
) -> None:
    """A config write the file system refuses (here: a directory where the file goes) keeps
    the writer running, shows mediamtx_config on Health, and the write is retried."""
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path),
            "mediamtx": {
                "mode": "external",
                "base_config": str(repo_root / "mediamtx.yml"),
                "config_path": str(tmp_path / "mediamtx.yml"),
                "api_port": free_port(),
            },
        }
    )
    health = Health(camera_stack.metrics)
    supervisor = Supervisor(health, backoff=FAST)
    controller = MediaMtxController(
        config, camera_stack.registry, camera_stack.live, health, camera_stack.metrics,
        hook_secret="h" * 32, internal_password="p" * 24,
    )  # fmt: skip
    await controller.start()
    target = config.mediamtx.config_path
    assert target is not None and target.is_file()
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(controller.run(supervisor))
        target.unlink()
        target.mkdir()  # reading or replacing it now fails with an OSError
        await controller.reconfigure(config)
        await _until(lambda: _status(health, CONFIG_HEALTH) == (False, 0), 10, "reported")
        assert _status(health, "mediamtx_writer") == (True, 0), "no supervisor restart"
        target.rmdir()
        await _until(lambda: _status(health, CONFIG_HEALTH) == (True, 0), 15, "recovered")
        assert target.is_file()
        task.cancel()
