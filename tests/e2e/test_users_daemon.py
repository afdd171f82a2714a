"""The real daemon with user accounts: `vmsd user` while it runs, then a login, the cookie,
CSRF, logout, and a disable that ends the session at once (NOTIFY)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_client import until
from tests.daemon_process import DaemonProcess, create_user, vmsd_cli, write_config

PASSWORD = "correct horse battery"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(write_config(tmp_path))
    yield process
    process.close()


def test_users_and_sessions_in_the_running_daemon(daemon: DaemonProcess) -> None:
    daemon.start().wait_ready()
    create_user(daemon.config_path, "guard", "viewer", PASSWORD)
    guard = {"username": "guard", "password": PASSWORD}

    def known() -> int | None:
        status = daemon.request("POST", "/api/v1/auth/login", body=guard).status
        return None if status == 401 else status

    assert until("the daemon hearing of the user", known, timeout_s=10, every_s=0.1) == 200
    answer = daemon.request("POST", "/api/v1/auth/login", body=guard)
    assert answer.status == 200 and answer.json()["name"] == "guard"
    set_cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    cookie = {"Cookie": set_cookie.split(";", 1)[0]}

    me = daemon.request("GET", "/api/v1/auth/me", headers=cookie)
    assert me.status == 200 and me.json()["kind"] == "user"
    logout = "/api/v1/auth/logout"
    assert daemon.request("POST", logout, headers=cookie).status == 403  # no Origin
    evil = {**cookie, "Origin": "http://evil.example"}
    assert daemon.request("POST", logout, headers=evil).status == 403

    disabled = vmsd_cli(daemon.config_path, "user", "disable", "--name", "guard")
    assert disabled.returncode == 0, disabled.stderr
    assert daemon.request("GET", "/api/v1/auth/me", headers=cookie).status == 401  # ended
    failed = daemon.request("POST", "/api/v1/auth/login", body=guard)
    nobody = {"username": "nobody", "password": PASSWORD}
    unknown = daemon.request("POST", "/api/v1/auth/login", body=nobody)
    assert failed.status == unknown.status == 401 and failed.body == unknown.body
    assert daemon.stop() == 0
