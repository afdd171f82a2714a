"""The MediaMTX-facing listener over real loopback HTTP: MediaMTX's exact auth bodies, the
availability hooks, and `vmsd hook` run as a real subprocess the way MediaMTX runs it."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import CameraStack
from vmsd.access.damping import FailureDamper
from vmsd.access.derive import synthetic_publish_password
from vmsd.access.grants import READER_USER_PREFIX, Grants
from vmsd.access.mediamtx_auth import INTERNAL_USER, SYNTHETIC_PUBLISH_USER
from vmsd.access.roles import Role
from vmsd.access.tokens import TokenRegistry, TokenService
from vmsd.api.hooks import HookServices, create_hooks_app
from vmsd.api.metrics import ApiMetrics
from vmsd.cameras.state import CameraState
from vmsd.config.cameras import CameraConfig
from vmsd.runtime.sites import auth_context_factory
from vmsd.store.tokens import TokenStore

HOOK_SECRET = "hook-secret-for-tests"
INTERNAL_PASSWORD = "internal-pass"
UUID = "4d2c3f0e-8a5b-4f7e-9a51-3c1f0b6d2e7a"


@dataclass
class Hooks:
    url: str
    session: aiohttp.ClientSession
    viewer: str
    admin: str
    cameras: CameraStack
    pool: asyncpg.Pool
    grants: Grants

    async def auth(self, body: Any, key: str = HOOK_SECRET, raw: bytes | None = None) -> int:
        data = raw if raw is not None else json.dumps(body).encode()
        async with self.session.post(
            f"{self.url}/hooks/mediamtx/auth",
            params={"key": key},
            data=data,
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert await resp.read() == b""  # MediaMTX reads only the status
            return resp.status


@pytest.fixture
async def hooks(db_pool: asyncpg.Pool, camera_stack: CameraStack) -> AsyncIterator[Hooks]:
    store = TokenStore(db_pool)
    tokens = TokenRegistry(db_pool, store)
    service = TokenService(store, tokens)
    _, viewer = await service.create("viewer", Role.VIEWER)
    _, admin = await service.create("admin", Role.ADMIN)
    await camera_stack.service.sync_config(
        [
            CameraConfig(name="front", source="rtsp://u:p@192.0.2.1/s"),
            CameraConfig(name="off", source="rtsp://192.0.2.2/s", enabled=False),
            CameraConfig(name="push", source="publisher", username="cam", password="pushpw"),
            CameraConfig(name="demo", source="test://?size=320x240"),
        ]
    )
    await camera_stack.live.sync(camera_stack.registry.cameras)

    grants = Grants(READER_USER_PREFIX)
    context = auth_context_factory(
        camera_stack.registry, tokens, HOOK_SECRET, INTERNAL_PASSWORD, grants
    )
    app = create_hooks_app(
        HookServices(
            secret=HOOK_SECRET,
            auth_context=context,
            damper=FailureDamper(limit=3, window_s=60, block_s=300),
            registry=camera_stack.registry,
            live=camera_stack.live,
            metrics=camera_stack.metrics.group(ApiMetrics),
        )
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    # A new TCP connection per request, as MediaMTX does.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = str(server.make_url("")).rstrip("/")
        yield Hooks(url, session, viewer, admin, camera_stack, db_pool, grants)
    await server.close()


def mediamtx_body(**overrides: Any) -> dict[str, Any]:
    """The body MediaMTX v1.20 sends (internal/auth/manager.go)."""
    body = {
        "user": "",
        "password": "",
        "token": "",
        "ip": "192.0.2.50",
        "action": "read",
        "path": "front",
        "protocol": "rtsp",
        "id": UUID,
        "query": "",
        "userAgent": "VLC/3.0.20 LibVLC/3.0.20",
    }
    body.update(overrides)
    return body


async def test_rtsp_reader_flow_anonymous_then_token(hooks: Hooks) -> None:
    # An RTSP client first asks without credentials: denied, so it sends Basic credentials.
    assert await hooks.auth(mediamtx_body()) == 401
    assert await hooks.auth(mediamtx_body(user="any", password=hooks.viewer)) == 200
    # HLS/WebRTC with `Authorization: Bearer <token>` arrive as `token`.
    assert await hooks.auth(mediamtx_body(protocol="hls", token=hooks.viewer, id=None)) == 200
    assert await hooks.auth(mediamtx_body(path="off", token=hooks.viewer)) == 401
    assert await hooks.auth(mediamtx_body(path="nope", token=hooks.viewer)) == 401


async def test_publish_rules(hooks: Hooks) -> None:
    publish = functools.partial(mediamtx_body, action="publish", path="push")
    assert await hooks.auth(publish(user="cam", password="pushpw")) == 200
    assert await hooks.auth(publish(user="cam", password="wrong")) == 401
    # An operator or admin granted a publisher camera publishes to it; a viewer never does.
    assert await hooks.auth(publish(user="any", password=hooks.admin)) == 200
    assert await hooks.auth(publish(user="any", password=hooks.viewer)) == 401
    assert await hooks.auth(publish(path="front", user="any", password=hooks.admin)) == 401
    assert await hooks.auth(publish(path="front", user="cam", password="pushpw")) == 401
    synthetic = synthetic_publish_password(HOOK_SECRET, "demo")
    assert (
        await hooks.auth(
            publish(path="demo", ip="127.0.0.1", user=SYNTHETIC_PUBLISH_USER, password=synthetic)
        )
        == 200
    )
    assert (
        await hooks.auth(
            publish(path="demo", ip="127.0.0.1", user=INTERNAL_USER, password=INTERNAL_PASSWORD)
        )
        == 401
    )


async def test_api_metrics_pprof_need_admin_and_internal_is_api_only(hooks: Hooks) -> None:
    for action in ("api", "metrics", "pprof"):
        body = functools.partial(mediamtx_body, action=action, path="", protocol="", id=None)
        assert await hooks.auth(body(token=hooks.viewer)) == 401, action
        assert await hooks.auth(body(token=hooks.admin)) == 200, action
        internal = await hooks.auth(body(user=INTERNAL_USER, password=INTERNAL_PASSWORD))
        assert internal == (200 if action == "api" else 401), action
    read = mediamtx_body(user=INTERNAL_USER, password=INTERNAL_PASSWORD, path="front")
    assert await hooks.auth(read) == 401  # recorders read with grants of their own


async def test_a_reader_grant_reads_its_path_while_it_lives(hooks: Hooks) -> None:
    grant = hooks.grants.issue("front")
    read = functools.partial(mediamtx_body, user=grant.user, password=grant.password)
    assert await hooks.auth(read(path="front")) == 200
    assert await hooks.auth(read(path="demo")) == 401  # another camera
    assert await hooks.auth(read(path="front", action="publish")) == 401
    api = read(action="api", path="", protocol="", id=None)
    assert await hooks.auth(api) == 401
    hooks.grants.revoke(grant.user)
    assert await hooks.auth(read(path="front")) == 401  # the run is over


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"action": "read", "path": 5}',
        b'{"action": "read", "id": 7}',
        b'{"action": ["read"]}',
        b"\xff\xfe",
    ],
)
async def test_malformed_bodies_are_denied(hooks: Hooks, raw: bytes) -> None:
    assert await hooks.auth(None, raw=raw) == 401


async def test_older_and_newer_mediamtx_bodies(hooks: Hooks) -> None:
    old = mediamtx_body(user="x", password=hooks.viewer)
    del old["token"], old["userAgent"]  # before v1.12.3 / v1.19.0
    assert await hooks.auth(old) == 200
    newer = mediamtx_body(token=hooks.viewer, someFutureKey={"a": 1})
    assert await hooks.auth(newer) == 200


async def test_wrong_hook_secret_is_denied(hooks: Hooks) -> None:
    assert await hooks.auth(mediamtx_body(token=hooks.admin), key="guess") == 401
    assert await hooks.auth(mediamtx_body(token=hooks.admin), key="") == 401


async def test_brute_force_damping_blocks_one_ip_only(hooks: Hooks) -> None:
    attacker = functools.partial(mediamtx_body, ip="198.51.100.7", user="x")
    for _ in range(3):
        assert await hooks.auth(attacker(password="vmsd_guess")) == 401
    # Blocked now: even a valid token from that IP is denied for the cool-down.
    assert await hooks.auth(attacker(password=hooks.viewer)) == 401
    assert await hooks.auth(mediamtx_body(ip="192.0.2.99", token=hooks.viewer)) == 200
    # Anonymous attempts are the normal RTSP handshake, never counted.
    for _ in range(10):
        assert await hooks.auth(mediamtx_body(ip="192.0.2.100")) == 401
    assert await hooks.auth(mediamtx_body(ip="192.0.2.100", token=hooks.viewer)) == 200
    metrics = hooks.cameras.metrics
    blocked = (
        metrics.group(ApiMetrics).auth_requests.labels(action="read", result="blocked")._value.get()
    )
    assert blocked == 1


async def _post_hook(hooks: Hooks, hook: str, body: Any, key: str = HOOK_SECRET) -> int:
    async with hooks.session.post(
        f"{hooks.url}/hooks/mediamtx/{hook}", params={"key": key}, json=body
    ) as resp:
        return resp.status


async def test_availability_hooks_are_idempotent(hooks: Hooks) -> None:
    live = hooks.cameras.live
    body = {"path": "front", "source_type": "rtspSource", "source_id": ""}
    assert await _post_hook(hooks, "available", body) == 204
    assert await _post_hook(hooks, "available", body) == 204
    assert live.get("front").state is CameraState.ONLINE
    assert await _post_hook(hooks, "unavailable", body) == 204
    assert live.get("front").state is CameraState.OFFLINE
    types = [
        r["type"]
        for r in await hooks.pool.fetch(
            "SELECT type FROM events WHERE camera = 'front' ORDER BY id"
        )
    ]
    assert types == ["camera_online", "camera_offline"]  # the repeat made no event


@pytest.mark.parametrize(
    ("body", "key", "status"),
    [
        ({"path": "front"}, "wrong", 401),
        ({"path": "nope"}, HOOK_SECRET, 404),
        ({"path": "../etc"}, HOOK_SECRET, 422),
        ({"nopath": 1}, HOOK_SECRET, 422),
        ([1, 2], HOOK_SECRET, 422),
    ],
)
async def test_availability_hook_bad_input(hooks: Hooks, body: Any, key: str, status: int) -> None:
    assert await _post_hook(hooks, "available", body, key=key) == status
    assert hooks.cameras.live.get("front").state is CameraState.UNKNOWN


async def test_vmsd_hook_subprocess_as_mediamtx_runs_it(hooks: Hooks, tmp_path: Path) -> None:
    key_file = tmp_path / "hook.secret"
    key_file.write_text(HOOK_SECRET + "\n")
    env = {
        "MTX_PATH": "push",
        "MTX_SOURCE_TYPE": "rtspSession",
        "MTX_SOURCE_ID": UUID,
        "RTSP_PORT": "8554",
        "PATH": "/usr/bin:/bin",
    }
    argv = [
        sys.executable,
        "-m",
        "vmsd",
        "hook",
        "available",
        "--url",
        f"{hooks.url}/hooks/mediamtx",
        "--key-file",
        str(key_file),
    ]
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert hooks.cameras.live.get("push").state is CameraState.ONLINE
    argv[4] = "unavailable"
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stderr=asyncio.subprocess.PIPE)
    await proc.communicate()
    assert hooks.cameras.live.get("push").state is CameraState.OFFLINE
    # A wrong secret fails loudly for an operator running it by hand.
    key_file.write_text("wrong")
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 1 and b"401" in err


async def test_a_blocked_loopback_still_serves_vmsd_itself(hooks: Hooks) -> None:
    """A local brute force must not cut off the recorders and test-pattern publishers."""
    local = functools.partial(mediamtx_body, ip="127.0.0.1", user="x")
    for _ in range(3):
        assert await hooks.auth(local(password="vmsd_guess")) == 401
    assert await hooks.auth(local(password=hooks.viewer)) == 401  # blocked
    internal = mediamtx_body(
        ip="127.0.0.1", action="api", path="", protocol="", id=None,
        user=INTERNAL_USER, password=INTERNAL_PASSWORD,
    )  # fmt: skip
    assert await hooks.auth(internal) == 200
    grant = hooks.grants.issue("front")
    reader = mediamtx_body(ip="127.0.0.1", path="front", user=grant.user, password=grant.password)
    assert await hooks.auth(reader) == 200
    synthetic = synthetic_publish_password(HOOK_SECRET, "demo")
    publish = mediamtx_body(
        ip="127.0.0.1",
        action="publish",
        path="demo",
        user=SYNTHETIC_PUBLISH_USER,
        password=synthetic,
    )
    assert await hooks.auth(publish) == 200
