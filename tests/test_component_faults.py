"""Failures injected into supervised components through their collaborators (fakes of the
stores they call, not patches of their internals):

- a failure the component cannot plan for (a bug: RuntimeError) fails that component: the
  supervisor shows it in Health, restarts it, it runs again, and the recorders, built and
  supervised the daemon's way (vmsd.runtime.wiring), keep their FFmpeg processes;
- the database being away (a store that times out or refuses) is the component's own plan:
  no failure, a retry at its next pass;
- a camera row encrypted with another install's key is skipped and reported, the rest loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from cryptography.fernet import Fernet

from vmsd.access.secrets import CredentialCipher
from vmsd.access.tokens import TokenRegistry
from vmsd.cameras.registry import ROWS_HEALTH, CameraRegistry
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config, NotificationsConfig
from vmsd.core.backoff import Backoff
from vmsd.core.health import Health
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import EventBus
from vmsd.events.history import EventHistory
from vmsd.events.webhooks import WebhookNotifier
from vmsd.exports.service import ExportService
from vmsd.mediamtx.controller import CONFIG_HEALTH_NAME as CONFIG_HEALTH
from vmsd.mediamtx.controller import MediaMtxController
from vmsd.runtime.wiring import build_cameras, build_recording, start_cameras, start_recording
from vmsd.store.cameras import CameraRow, CameraStore
from vmsd.store.events import EventStore
from vmsd.store.exports import ExportStore
from vmsd.store.recordings import RecordingQueries
from vmsd.store.tokens import TokenStore

from .conftest import CameraStack, ffmpeg_binary, free_port, reader_input
from .streams.sources import GST_RTSP, RtspServer, require

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


@pytest.mark.timeout(90)
async def test_each_failing_component_restarts_alone(
    db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    require(GST_RTSP)
    metrics = Metrics()
    health = Health(metrics)
    supervisor = Supervisor(health, backoff=FAST, settled_after_s=0.5)
    events = EventBus(EventStore(db_pool), tmp_path / "event-journal.jsonl", metrics)
    record = events.record
    cipher = CredentialCipher(Fernet.generate_key())
    with RtspServer(["/a", "/b"], fps=10, gop=10) as rtsp:
        config = Config.model_validate(
            {
                "state_dir": str(tmp_path / "state"),
                "storage": {"paths": [str(tmp_path / "recordings")]},
                "recording": {"segment_seconds": 2},
                "cameras": [{"name": n, "source": rtsp.url(n)} for n in ("a", "b")],
            }
        )
        (tmp_path / "state").mkdir()
        holder = ConfigHolder(config, Path("unused.yml"))
        cams = build_cameras(db_pool, cipher, metrics, record, health)
        await start_cameras(cams, config)
        rec = build_recording(
            holder, db_pool, cams, metrics, record, supervisor,
            ffmpeg=ffmpeg_binary(), input_for=reader_input, via_mediamtx=False,
        )  # fmt: skip
        await start_recording(rec, config, ffmpeg_binary(), record)
        bug = RuntimeError("injected failure")
        export_store = Flaky(ExportStore(db_pool), {"next_queued"}, bug)
        event_store = Flaky(EventStore(db_pool), {"delete_older_than"}, bug)
        token_store = Flaky(TokenStore(db_pool), {"active_hashes"}, bug)
        camera_store = Flaky(CameraStore(db_pool), {"list_all"}, bug)
        faulty: dict[str, tuple[Flaky, str, Callable[[], Awaitable[None]]]] = {
            "exports": (
                export_store,
                "next_queued",
                ExportService(
                    holder, export_store, RecordingQueries(db_pool), ffmpeg_binary(), record  # type: ignore[arg-type]
                ).run,
            ),
            "event_history": (
                event_store,
                "delete_older_than",
                EventHistory(holder, event_store, events).run,  # type: ignore[arg-type]
            ),
            "token_registry": (
                token_store,
                "active_hashes",
                TokenRegistry(db_pool, token_store).run,  # type: ignore[arg-type]
            ),
            "camera_registry_2": (
                camera_store,
                "list_all",
                CameraRegistry(db_pool, camera_store, cipher).run,  # type: ignore[arg-type]
            ),
        }
        components = {
            "segment_index": rec.index.run,
            "recorder_fleet": rec.fleet.run,
            **{name: run for name, (_, _, run) in faulty.items()},
        }
        async with _supervised(supervisor, components):

            def pids() -> dict[str, int | None]:
                return {n: (s.pid if (s := rec.fleet.status(n)) else None) for n in ("a", "b")}

            await _until(lambda: all(pids().values()), 30, "recorders running")
            before = pids()
            for name, (store, method, _) in faulty.items():
                await _until(
                    lambda n=name, s=store, m=method: _status(health, n) == (True, 1)  # type: ignore[misc]
                    and s.calls.get(m, 0) >= 2,
                    15,
                    f"{name} failed once, was restarted and ran again",
                )
            assert pids() == before, "no recorder was touched"
            assert _status(health, "recorder_fleet") == (True, 0)
            assert _status(health, "segment_index") == (True, 0)
        await rec.fleet.stop()


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
    class CrashingMetrics(Metrics):
        """The worker's first attempt count raises: a crash outside the HTTP attempt."""

        def __init__(self) -> None:
            super().__init__()
            real, crashes = self.webhook_attempts, [1]

            class Attempts:
                def labels(self, **labels: str) -> Any:
                    if crashes:
                        crashes.pop()
                        raise RuntimeError("injected crash")
                    return real.labels(**labels)

            self.webhook_attempts = Attempts()  # type: ignore[assignment]

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
