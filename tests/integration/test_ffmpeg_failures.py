"""Real FFmpeg, real failures: a snapshot of a camera that cannot be read gives the failure's
class from FFmpeg's own stderr, and that stderr, redacted, for operators only.

Both FFmpeg builds vmsd meets: the bundled 9.0.2 (what vmsd runs) and Debian's 5.1 when
installed; their messages differ in places (`401 (Unauthorized)` against `401 Unauthorized`).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import direct_inputs, ffmpeg_binary, reader_input
from tests.net import free_port
from tests.streams.sources import RtspServer
from vmsd.cameras.model import camera_from_config
from vmsd.config.cameras import CameraConfig
from vmsd.recorder.failures import CameraUnavailableError, FailureClass
from vmsd.recorder.snapshot import Snapshots

CAMERA_USER, CAMERA_PASSWORD = "admin", "cam-pw-4711"
TOKEN = "tok-0815-secret"
SYSTEM_FFMPEG = "/usr/bin/ffmpeg"
BINARIES = [
    pytest.param(ffmpeg_binary(), id="bundled"),
    pytest.param(
        SYSTEM_FFMPEG,
        id="system",
        marks=pytest.mark.skipif(shutil.which(SYSTEM_FFMPEG) is None, reason="no /usr/bin/ffmpeg"),
    ),
]


@pytest.fixture(scope="module")
def camera_server() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], user=CAMERA_USER, password=CAMERA_PASSWORD) as server:
        yield server


async def _failure(ffmpeg: str, source: str, tmp_path: Path) -> CameraUnavailableError:
    snapshots = Snapshots(ffmpeg, reader_input, direct_inputs(tmp_path), cache_s=0, timeout_s=20)
    camera = camera_from_config(CameraConfig(name="door", source=source), "api")
    with pytest.raises(CameraUnavailableError) as err:
        await snapshots.grab(camera)
    return err.value


def _reason(err: CameraUnavailableError) -> FailureClass:
    return FailureClass(err.details[0]["reason"])


def _stderr(err: CameraUnavailableError) -> list[str]:
    [internal] = err.internal_details
    lines: list[str] = internal["ffmpeg_stderr"]
    return lines


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_no_credentials_is_unauthorized(
    ffmpeg: str, camera_server: RtspServer, tmp_path: Path
) -> None:
    err = await _failure(ffmpeg, camera_server.url() + f"?token={TOKEN}", tmp_path)
    assert _reason(err) is FailureClass.UNAUTHORIZED
    assert any("401" in line for line in _stderr(err))
    assert TOKEN not in json.dumps(err.internal_details)


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_wrong_password_is_unauthorized_and_never_shown(
    ffmpeg: str, camera_server: RtspServer, tmp_path: Path
) -> None:
    source = f"rtsp://{CAMERA_USER}:wrong-pw-9@127.0.0.1:{camera_server.port}/cam1"
    err = await _failure(ffmpeg, source, tmp_path)
    assert _reason(err) is FailureClass.UNAUTHORIZED
    assert "wrong-pw-9" not in json.dumps([err.message, err.details, err.internal_details])


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_wrong_path_is_not_found(
    ffmpeg: str, camera_server: RtspServer, tmp_path: Path
) -> None:
    source = f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@127.0.0.1:{camera_server.port}/nope"
    err = await _failure(ffmpeg, source, tmp_path)
    assert _reason(err) is FailureClass.NOT_FOUND
    # FFmpeg names the URL, credentials included; the operators' detail has them redacted.
    assert any(f"{CAMERA_USER}:***@" in line for line in _stderr(err))
    assert CAMERA_PASSWORD not in json.dumps(err.internal_details)


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_closed_port_is_refused(ffmpeg: str, tmp_path: Path) -> None:
    err = await _failure(ffmpeg, f"rtsp://127.0.0.1:{free_port()}/cam1", tmp_path)
    assert _reason(err) is FailureClass.REFUSED


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_unresolvable_host_is_unreachable(ffmpeg: str, tmp_path: Path) -> None:
    # .invalid never resolves (RFC 2606); without a DNS server it is EAI_AGAIN, same class.
    err = await _failure(ffmpeg, "rtsp://nonexistent.invalid/cam1", tmp_path)
    assert _reason(err) is FailureClass.UNREACHABLE


async def test_a_silent_http_server_is_a_timeout(tmp_path: Path) -> None:
    """Accepts, never answers: FFmpeg's read timeout (5 s) ends the run."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        err = await _failure(ffmpeg_binary(), f"http://127.0.0.1:{port}/x?token={TOKEN}", tmp_path)
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()
    assert _reason(err) is FailureClass.TIMEOUT
    assert TOKEN not in json.dumps(err.internal_details)
