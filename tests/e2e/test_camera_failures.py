"""The real daemon (MediaMTX off) with cameras that fail for real, as an operator meets them:
a GStreamer RTSP server that wants Basic auth given a wrong password, a path it does not
have, a closed port, a host name that does not resolve, a server that accepts and says
nothing. The camera API names each failure's class within one retry; events come on changes
only; a refused password is retried slowly and a new one at once; a restart does not announce
the dead cameras again; a publisher camera is refused with MediaMTX off."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.net import free_port
from tests.streams.sources import RtspServer

USER, PASSWORD, WRONG = "admin", "right-pw-4711", "wrong-pw-0815"
UNAUTHORIZED_RETRY_S = 30  # the smallest recording.unauthorized_retry_seconds allowed
Camera = dict[str, Any]


@pytest.fixture
def camera_server() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], user=USER, password=PASSWORD) as server:
        yield server




def _config(tmp_path: Path, **overrides: Any) -> Path:
    return write_config(
        tmp_path,
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"unauthorized_retry_seconds": UNAUTHORIZED_RETRY_S},
        **overrides,
    )


def _token(config: Path) -> str:
    return create_token(config, "ops", "admin")


async def _started(config: Path) -> DaemonProcess:
    process = DaemonProcess(config)
    await asyncio.to_thread(lambda: process.start().wait_ready())
    return process


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def add(self, name: str, source: str, **fields: Any) -> None:
        status, body = await self.call(
            "POST", "/api/v1/cameras", {"name": name, "source": source, **fields}
        )
        assert status == 201, body

    async def camera_until(
        self, name: str, ok: Callable[[Camera], bool], timeout_s: float = 30.0
    ) -> Camera:
        """The camera once `ok`; its key "_after_s": how long that took from this call."""
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            status, camera = await self.call("GET", f"/api/v1/cameras/{name}")
            assert status == 200, camera
            if ok(camera):
                return {**camera, "_after_s": time.monotonic() - started}
            assert time.monotonic() < deadline, f"{name}: not reached; last {camera}"
            await asyncio.sleep(0.1)

    async def events(self, camera: str, type_: str) -> list[dict[str, Any]]:
        status, page = await self.call(
            "GET", f"/api/v1/events?camera={camera}&type={type_}&order=asc&limit=100"
        )
        assert status == 200, page
        return list(page["items"])


def _failed_with(failure: str, at_least: int = 1) -> Callable[[Camera], bool]:
    def ok(camera: Camera) -> bool:
        error = camera["last_error"]
        return error is not None and error["class"] == failure and error["repeats"] >= at_least

    return ok


def _api(process: DaemonProcess, token: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})


@pytest.mark.slow
async def test_each_failure_shows_its_class_within_one_retry(
    tmp_path: Path, camera_server: RtspServer, silent_port: int
) -> None:
    config = _config(tmp_path)
    token = _token(config)
    process = await _started(config)
    port = camera_server.port
    cases = {
        "locked": (f"rtsp://{USER}:{WRONG}@127.0.0.1:{port}/cam1", "unauthorized"),
        "nopath": (f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/nope", "not_found"),
        "closed": (f"rtsp://127.0.0.1:{free_port()}/cam1", "refused"),
        "nowhere": ("rtsp://nonexistent.invalid/cam1", "unreachable"),
        "hung": (f"rtsp://127.0.0.1:{silent_port}/cam1", "timeout"),
    }
    try:
        async with _api(process, token) as session:
            api = Api(session, process.url)

            async def classified(name: str, source: str, failure: str) -> Camera:
                asked = time.monotonic()
                await api.add(name, source)
                camera = await api.camera_until(name, _failed_with(failure))
                return {**camera, "_after_s": time.monotonic() - asked}

            seen = await asyncio.gather(*(classified(n, *case) for n, case in cases.items()))
            took = {name: camera["_after_s"] for name, camera in zip(cases, seen, strict=True)}
            for camera, (_, failure) in zip(seen, cases.values(), strict=True):
                assert (camera["state"], camera["state_reason"]) == ("offline", failure), camera
                # The first failed run told it (one retry at most: a slow first answer).
                assert camera["last_error"]["repeats"] <= 2, camera
                assert WRONG not in json.dumps(camera) and PASSWORD not in json.dumps(camera)
            print("time to classify (s):", {n: round(t, 2) for n, t in took.items()})
            # FFmpeg's own socket timeout (5 s) for the hung server; the rest at once.
            assert took["hung"] < 8 and max(took.values()) < 8, took

            # Many retries, one event: the streak's first failure. The metric counts them all.
            await api.camera_until("closed", _failed_with("refused", at_least=4))
            [failed] = await api.events("closed", "recorder_failed")
            assert (
                failed["data"]["class"] == "refused"
                and "Connection refused" in (failed["data"]["message"])
            )
            async with session.get(process.url + "/metrics") as response:
                metrics = await response.text()
            line = next(
                m
                for m in metrics.splitlines()
                if m.startswith('vmsd_recorder_failures_total{camera="closed",class="refused"}')
            )
            assert float(line.split()[-1]) >= 4

            # Who asked for a restart is in its event.
            status, _ = await api.call("POST", "/api/v1/cameras/closed/restart")
            assert status == 202
            [restart] = await api.events("closed", "recorder_restart_requested")
            assert restart["data"]["by"] == "ops"

            # A deletion is one event.
            status, _ = await api.call("DELETE", "/api/v1/cameras/nowhere")
            assert status == 204
            await asyncio.sleep(0.5)
            assert len(await api.events("nowhere", "camera_deleted")) == 1
            assert await api.events("nowhere", "camera_disabled") == []

            # Not recorded, MediaMTX off: a TCP check gives it a state.
            await api.add("idle-up", camera_server.url(), record=False)
            await api.add("idle-down", f"rtsp://127.0.0.1:{free_port()}/x", record=False)
            up = await api.camera_until("idle-up", lambda c: c["state"] != "unknown", 10)
            down = await api.camera_until("idle-down", lambda c: c["state"] != "unknown", 10)
            assert (up["state"], up["state_reason"]) == ("online", "reachable")
            assert (down["state"], down["state_reason"]) == ("offline", "refused")
    finally:
        code = await asyncio.to_thread(process.stop)
        process.close()
    assert code == 0


@pytest.mark.slow
async def test_a_refused_password_waits_long_and_a_new_one_is_tried_at_once(
    tmp_path: Path, camera_server: RtspServer
) -> None:
    config = _config(tmp_path)
    token = _token(config)
    process = await _started(config)
    source = f"rtsp://127.0.0.1:{camera_server.port}/cam1"
    try:
        async with _api(process, token) as session:
            api = Api(session, process.url)
            await api.add("gate", source, username=USER, password=WRONG)
            # The second refusal in a row: the long wait, said in the camera's state.
            refused_twice = _failed_with("unauthorized", at_least=2)
            camera = await api.camera_until(
                "gate", lambda c: refused_twice(c) and c["retry_at"] is not None
            )
            assert camera["state_reason"] == "unauthorized"
            assert camera["recorder"]["state"] == "backoff"
            retry_at = datetime.fromisoformat(camera["retry_at"])
            wait_s = (retry_at - datetime.now(UTC)).total_seconds()
            assert UNAUTHORIZED_RETRY_S - 5 < wait_s <= UNAUTHORIZED_RETRY_S, camera
            await asyncio.sleep(3)
            status, still = await api.call("GET", "/api/v1/cameras/gate")
            assert still["last_error"]["repeats"] == 2, "no try during the wait"

            # The operator fixes the password: tried at once, not at retry_at.
            fixed = time.monotonic()
            status, body = await api.call("PATCH", "/api/v1/cameras/gate", {"password": PASSWORD})
            assert status == 200, body
            online = await api.camera_until("gate", lambda c: c["state"] == "online", 15)
            assert online["state_reason"] == "recording" and online["retry_at"] is None
            print("fixed password recording after (s):", round(time.monotonic() - fixed, 2))
            assert time.monotonic() - fixed < 10
            [resumed] = await api.events("gate", "recording_resumed") or [None]
            assert resumed is None or resumed["data"]["after_class"] == "unauthorized"

            # A publisher camera needs MediaMTX, which is off here.
            publisher = {"name": "door", "source": "publisher", "username": "u", "password": "p"}
            status, body = await api.call("POST", "/api/v1/cameras", publisher)
            assert status == 422, body
            assert [d["field"] for d in body["error"]["details"]] == ["source"]
    finally:
        code = await asyncio.to_thread(process.stop)
        process.close()
    assert code == 0


@pytest.mark.slow
async def test_a_restart_does_not_announce_dead_or_disabled_cameras_again(tmp_path: Path) -> None:
    cameras = [
        {"name": "dead", "source": f"rtsp://127.0.0.1:{free_port()}/x"},
        {"name": "parked", "source": "rtsp://192.0.2.9/x", "enabled": False},
    ]
    config = _config(tmp_path, cameras=cameras)
    token = _token(config)
    first_since = None
    for _ in range(2):
        process = await _started(config)
        try:
            async with _api(process, token) as session:
                api = Api(session, process.url)
                dead = await api.camera_until("dead", lambda c: c["state"] == "offline")
                first_since = first_since or dead["state_since"]
                assert dead["state_since"] == first_since  # offline since the first run
                assert len(await api.events("dead", "camera_offline")) == 1
                assert len(await api.events("parked", "camera_disabled")) == 1
        finally:
            code = await asyncio.to_thread(process.stop)
            process.close()
        assert code == 0


def test_check_config_refuses_a_publisher_camera_with_mediamtx_off(tmp_path: Path) -> None:
    config = tmp_path / "vmsd.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "mediamtx": {"mode": "off"},
                "cameras": [
                    {"name": "door", "source": "publisher", "username": "u", "password": "p"}
                ],
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "vmsd", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78, result
    assert "cameras[0].source: a publisher camera publishes to MediaMTX" in result.stderr


def test_a_publisher_camera_stops_the_start_when_auto_finds_no_mediamtx(tmp_path: Path) -> None:
    publisher = {"name": "door", "source": "publisher", "username": "u", "password": "p"}
    mediamtx = {"mode": "auto", "binary": str(tmp_path / "no-mediamtx"), "hooks_port": free_port()}
    config = write_config(tmp_path, mediamtx=mediamtx, cameras=[publisher])
    process = DaemonProcess(config)
    try:
        process.start()
        assert process.wait_exit(60) == 78
    finally:
        process.close()
    assert "cameras[0].source: a publisher camera publishes to MediaMTX" in process.log_text()
