"""MediaMTX's auth requests to the real daemon, for the principals of the authorisation matrix
(tests/e2e/test_authorization_matrix.py), over every action and protocol: the one access rule
decides the streams as it decides the API.

The principals: anonymous; a viewer user scoped to camera A (as `user:password`); an operator
and an admin user with every camera; an operator API token scoped to A (as MediaMTX passes a
bearer token, and as the password of any user name, as an RTSP client sends it); a wrong
password. The users are made with `vmsd user create` before the daemon starts. MediaMTX runs
`external` and is absent: the requests are what MediaMTX would send (reference/mediamtx.md),
posted to the daemon's hooks listener as MediaMTX posts them, one connection each.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.daemon_client import request, until
from tests.daemon_process import DaemonProcess, create_token, create_user, vmsd_cli, write_config
from tests.net import free_port
from tests.paths import REPO_ROOT
from vmsd.access.secrets import HOOK_SECRET_FILE_NAME

CAM_A, CAM_B, PUSH_A, PUSH_B = "cam-a", "cam-b", "push-a", "push-b"
PASSWORD = "stream-pass-5521"
CAMERAS = [
    {"name": CAM_A, "source": "rtsp://192.0.2.7/h264", "record": False, "groups": ["gate"]},
    {"name": CAM_B, "source": "rtsp://192.0.2.8/h264", "record": False},
    # Publisher cameras: operators in scope may publish to them (and the cameras themselves
    # with their own credentials).
    {"name": PUSH_A, "source": "publisher", "username": "pa", "password": "pa-pw-0001",
     "record": False, "groups": ["gate"]},
    {"name": PUSH_B, "source": "publisher", "username": "pb", "password": "pb-pw-0002",
     "record": False},
]  # fmt: skip
ACTIONS = ("publish", "read", "playback", "api", "metrics", "pprof")
PROTOCOLS = ("rtsp", "rtsps", "rtmp", "hls", "webrtc", "srt")


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None
    scope: tuple[str, ...]  # camera names; ("*",) for every camera
    user: str = ""
    password: str = ""
    token: str = ""

    def sees(self, path: str) -> bool:
        return "*" in self.scope or path in self.scope


@dataclass
class Hooks:
    daemon: DaemonProcess
    port: int
    key: str
    callers: list[Caller]

    def decide(self, caller: Caller, action: str, path: str, protocol: str) -> int:
        body = {
            "user": caller.user, "password": caller.password, "token": caller.token,
            "ip": "198.51.100.20", "action": action, "path": path, "protocol": protocol,
            "id": None if action in ("api", "metrics", "pprof") else
            "4d2c3f0e-8a5b-4f7e-9a51-3c1f0b6d2e7a",
            "query": "",
        }  # fmt: skip
        url = f"http://127.0.0.1:{self.port}/hooks/mediamtx/auth?key={quote(self.key, safe='')}"
        return request("POST", url, body=body, timeout_s=10).status


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooks]:
    tmp = tmp_path_factory.mktemp("streams")
    port = free_port()
    config = write_config(
        tmp,
        mediamtx={
            "mode": "external",
            "base_config": str(REPO_ROOT / "mediamtx.yml"),
            "config_path": str(tmp / "mediamtx" / "mediamtx.yml"),
            "hooks_port": port,
            "api_port": free_port(),  # nothing listens: MediaMTX is not running here
            # Every caller here is one address: the matrix's wrong passwords must not block it.
            "auth_fail_limit": 1000,
        },
        cameras=CAMERAS,
        auth={"password_hash": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}},
    )
    create_user(config, "vera", "viewer", PASSWORD, "--cameras", f"{CAM_A},{PUSH_A}")
    create_user(config, "otto", "operator", PASSWORD, "--cameras", "*")
    create_user(config, "ada", "admin", PASSWORD, "--cameras", "*")
    token = create_token(config, "scoped", "operator", "--cameras", "group:gate")
    callers = [
        Caller("anonymous", None, ()),
        Caller("viewer-a", "viewer", (CAM_A, PUSH_A), user="vera", password=PASSWORD),
        Caller("operator", "operator", ("*",), user="otto", password=PASSWORD),
        Caller("admin", "admin", ("*",), user="ada", password=PASSWORD),
        Caller("token-a", "operator", (CAM_A, PUSH_A), token=token),
        Caller("token-a-as-password", "operator", (CAM_A, PUSH_A), user="any", password=token),
        Caller("wrong-password", None, (), user="ada", password="not-" + PASSWORD),
        Caller("unknown-user", None, (), user="nobody", password=PASSWORD),
    ]
    daemon = DaemonProcess(config)
    try:
        daemon.start().wait_ready()
        key = (daemon.state_dir / HOOK_SECRET_FILE_NAME).read_text().strip()
        yield Hooks(daemon, port, key, callers)
        assert daemon.stop() == 0
    finally:
        daemon.close()


def expected(caller: Caller, action: str, path: str) -> bool:
    """The rule of README "Per-camera access", as the decision applies it."""
    if caller.role is None:
        return False
    if action in ("read", "playback"):
        return caller.sees(path)
    if action == "publish":
        is_publisher = path in (PUSH_A, PUSH_B)
        return is_publisher and caller.role in ("operator", "admin") and caller.sees(path)
    return caller.role == "admin" and "*" in caller.scope  # api, metrics, pprof


def test_every_caller_action_and_protocol(hooks: Hooks) -> None:
    wrong = []
    for caller, action, protocol in itertools.product(hooks.callers, ACTIONS, PROTOCOLS):
        paths = ("",) if action in ("api", "metrics", "pprof") else (CAM_A, CAM_B, PUSH_A, PUSH_B)
        for path in paths:
            status = hooks.decide(caller, action, path, protocol)
            want = expected(caller, action, path)
            if (status == 200) != want:
                wrong.append(f"{caller.name} {action} {path or '-'} over {protocol}: {status}")
    assert wrong == [], "\n".join(wrong)


def test_a_camera_publishes_with_its_own_credentials_only(hooks: Hooks) -> None:
    camera = Caller("push-a itself", None, (), user="pa", password="pa-pw-0001")
    assert hooks.decide(camera, "publish", PUSH_A, "rtsp") == 200
    assert hooks.decide(camera, "publish", PUSH_B, "rtsp") == 401
    assert hooks.decide(camera, "read", PUSH_A, "rtsp") == 401


def test_a_change_to_a_user_applies_to_the_streams(hooks: Hooks) -> None:
    """Disabled by the CLI while the daemon runs: its kept verdict goes at once (NOTIFY)."""
    vera = next(c for c in hooks.callers if c.name == "viewer-a")
    assert hooks.decide(vera, "read", CAM_A, "rtsp") == 200
    done = vmsd_cli(hooks.daemon.config_path, "user", "disable", "--name", "vera")
    assert done.returncode == 0, done.stderr
    until(
        "denial of a disabled user",
        lambda: hooks.decide(vera, "read", CAM_A, "rtsp") == 401,
        timeout_s=10,
        every_s=0.1,
    )
