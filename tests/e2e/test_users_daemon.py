"""The real daemon with user accounts: `vmsd user` while it runs, then a login, the cookie,
CSRF, logout, and a disable that ends the session at once (NOTIFY)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_process import DaemonProcess, write_config

PASSWORD = "correct horse battery"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(write_config(tmp_path))
    yield process
    process.close()


def vmsd_user(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmsd", "user", *args, "--config", str(config)],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def call(
    daemon: DaemonProcess, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(daemon.url + path, data, headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_users_and_sessions_in_the_running_daemon(daemon: DaemonProcess) -> None:
    daemon.start().wait_ready()
    created = vmsd_user(
        daemon.config_path, "create", "--name", "guard", "--role", "viewer", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    deadline = time.monotonic() + 10
    while (status := call(daemon, "POST", "/api/v1/auth/login",
                          {"username": "guard", "password": PASSWORD})[0]) == 401:  # fmt: skip
        assert time.monotonic() < deadline, "the daemon never heard of the user"
        time.sleep(0.1)
    assert status == 200
    status, headers, body = call(
        daemon, "POST", "/api/v1/auth/login", {"username": "guard", "password": PASSWORD}
    )
    assert status == 200 and json.loads(body)["name"] == "guard"
    set_cookie = headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    cookie = set_cookie.split(";", 1)[0]

    status, _, body = call(daemon, "GET", "/api/v1/auth/me", Cookie=cookie)
    assert status == 200 and json.loads(body)["kind"] == "user"
    assert call(daemon, "POST", "/api/v1/auth/logout", Cookie=cookie)[0] == 403  # no Origin
    status, _, _ = call(
        daemon, "POST", "/api/v1/auth/logout", Cookie=cookie, Origin="http://evil.example"
    )
    assert status == 403

    disabled = vmsd_user(daemon.config_path, "disable", "--name", "guard")
    assert disabled.returncode == 0, disabled.stderr
    assert call(daemon, "GET", "/api/v1/auth/me", Cookie=cookie)[0] == 401  # sessions ended
    failed = call(daemon, "POST", "/api/v1/auth/login", {"username": "guard", "password": PASSWORD})
    unknown = call(
        daemon, "POST", "/api/v1/auth/login", {"username": "nobody", "password": PASSWORD}
    )
    assert failed[0] == unknown[0] == 401 and failed[2] == unknown[2]
    assert daemon.stop() == 0
