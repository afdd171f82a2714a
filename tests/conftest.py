"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

import functools
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet

from vmsd.cameras.live import LiveCameras
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.service import CameraService
from vmsd.cameras.state import CameraStates
from vmsd.daemon import record_event
from vmsd.metrics import Metrics
from vmsd.secrets import CredentialCipher
from vmsd.store.cameras import CameraStore
from vmsd.store.db import apply_migrations
from vmsd.store.embedded import EmbeddedPostgres, dsn_for
from vmsd.store.events import EventStore


@pytest.fixture(scope="session")
async def pg_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg-session"), "vmsd-postgres")
    await server.start()
    yield server
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass
class CameraStack:
    """The camera registry's real parts over the per-test database."""

    store: CameraStore
    registry: CameraRegistry
    service: CameraService
    live: LiveCameras
    metrics: Metrics
    cipher: CredentialCipher


@pytest.fixture
async def camera_stack(db_pool: asyncpg.Pool) -> CameraStack:
    cipher = CredentialCipher(Fernet.generate_key())
    metrics = Metrics()
    events = EventStore(db_pool)
    record = functools.partial(record_event, events)
    store = CameraStore(db_pool)
    registry = CameraRegistry(db_pool, store, cipher)
    await registry.refresh()
    service = CameraService(store, cipher, registry, record)
    live = LiveCameras(CameraStates(), metrics, record)
    return CameraStack(store, registry, service, live, metrics, cipher)
