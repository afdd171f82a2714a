"""Another local user reads /proc while vmsd works: no camera password, no credential.

As root (CI), the test creates an unprivileged user and, as that user, reads every
/proc/*/cmdline and /proc/*/environ over and over while the real daemon records a camera that
needs a password (GStreamer's RTSP server with RTSPAuth) and takes snapshots:

- with MediaMTX off, FFmpeg reads the camera itself;
- with MediaMTX in external mode (MediaMTX itself is not installable here: a silent listener
  holds its RTSP port so that each FFmpeg run lives long enough to be seen), recorders and
  snapshot grabs read through MediaMTX with reader grants, and the rendered file's runOn*
  commands are run the way MediaMTX runs them (split with shell rules, exec'd, MTX_PATH set).

The reader looks for the camera's unique password, the query-string secret and the publish
password, and for any `scheme://user:pass@` anywhere; it must find none. It also reports what
it saw, so the test proves the processes it had to check were there to be read.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.daemon_client import until
from tests.daemon_process import DaemonProcess, write_config
from tests.faults import create_token
from tests.net import free_port
from tests.streams.sources import RtspServer
from vmsd.access.derive import synthetic_publish_password

pytestmark = pytest.mark.slow

SNOOP_USER = "vmsd-snoop"
# Runs as the unprivileged user: the secrets to look for come on stdin, never in its argv.
SCANNER = r"""
import json, os, re, sys, time
wanted = json.loads(sys.stdin.read())
secrets, seconds = wanted["secrets"], wanted["seconds"]
credential = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@\x00]+:[^\s/@\x00]+@")
found, seen, unreadable_environ = [], {}, 0
me = os.getpid()
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as handle:
                    data = handle.read()
            except PermissionError:
                unreadable_environ += part == "environ"
                continue
            except OSError:
                continue
            hit = [s for s in secrets if s.encode() in data] or (
                ["credential"] if credential.search(data) else [])
            entry = [part, hit, data.replace(b"\0", b" ").decode(errors="replace")[:300]]
            if hit and entry not in found:
                found.append(entry)
            if part == "cmdline":
                seen[data.replace(b"\0", b" ").decode(errors="replace")] = 1
    time.sleep(0.02)
print(json.dumps({"found": found, "seen": sorted(seen), "unreadable_environ": unreadable_environ}))
"""


@pytest.fixture(scope="module")
def snoop_user() -> Iterator[str]:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs this as root: it needs to create an unprivileged user")
        pytest.skip("needs root to create an unprivileged user")
    created = False
    try:
        pwd.getpwnam(SNOOP_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "--user-group", SNOOP_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        created = True
    yield SNOOP_USER
    if created:
        subprocess.run(["userdel", SNOOP_USER], check=False, capture_output=True)


class Scan:
    """The scanner, running as `user` in the background for `seconds`."""

    def __init__(self, user: str, wanted: list[str], seconds: float) -> None:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (util-linux) is needed"
        self.proc = subprocess.Popen(
            [setpriv, f"--reuid={user}", f"--regid={user}", "--init-groups", "--",
             "/usr/bin/python3", "-c", SCANNER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd="/",
        )  # fmt: skip
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"secrets": wanted, "seconds": seconds}).encode())
        self.proc.stdin.close()
        self.proc.stdin = None  # sent and closed: the scan starts now, communicate() only reads
        self.seconds = seconds

    def result(self) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=self.seconds + 30)
        assert self.proc.returncode == 0, err.decode()
        result: dict[str, Any] = json.loads(out)
        return result


def _snapshots(daemon: DaemonProcess, token: str, camera: str, stop: threading.Event) -> None:
    """Ask for snapshots until told to stop (each one is an FFmpeg grab to be seen)."""
    while not stop.is_set():
        with contextlib.suppress(OSError):
            daemon.request("GET", f"/api/v1/cameras/{camera}/snapshot", token=token, timeout_s=20)
        stop.wait(0.3)


def _assert_clean(result: dict[str, Any], must_see: list[str]) -> None:
    assert result["found"] == [], json.dumps(result["found"], indent=1)
    for fragment in must_see:
        assert any(fragment in line for line in result["seen"]), (
            f"the scan never saw a process with {fragment!r}: {[s[:200] for s in result['seen']]}"
        )


def test_mediamtx_off_no_camera_password_in_proc(snoop_user: str, tmp_path: Path) -> None:
    password = f"Cam-{secrets.token_hex(8)}"
    with RtspServer(["/door"], user="admin", password=password) as camera:
        source = f"rtsp://127.0.0.1:{camera.port}/door"
        config = write_config(
            tmp_path,
            cameras=[
                {"name": "door", "source": source, "username": "admin", "password": password},
            ],
            recording={"segment_seconds": 2},
        )
        daemon = DaemonProcess(config).start()
        try:
            daemon.wait_ready()
            token = create_token(daemon)
            until(
                "the camera recording",
                lambda: daemon.get("/api/v1/cameras/door", token)[1].get("recorder", {}).get(
                    "state") == "recording",
                60, every_s=0.2,
            )  # fmt: skip
            scan = Scan(snoop_user, [password], seconds=8)
            stop = threading.Event()
            grabber = threading.Thread(target=_snapshots, args=(daemon, token, "door", stop))
            grabber.start()
            try:
                result = scan.result()
            finally:
                stop.set()
                grabber.join()
            status, _ = daemon.get("/api/v1/cameras/door/snapshot", token)
            assert status == 200  # the grabs worked: they read the camera with its password
        finally:
            daemon.stop()
            daemon.close()
    # The recorder's and the snapshot's FFmpeg were there, reading their input files.
    _assert_clean(result, ["-f concat", "-c:v mjpeg"])


@contextlib.contextmanager
def silent_listener(port: int) -> Iterator[None]:
    """Holds MediaMTX's RTSP port: accepts, never answers (each FFmpeg waits its timeout)."""
    server = socket.create_server(("127.0.0.1", port))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def _run_on_commands(rendered: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, command) for every runOn* command in the rendered file."""
    return [
        (name, command)
        for name, path in rendered["paths"].items()
        for key, command in path.items()
        if key.startswith("runOn") and isinstance(command, str)
    ]


def test_mediamtx_external_no_credential_in_proc(
    snoop_user: str, tmp_path: Path, repo_root: Path
) -> None:
    password = f"Cam-{secrets.token_hex(8)}"
    query_secret = f"tok{secrets.token_hex(8)}"
    rtsp_port = free_port()
    mediamtx = {
        "mode": "external",
        "base_config": str(repo_root / "mediamtx.yml"),
        "config_path": str(tmp_path / "mediamtx" / "mediamtx.yml"),
        "hooks_port": free_port(),
        "api_port": free_port(),
        "rtsp_port": rtsp_port,
        "poll_interval_seconds": 1,
    }
    cameras = [
        {"name": "gate", "source": "rtsp://192.0.2.7/h264", "username": "admin",
         "password": password},
        {"name": "yard", "source": f"rtsp://192.0.2.8/live?token={query_secret}"},
        {"name": "demo", "source": "test://?size=160x120&fps=5"},
    ]  # fmt: skip
    config = write_config(tmp_path, mediamtx=mediamtx, cameras=cameras)
    daemon = DaemonProcess(config).start()
    commands: list[subprocess.Popen[bytes]] = []
    try:
        daemon.wait_ready()
        token = create_token(daemon)
        rendered = yaml.safe_load(Path(mediamtx["config_path"]).read_text())
        hook_secret = (Path(daemon.state_dir) / "hook.secret").read_text().strip()
        publish_password = synthetic_publish_password(hook_secret, "demo")
        wanted = [password, query_secret, publish_password, hook_secret]
        run_on = _run_on_commands(rendered)
        assert any("synthetic-publish" in c for _, c in run_on)
        for _, command in run_on:
            assert not any(w in command for w in wanted), command
        with silent_listener(rtsp_port):
            scan = Scan(snoop_user, wanted, seconds=10)
            stop = threading.Event()
            grabber = threading.Thread(target=_snapshots, args=(daemon, token, "gate", stop))
            grabber.start()
            for name, command in run_on:  # as MediaMTX runs them
                commands.append(
                    subprocess.Popen(
                        shlex.split(command),
                        env={**os.environ, "MTX_PATH": name, "MTX_SOURCE_TYPE": "rtspSource"},
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True,
                    )
                )  # fmt: skip
            try:
                result = scan.result()
            finally:
                stop.set()
                grabber.join()
    finally:
        for proc in commands:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
        for proc in commands:
            proc.wait(timeout=15)
        daemon.stop()
        daemon.close()
    # Recorders and snapshot grabs through MediaMTX, the synthetic publisher and its FFmpeg.
    _assert_clean(result, ["-f concat", "-c:v mjpeg", "synthetic-publish", "-f rtsp"])
