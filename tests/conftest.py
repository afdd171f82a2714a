"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import imageio_ffmpeg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from tests.paths import REPO_ROOT
from vmsd.access.accounts import Accounts
from vmsd.access.audit_log import AuditLog
from vmsd.access.creators import principal_resolver
from vmsd.access.grants import LIVE_USER_PREFIX, Grants
from vmsd.access.links import LinkSigner, link_key
from vmsd.access.ratelimit import RateLimiter
from vmsd.access.roles import Role
from vmsd.access.secrets import CredentialCipher
from vmsd.access.tokens import TokenRegistry, TokenService
from vmsd.api.app import create_app
from vmsd.api.services import ApiServices
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.service import CameraService
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.health import Health, Phase
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import EventBus
from vmsd.events.history import EventHistory
from vmsd.mediamtx.whep import LiveView
from vmsd.recorder.fleet import RecorderFleet
from vmsd.recorder.inputs import INPUT_DIR_NAME, ReaderInputs, direct_input
from vmsd.recorder.prober import StreamProber
from vmsd.recorder.snapshot import Snapshots
from vmsd.recordings.deletion import SegmentDeleter
from vmsd.retention.service import RetentionService
from vmsd.runtime.embedded import EmbeddedPostgres, dsn_for
from vmsd.runtime.wiring import (
    RecordingParts,
    build_accounts,
    build_cameras,
    build_metrics,
    build_recording,
)
from vmsd.store.audit import AuditStore
from vmsd.store.cameras import CameraStore
from vmsd.store.db import apply_migrations, ping
from vmsd.store.events import EventStore
from vmsd.store.tokens import TokenStore
from vmsd.system.children import child_processes
from vmsd.system.collector import SystemCollector
from vmsd.system.gpu import gpu_provider
from vmsd.system.sampler import SystemSampler


@pytest.fixture(scope="session")
async def pg_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg-session"), "vmsd-postgres")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, to be frozen, stopped or killed (never the
    session's)."""
    server = EmbeddedPostgres(tmp_path / "pg", "vmsd-postgres")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def database_dsn(pg_server: EmbeddedPostgres) -> AsyncIterator[str]:
    """A new empty database on the session server; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn_for(pg_server.socket_dir, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield dsn_for(pg_server.socket_dir, name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=5)
    assert pool is not None
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    yield pool
    await pool.close()


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@dataclass
class CameraStack:
    """The camera registry's real parts over the per-test database."""

    store: CameraStore
    registry: CameraRegistry
    service: CameraService
    live: LiveCameras
    metrics: Metrics
    cipher: CredentialCipher
    fleet: RecorderFleet
    holder: ConfigHolder
    deleter: SegmentDeleter
    retention: RetentionService
    events: EventBus
    recording: RecordingParts


@pytest.fixture
async def camera_stack(db_pool: asyncpg.Pool, tmp_path: Path) -> CameraStack:
    cipher = CredentialCipher(Fernet.generate_key())
    metrics = build_metrics()
    events = EventBus(EventStore(db_pool), tmp_path / "event-journal.jsonl", metrics)
    record = events.record
    cams = build_cameras(db_pool, cipher, metrics, record)
    await cams.registry.refresh()
    config = Config.model_validate(
        {"state_dir": str(tmp_path), "storage": {"paths": [str(tmp_path / "recordings")]}}
    )
    holder = ConfigHolder(config, Path("unused.yml"))
    rec = build_recording(
        holder,
        db_pool,
        cams,
        metrics,
        record,
        Supervisor(Health(metrics)),
        ffmpeg=ffmpeg_binary(),
        input_for=reader_input,
        inputs=direct_inputs(holder.current.state_dir),
        via_mediamtx=False,
    )
    store, registry, service, live = cams.store, cams.registry, cams.service, cams.live
    fleet, deleter, retention = rec.fleet, rec.deleter, rec.retention
    return CameraStack(
        store,
        registry,
        service,
        live,
        metrics,
        cipher,
        fleet,
        holder,
        deleter,
        retention,
        events,
        rec,
    )


def ffmpeg_binary() -> str:
    """The measured FFmpeg (reference/ffmpeg.md), whatever else is on PATH."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


# Without MediaMTX: read the source itself, as the daemon's readers do.
reader_input = direct_input


def direct_inputs(state_dir: Path) -> ReaderInputs:
    """The input files of readers that read the source itself (no MediaMTX, no grants)."""
    inputs = ReaderInputs(state_dir / INPUT_DIR_NAME, None)
    inputs.prepare()
    return inputs


@dataclass
class Api:
    url: str
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    holder: ConfigHolder
    health: Health
    app: web.Application
    cameras: CameraStack
    accounts: Accounts
    live_grants: Grants

    def headers(self, who: str) -> dict[str, str]:
        if who == "none":
            return {}
        if who == "bad":
            return {"Authorization": "Bearer vmsd_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxx"}
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(
        self, method: str, path: str, who: str = "admin", body: Any = None
    ) -> tuple[int, Any]:
        """`method` `path` as `who` (a role's token, "none" or "bad"): status and JSON body."""
        kwargs: dict[str, Any] = {"headers": self.headers(who)}
        if body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None


@pytest.fixture
async def api(db_pool: asyncpg.Pool, camera_stack: CameraStack) -> AsyncIterator[Api]:
    """The real API app over loopback, with one token per role."""
    store = TokenStore(db_pool)
    registry = TokenRegistry(db_pool, store)
    service = TokenService(store, registry)
    tokens = {}
    for role in Role:
        _, tokens[role.value] = await service.create(f"test-{role.value}", role)
    metrics = camera_stack.metrics
    health = Health(metrics)
    health.set_phase(Phase.READY)
    # The cheapest argon2: what the tests check does not depend on its cost (bench/login.py
    # measures the default's).
    cheap = {"password_hash": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}}
    config = Config.model_validate({"server": {"max_body_bytes": 4096}, "auth": cheap})
    holder = ConfigHolder(config, Path("unused.yml"))

    async def check_database() -> None:
        await ping(db_pool)

    sampler = SystemSampler(
        camera_stack.holder,
        lambda: child_processes(camera_stack.registry, camera_stack.fleet, None, None),
        gpu_provider(enabled=True),  # the real NVML lookup: no driver on test machines
    )
    await sampler.start()
    await sampler.sample_now()
    metrics.registry.register(SystemCollector(sampler.latest))
    accounts = build_accounts(db_pool, holder, metrics, camera_stack.events.record)
    await accounts.registry.refresh()
    live_grants = Grants(LIVE_USER_PREFIX, max_grants=holder.current.console.max_live_sessions)

    app = create_app(
        ApiServices(
            holder,
            health,
            metrics,
            registry,
            service,
            check_database,
            camera_stack.service,
            camera_stack.live,
            camera_stack.fleet,
            Snapshots(
                ffmpeg_binary(),
                reader_input,
                direct_inputs(holder.current.state_dir),
                cache_s=1.0,
                timeout_s=10.0,
            ),
            camera_stack.recording.recordings,
            camera_stack.retention,
            camera_stack.recording.exports,
            sampler,
            EventHistory(camera_stack.holder, EventStore(db_pool), camera_stack.events),
            StreamProber(
                camera_stack.holder,
                ffmpeg_binary(),
                direct_inputs(camera_stack.holder.current.state_dir),
                reader_input,
                via_mediamtx=False,
                max_concurrent=2,
            ),
            AuditLog(AuditStore(db_pool), metrics),
            LinkSigner(link_key(Fernet.generate_key())),
            principal_resolver(registry, users=accounts.registry.principal_by_id),
            RateLimiter(),
            camera_stack.events.record,
            accounts,
            camera_stack.recording.playback,
            # "MediaMTX on": the live-view tests point console.webrtc.address at a WebRTC
            # peer standing in for it (tests/integration/test_whep.py); no other test calls it.
            LiveView(holder, live_grants, mediamtx_on=True),
        )
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        url = str(server.make_url("")).rstrip("/")
        yield Api(url, session, tokens, holder, health, app, camera_stack, accounts, live_grants)
    await server.close()


async def record_noop(type_: str, **data: object) -> None:
    """An event recorder for fixtures whose events no test reads."""


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A camera that accepts the connection and never says a word (hangs after the TCP
    handshake): FFmpeg waits its socket timeout."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    for writer in held:
        writer.close()
    await server.wait_closed()
