"""`vmsd synthetic-publish` for real: the command the rendered runOnInit runs, the system FFmpeg,
and GStreamer's RTSP server taking the publish with Basic auth (standing in for MediaMTX, which
asks the same: ANNOUNCE/SETUP/RECORD with the path's credential). The credential reaches the
server; it is in no process's argv; a stranger's connection to the relay is refused."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.streams.sources import RtspServer
from vmsd.access.derive import synthetic_publish_password
from vmsd.access.mediamtx_auth import SYNTHETIC_PUBLISH_USER
from vmsd.cameras.model import camera_from_config
from vmsd.config.cameras import CameraConfig
from vmsd.mediamtx.controller import vmsd_command
from vmsd.mediamtx.render import HookGeneration, RenderSettings, render_path

HOOK_SECRET = "hook-secret-of-this-install"
PATH = "pattern"


def settings(key_file: Path, rtsp_port: int) -> RenderSettings:
    return RenderSettings(
        rtsp_port=rtsp_port,
        api_port=9997,
        metrics_port=9998,
        hooks_base_url="http://127.0.0.1:8481/hooks/mediamtx",
        hook_secret=HOOK_SECRET,
        hook_secret_file=str(key_file),
        hook_command=(*vmsd_command(), "hook"),
        hook_generation=HookGeneration.AVAILABLE,
        ffmpeg_binary="/usr/bin/ffmpeg",
        publisher_command=(*vmsd_command(), "synthetic-publish"),
    )


def run_on_init(key_file: Path, rtsp_port: int) -> list[str]:
    camera = camera_from_config(
        CameraConfig(name=PATH, source="test://?size=160x120&fps=10"), "config"
    )
    return shlex.split(render_path(camera, settings(key_file, rtsp_port))["runOnInit"])


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "hook.secret"
    path.write_text(HOOK_SECRET + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def server() -> Iterator[RtspServer]:
    password = synthetic_publish_password(HOOK_SECRET, PATH)
    with RtspServer([PATH], user=SYNTHETIC_PUBLISH_USER, password=password, record=True) as srv:
        yield srv


def start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def end(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, 2)  # SIGINT to the group, as MediaMTX stops a command
    proc.communicate(timeout=15)
    return proc.returncode


def publisher_ffmpeg(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = psutil.Process(proc.pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("the publisher started no FFmpeg")


def test_the_pattern_reaches_a_server_that_needs_the_credential(
    server: RtspServer, key_file: Path
) -> None:
    argv = run_on_init(key_file, server.port)
    password = synthetic_publish_password(HOOK_SECRET, PATH)
    assert not any(password in arg or HOOK_SECRET in arg for arg in argv)
    proc = start(argv)
    try:
        assert server.wait_for_line(f"MEDIA /{PATH}"), "no published frame reached the server"
        ffmpeg = publisher_ffmpeg(proc)
        for process in (psutil.Process(proc.pid), ffmpeg):
            cmdline = " ".join(process.cmdline())
            assert password not in cmdline and "@" not in cmdline, cmdline
            assert password not in str(process.environ())
    finally:
        end(proc)


def test_a_wrong_secret_is_refused_by_the_server(server: RtspServer, tmp_path: Path) -> None:
    wrong = tmp_path / "other.secret"
    wrong.write_text("another-install\n")
    proc = start(run_on_init(wrong, server.port))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert b"401" in err
    assert not server.wait_for_line(f"MEDIA /{PATH}", timeout_s=1.0)


def test_a_stranger_connecting_to_the_relay_is_refused(server: RtspServer, key_file: Path) -> None:
    proc = start(run_on_init(key_file, server.port))
    try:
        assert server.wait_for_line(f"MEDIA /{PATH}")
        target = publisher_ffmpeg(proc).cmdline()[-1]  # rtsp://127.0.0.1:<relay port>/pattern
        relay_port = int(target.rsplit(":", 1)[1].split("/", 1)[0])
        with socket.create_connection(("127.0.0.1", relay_port), timeout=5) as stranger:
            request = f"ANNOUNCE rtsp://127.0.0.1:{relay_port}/{PATH} RTSP/1.0\r\nCSeq: 1\r\n\r\n"
            stranger.sendall(request.encode())
            try:  # closed without a word (a reset, as its request was not read): no relay
                answer = stranger.recv(1024)
            except ConnectionResetError:
                answer = b""
            assert answer == b"", answer
        assert proc.poll() is None  # the publisher's own stream goes on
    finally:
        end(proc)
