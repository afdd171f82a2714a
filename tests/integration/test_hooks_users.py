"""The MediaMTX auth endpoint and user accounts: a user:password costs one argon2, then
answers from memory; tokens, publishers' own credentials and blocked addresses cost none."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import CameraStack
from vmsd.access.damping import FailureDamper
from vmsd.access.grants import READER_USER_PREFIX, Grants
from vmsd.access.metrics import AccessMetrics
from vmsd.access.passwords import Passwords
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA
from vmsd.access.tokens import TokenRegistry, TokenService
from vmsd.access.users import UserRegistry, UserService
from vmsd.access.verdicts import VerdictCache
from vmsd.api.hooks import HookServices, create_hooks_app
from vmsd.api.metrics import ApiMetrics
from vmsd.config.access import PasswordHashConfig
from vmsd.config.cameras import CameraConfig
from vmsd.runtime.sites import auth_context_factory
from vmsd.store.tokens import TokenStore
from vmsd.store.users import UserStore

SECRET = "hook-secret-for-tests"
PASSWORD = "correct horse battery"


@dataclass
class Hooks:
    url: str
    session: aiohttp.ClientSession
    users: UserRegistry
    metrics: AccessMetrics
    token: str
    damper: FailureDamper

    async def auth(self, **fields: Any) -> int:
        body = {"user": "", "password": "", "token": "", "ip": "192.0.2.50", "action": "read",
                "path": "front", "protocol": "rtsp", "id": None, "query": ""}  # fmt: skip
        body.update(fields)
        async with self.session.post(
            f"{self.url}/hooks/mediamtx/auth",
            params={"key": SECRET},
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        ) as resp:
            return resp.status

    @property
    def argon2_runs(self) -> float:
        return self.metrics.verdicts.labels(source="argon2")._value.get()


@pytest.fixture
async def hooks(db_pool: asyncpg.Pool, camera_stack: CameraStack) -> AsyncIterator[Hooks]:
    store = TokenStore(db_pool)
    tokens = TokenRegistry(db_pool, store)
    _, token = await TokenService(store, tokens).create("viewer", Role.VIEWER)
    await camera_stack.service.sync_config(
        [
            CameraConfig(name="front", source="rtsp://192.0.2.1/s"),
            CameraConfig(name="push", source="publisher", username="alice", password="pushpw"),
        ]
    )
    metrics = camera_stack.metrics.group(AccessMetrics)
    passwords = Passwords(PasswordHashConfig(time_cost=1, memory_kib=8192, parallelism=1))
    user_store = UserStore(db_pool)
    users = UserRegistry(db_pool, user_store, passwords, VerdictCache(lambda: 60.0), metrics)
    await UserService(user_store, passwords, users).create(
        EVERY_CAMERA, "alice", Role.VIEWER, PASSWORD
    )
    damper = FailureDamper(limit=50, window_s=60, block_s=300)
    app = create_hooks_app(
        HookServices(
            secret=SECRET,
            auth_context=auth_context_factory(
                camera_stack.registry,
                tokens,
                SECRET,
                "internal-pass",
                Grants(READER_USER_PREFIX),
                users,
            ),
            damper=damper,
            registry=camera_stack.registry,
            live=camera_stack.live,
            metrics=camera_stack.metrics.group(ApiMetrics),
            users=users,
        )
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        url = str(server.make_url("")).rstrip("/")
        yield Hooks(url, session, users, metrics, token, damper)
    await server.close()


async def test_a_user_password_is_verified_once_then_kept(hooks: Hooks) -> None:
    assert hooks.users.cached_principal("alice", PASSWORD) is None
    await hooks.auth(user="alice", password=PASSWORD)
    assert hooks.argon2_runs == 1
    principal = hooks.users.cached_principal("alice", PASSWORD)
    assert principal is not None and principal.name == "alice"
    for protocol in ("rtsp", "hls", "webrtc"):
        await hooks.auth(user="alice", password=PASSWORD, protocol=protocol)
    assert hooks.argon2_runs == 1
    await hooks.auth(user="alice", password="a wrong guess")
    await hooks.auth(user="alice", password="a wrong guess")
    await hooks.auth(user="ghost", password="a wrong guess")
    assert hooks.argon2_runs == 3


async def test_what_is_not_a_user_password_costs_no_argon2(hooks: Hooks) -> None:
    assert await hooks.auth(user="any", password=hooks.token) == 200  # a token as password
    assert await hooks.auth(token=hooks.token, protocol="hls") == 200
    await hooks.auth(user="vmsd-internal", password="not it", action="api")
    await hooks.auth(user="alice", password="pushpw", action="publish", path="push")
    await hooks.auth(user="alice", password="")
    assert hooks.argon2_runs == 0
    # A blocked address is refused before any argon2.
    for _ in range(50):
        hooks.damper.record_failure("192.0.2.99")
    assert await hooks.auth(user="alice", password=PASSWORD, ip="192.0.2.99") == 401
    assert hooks.argon2_runs == 0
