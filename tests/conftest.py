"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from vmsd.store.db import apply_migrations
from vmsd.store.embedded import EmbeddedPostgres, dsn_for


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
