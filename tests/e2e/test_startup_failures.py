"""Every way the real daemon can fail to start, as an operator meets it: one line on stderr
naming the configuration key and the cause, one `daemon_failed` log line, the documented exit
status (78 change the configuration or the box; 75 try again later: systemd does), and never a
traceback. Ports are taken by real listening sockets, directories made unusable by a regular
file in the way or a real read-only filesystem."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.daemon_process import DaemonProcess, write_config
from tests.net import free_port

EX_TEMPFAIL = 75
EX_CONFIG = 78


@dataclass
class Failure:
    status: int
    stderr: str
    log: list[dict[str, Any]]
    output: str

    @property
    def failed(self) -> dict[str, Any]:
        (event,) = [e for e in self.log if e.get("event") == "daemon_failed"]
        return event


def start_failing(config: Path, timeout_s: float = 90.0) -> Failure:
    """`vmsd run` as an operator types it, expected to end by itself."""
    done = subprocess.run(
        [sys.executable, "-m", "vmsd", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )
    log = []
    for line in done.stdout.splitlines():
        with contextlib.suppress(ValueError):
            log.append(json.loads(line))
    return Failure(done.returncode, done.stderr, log, done.stdout + done.stderr)


def assert_one_line(failure: Failure, setting: str, status: int, *causes: str) -> None:
    assert failure.status == status, failure.output
    lines = failure.stderr.splitlines()
    assert len(lines) == 1, failure.stderr
    assert lines[0].startswith(f"vmsd: cannot start: {setting}: "), lines[0]
    for cause in causes:
        assert cause in lines[0], lines[0]
    assert "Traceback" not in failure.output
    event = failure.failed
    assert event["setting"] == setting and event["exit_status"] == status
    assert event["level"] == "error" and "exception" not in event


@contextlib.contextmanager
def listening(port: int) -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield sock


def _mount(*args: str) -> None:
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount(8)")
    done = subprocess.run([mount, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs; `read_only(path)` remounts it read-only."""
    mountpoint = tmp_path / "fs"
    mountpoint.mkdir()
    _mount("-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mountpoint))
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def read_only(mountpoint: Path, writable: bool = False) -> None:
    _mount("-o", "remount,rw" if writable else "remount,ro", str(mountpoint))


def _external_mediamtx(tmp_path: Path, repo_root: Path, hooks_port: int) -> dict[str, Any]:
    return {
        "mode": "external",
        "base_config": str(repo_root / "mediamtx.yml"),
        "config_path": str(tmp_path / "mediamtx" / "mediamtx.yml"),
        "api_port": free_port(),  # nothing listens: MediaMTX is not running here
        "hooks_port": hooks_port,
    }


# --- listeners ---------------------------------------------------------------------------------


def test_api_port_in_use(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    port = yaml.safe_load(config.read_text())["server"]["port"]
    with listening(port):
        failure = start_failing(config)
    assert_one_line(
        failure, "server.port", EX_TEMPFAIL,
        f"127.0.0.1:{port} is already in use", f"pid {os.getpid()}",
    )
    assert not (tmp_path / "state" / "db").exists()  # found before the database started


def test_hooks_port_in_use(tmp_path: Path, repo_root: Path) -> None:
    hooks_port = free_port()
    config = write_config(tmp_path, mediamtx=_external_mediamtx(tmp_path, repo_root, hooks_port))
    with listening(hooks_port):
        failure = start_failing(config)
    assert_one_line(
        failure, "mediamtx.hooks_port", EX_TEMPFAIL, f"127.0.0.1:{hooks_port} is already in use"
    )


def test_api_host_not_on_this_box(tmp_path: Path) -> None:
    config = write_config(tmp_path, server={"host": "192.0.2.1", "port": free_port()})
    failure = start_failing(config)
    assert_one_line(failure, "server.host", EX_TEMPFAIL, "192.0.2.1 is not an address of this host")


def test_with_mediamtx_off_the_hooks_port_is_not_bound(tmp_path: Path) -> None:
    """Nothing calls the hooks with MediaMTX off: its port is free, even taken by another."""
    config = write_config(tmp_path)
    daemon = DaemonProcess(config)
    hooks_port = daemon.config["mediamtx"]["hooks_port"]
    try:
        with listening(hooks_port):
            daemon.start().wait_ready()
        assert daemon.proc is not None
        ports = {c.laddr.port for c in psutil.Process(daemon.proc.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN}
        assert ports == {daemon.port}
        assert daemon.stop() == 0
    finally:
        daemon.close()


# --- directories -------------------------------------------------------------------------------


def test_state_dir_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory\n")
    config = write_config(tmp_path, state_dir=str(tmp_path / "file" / "state"))
    failure = start_failing(config)
    assert_one_line(failure, "state_dir", EX_CONFIG, "Not a directory")


def test_state_dir_on_a_read_only_filesystem(tmp_path: Path, small_fs: Path) -> None:
    read_only(small_fs)
    config = write_config(tmp_path, state_dir=str(small_fs / "state"))
    failure = start_failing(config)
    assert_one_line(failure, "state_dir", EX_CONFIG, "Read-only file system")


def test_state_dir_in_use_by_another_command(tmp_path: Path) -> None:
    from vmsd.runtime.statelock import StateDirLock

    config = write_config(tmp_path)
    with StateDirLock(tmp_path / "state", holder="vmsd migrate"):
        failure = start_failing(config)
    assert_one_line(failure, "state_dir", EX_TEMPFAIL, "is in use by pid", "vmsd migrate")


def test_new_storage_root_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory\n")
    roots = [str(tmp_path / "recordings"), str(tmp_path / "file" / "recordings")]
    config = write_config(tmp_path, storage={"paths": roots})
    failure = start_failing(config)
    assert_one_line(
        failure, "storage.paths[1]", EX_CONFIG, f"cannot create {roots[1]}", "Not a directory"
    )
    assert not (tmp_path / "state" / "db").exists()


def test_new_storage_root_on_a_read_only_filesystem(tmp_path: Path, small_fs: Path) -> None:
    (small_fs / "recordings").mkdir()
    read_only(small_fs)
    config = write_config(tmp_path, storage={"paths": [str(small_fs / "recordings")]})
    failure = start_failing(config)
    assert_one_line(failure, "storage.paths[0]", EX_CONFIG, "read-only file system")


def test_a_root_used_before_that_is_read_only_now_does_not_stop_the_start(
    tmp_path: Path, small_fs: Path
) -> None:
    """A disk remounted read-only after errors: the other roots record on."""
    roots = [str(tmp_path / "recordings"), str(small_fs / "recordings")]
    config = write_config(tmp_path, storage={"paths": roots})
    for read_only_now in (False, True):
        if read_only_now:
            read_only(small_fs)
        daemon = DaemonProcess(config)
        try:
            daemon.start().wait_ready()
            assert daemon.stop() == 0
        finally:
            daemon.close()
    events = [e for e in daemon.log_events() if e.get("event") == "storage_root_unavailable"]
    (event,) = events
    assert event["level"] == "error" and event["setting"] == "storage.paths[1]"
    assert "read-only file system" in event["error"]


# --- binaries and the database -----------------------------------------------------------------


def test_managed_mediamtx_without_its_binary(tmp_path: Path) -> None:
    missing = str(tmp_path / "no" / "mediamtx")
    config = write_config(tmp_path, mediamtx={"mode": "managed", "binary": missing})
    failure = start_failing(config)
    assert_one_line(failure, "mediamtx.binary", EX_CONFIG, missing, "managed")


def test_ffmpeg_binary_that_is_not_there(tmp_path: Path) -> None:
    config = write_config(tmp_path, ffmpeg={"binary": "no-such-ffmpeg"})
    failure = start_failing(config)
    assert_one_line(failure, "ffmpeg.binary", EX_CONFIG, '"no-such-ffmpeg"')


def test_external_database_that_does_not_answer(tmp_path: Path) -> None:
    url = f"postgresql://vmsd:s3cret-pw@127.0.0.1:{free_port()}/vmsd"
    config = write_config(tmp_path, database={"url": url, "connect_timeout_seconds": 2})
    failure = start_failing(config)
    assert_one_line(failure, "database.url", EX_TEMPFAIL, "cannot connect to the database")
    assert "s3cret-pw" not in failure.output
