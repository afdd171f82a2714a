"""Runs the real daemon as a child process, with a real sd_notify socket."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Unpack

import psutil
import yaml

from tests.daemon_client import TIMEOUT_S, Answer, Options, login, request
from tests.net import free_port
from vmsd.config.load import load_config
from vmsd.runtime.database import cli_pool
from vmsd.store.recordings import RecordingStore, SegmentRecord


def write_config(directory: Path, **overrides: Any) -> Path:
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": free_port()},
        "state_dir": str(directory / "state"),
        "storage": {"paths": [str(directory / "recordings")]},
        "mediamtx": {"mode": "off", "hooks_port": free_port()},
        "log": {"level": "debug", "format": "json"},
    }
    for key, value in overrides.items():
        config[key] = value
    path = directory / "vmsd.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def vmsd_cli(
    config: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m vmsd ARGS --config CONFIG`, never raising: `token`'s subcommands take
    `--config` right after `token`."""
    return subprocess.run(
        [sys.executable, "-m", "vmsd", *args, "--config", str(config)] if args[0] != "token"
        else [sys.executable, "-m", "vmsd", "token", "--config", str(config), *args[1:]],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def create_token(config: Path, name: str, role: str, *args: str) -> str:
    """The secret of a new API token made by `vmsd token create` (`args`: e.g. --cameras)."""
    created = vmsd_cli(config, "token", "create", "--name", name, "--role", role, *args)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def create_user(config: Path, name: str, role: str, password: str, *args: str) -> None:
    """A user made by `vmsd user create`, its password on stdin (`args`: e.g. --cameras)."""
    made = vmsd_cli(
        config, "user", "create", "--name", name, "--role", role, *args, "--password-stdin",
        stdin=password + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr


@dataclass
class DaemonProcess:
    config_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    notifications: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory = self.config_path.parent
        self.config = yaml.safe_load(self.config_path.read_text())
        self.port = self.config["server"]["port"]
        self.state_dir = Path(self.config["state_dir"])
        self.log_path = self.directory / f"daemon-{time.monotonic_ns()}.log"
        self.notify_path = self.directory / f"n{time.monotonic_ns() % 10**8}.sock"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(self.notify_path))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DaemonProcess:
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path), **self.extra_env}
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vmsd", "run", "--config", str(self.config_path)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )
        return self

    def wait_for_notification(self, prefix: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.notifications:
                if any(line.startswith(prefix) for line in message.splitlines()):
                    return message
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}):\n{self.log_text()}")
            self._notify.settimeout(0.2)
            try:
                self.notifications.append(self._notify.recv(65536).decode())
            except TimeoutError:
                continue
        raise AssertionError(f"no {prefix} within {timeout}s:\n{self.log_text()}")

    def drain_notifications(self) -> None:
        self._notify.settimeout(0.05)
        while True:
            try:
                self.notifications.append(self._notify.recv(65536).decode())
            except TimeoutError:
                return

    def wait_ready(self) -> None:
        self.wait_for_notification("READY=1")

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.send(sig)
        return self.wait_exit()

    def request(self, method: str, path: str, **options: Unpack[Options]) -> Answer:
        """`daemon_client.request` of `path` on this daemon's API."""
        return request(method, self.url + path, **options)

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        """GET `path`: its status and `Answer.json()`."""
        answer = self.request("GET", path, token=token or None)
        return answer.status, answer.json()

    def login(self, user: str, password: str, timeout_s: float = TIMEOUT_S) -> str:
        """A session of `user`: the `vmsd_session` cookie's value."""
        return login(self.url, user, password, timeout_s)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._notify.close()
        if hasattr(self, "_log"):
            self._log.close()


def processes_using(state_dir: Path) -> list[psutil.Process]:
    """Every live process whose command line mentions the state dir (postgres, children)."""
    found = []
    marker = str(state_dir)
    for proc in psutil.process_iter(["cmdline", "pid"]):
        try:
            cmdline = proc.info["cmdline"] or []
        except psutil.Error:
            continue
        if proc.pid != os.getpid() and any(marker in part for part in cmdline):
            found.append(proc)
    return found


def wait_no_processes(state_dir: Path, timeout: float = 15.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    left = processes_using(state_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in processes_using(state_dir) if p.status() != psutil.STATUS_ZOMBIE]
    return left


def indexed_rows(config_path: Path, cameras: tuple[str, ...]) -> dict[str, list[SegmentRecord]]:
    """Each camera's index rows, read through the CLI's own database access (the daemon's
    server when one runs, else a private one for the read)."""

    async def read() -> dict[str, list[SegmentRecord]]:
        async with cli_pool(load_config(config_path)) as pool:
            store = RecordingStore(pool)
            return {c: await store.for_camera(c) for c in cameras}

    return asyncio.run(read())
