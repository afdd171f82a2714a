"""The MediaMTX auth decision for people and scoped tokens: every action x protocol x principal
x camera side, against an oracle restating the one access rule (README "Per-camera access")."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pytest

from vmsd.access.derive import synthetic_publish_password
from vmsd.access.mediamtx_auth import AuthContext, AuthRequest, decide, parse_auth_request
from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope
from vmsd.cameras.model import Camera
from vmsd.config.cameras import RtspTransport
from vmsd.config.recording import RecordingOverrides, RetentionOverrides


def camera(name: str, source: str, groups: tuple[str, ...], **creds: str) -> Camera:
    return Camera(
        name=name,
        source=source,
        username=creds.get("username"),
        password=creds.get("password"),
        rtsp_transport=RtspTransport.TCP,
        enabled=True,
        record=True,
        recording=RecordingOverrides(),
        retention=RetentionOverrides(),
        description="",
        location="",
        managed_by="api",
        groups=groups,
    )


# Side A: a pull camera and a publisher camera, both in the group "gate". Side B: the same,
# in no group.
CAMERAS = {
    "a": camera("a", "rtsp://10.0.0.1/s", ("gate",)),
    "a-pub": camera("a-pub", "publisher", ("gate",), username="cam-a", password="cam-a-pass"),
    "b": camera("b", "rtsp://10.0.0.2/s", ()),
    "b-pub": camera("b-pub", "publisher", (), username="cam-b", password="cam-b-pass"),
}
SIDE = {"a": "A", "a-pub": "A", "b": "B", "b-pub": "B"}
TOKEN_A = "vmsd_token-scoped-to-a-0123456789abcdefghijklmnopq"
TOKEN_A_PRINCIPAL = Principal(
    PrincipalKind.TOKEN, 7, "side-a", Role.OPERATOR, CameraScope.parse(["a", "a-pub"])
)
USERS = {
    ("vera", "vera-password"): Principal(
        PrincipalKind.USER, 1, "vera", Role.VIEWER, CameraScope.parse(["group:gate"])
    ),
    ("otto", "otto-password"): Principal(PrincipalKind.USER, 2, "otto", Role.OPERATOR),
    ("ada", "ada-password"): Principal(PrincipalKind.USER, 3, "ada", Role.ADMIN, EVERY_CAMERA),
}


@dataclass(frozen=True)
class Who:
    user: str = ""
    password: str = ""
    token: str = ""
    principal: Principal | None = None


WHO = {
    "anonymous": Who(),
    "viewer_user_scoped_to_a": Who(
        "vera", "vera-password", principal=USERS["vera", "vera-password"]
    ),
    "operator_user": Who("otto", "otto-password", principal=USERS["otto", "otto-password"]),
    "admin_user": Who("ada", "ada-password", principal=USERS["ada", "ada-password"]),
    "token_scoped_to_a": Who(token=TOKEN_A, principal=TOKEN_A_PRINCIPAL),
    "token_a_as_password": Who("anyone", TOKEN_A, principal=TOKEN_A_PRINCIPAL),
    "user_wrong_password": Who("vera", "not-veras-password"),
}
ACTIONS = ("publish", "read", "playback", "api", "metrics", "pprof")
PROTOCOLS = ("rtsp", "rtsps", "rtmp", "hls", "webrtc", "srt", "")
SERVER_ACTIONS = ("api", "metrics", "pprof")


def context() -> AuthContext:
    return AuthContext(
        cameras=CAMERAS,
        token_principal={TOKEN_A: TOKEN_A_PRINCIPAL}.get,
        internal_password="internal-secret",
        synthetic_password=functools.partial(synthetic_publish_password, "install-secret"),
        user_principal=lambda user, password: USERS.get((user, password)),
    )


def oracle(action: str, who: str, path: str) -> tuple[bool, str]:
    """The rule, restated: read and playback need viewer and the camera in scope; publishing
    to a publisher camera an operator (never a viewer) with it in scope, unless the camera's
    own credentials are given; MediaMTX's api, metrics and pprof an admin with scope `*`."""
    principal = WHO[who].principal
    if who == "anonymous":  # the first attempt of every RTSP client
        return False, "anonymous"
    if action == "publish" and CAMERAS[path].source != "publisher":
        return False, "path_does_not_accept_publishers"
    if principal is None:
        return False, "bad_credentials"
    required = {"publish": Role.OPERATOR, "read": Role.VIEWER, "playback": Role.VIEWER}
    if not principal.role.allows(required.get(action, Role.ADMIN)):
        return False, "role_too_low"
    if action in SERVER_ACTIONS:
        in_scope = principal.scope.everything
    else:
        in_scope = principal.scope.allows(path, CAMERAS[path].groups)
    if not in_scope:
        return False, "not_in_scope"
    return True, principal.kind.value


def rows() -> list[Any]:
    out = []
    for action in ACTIONS:
        paths = [""] if action in SERVER_ACTIONS else list(CAMERAS)
        for protocol in PROTOCOLS:
            for who in WHO:
                for path in paths:
                    where = f"{path}({SIDE[path]})" if path else "server"
                    out.append(
                        pytest.param(
                            action, protocol, who, path, id=f"{action}-{protocol}-{who}-{where}"
                        )
                    )
    return out


ROWS = rows()


def auth_request(action: str, protocol: str, who: Who, path: str) -> AuthRequest:
    body = {
        "user": who.user,
        "password": who.password,
        "token": who.token,
        "ip": "192.0.2.9",
        "action": action,
        "path": path,
        "protocol": protocol,
        "id": None,
        "query": "",
    }
    return parse_auth_request(json.dumps(body).encode())


def test_rows_cover_every_combination() -> None:
    stream_actions = len(ACTIONS) - len(SERVER_ACTIONS)
    per_protocol = (stream_actions * len(CAMERAS) + len(SERVER_ACTIONS)) * len(WHO)
    assert len(ROWS) == per_protocol * len(PROTOCOLS)


@pytest.mark.parametrize(("action", "protocol", "who", "path"), ROWS)
def test_scope_matrix(action: str, protocol: str, who: str, path: str) -> None:
    decision = decide(auth_request(action, protocol, WHO[who], path), context())
    assert (decision.allow, decision.reason) == oracle(action, who, path)
    principal = WHO[who].principal
    if principal is not None and decision.reason not in ("path_does_not_accept_publishers",):
        assert decision.principal == principal.label


@pytest.mark.parametrize(
    ("who", "path", "allow"),
    [
        ("viewer_user_scoped_to_a", "a", True),
        ("viewer_user_scoped_to_a", "b", False),
        ("token_scoped_to_a", "a", True),
        ("token_scoped_to_a", "b", False),
        ("operator_user", "b", True),
    ],
)
def test_granted_camera_reads_others_refused(who: str, path: str, allow: bool) -> None:
    """The issue's words: a user reads a granted camera and is denied every other one."""
    decision = decide(auth_request("read", "rtsp", WHO[who], path), context())
    assert decision.allow is allow


def test_camera_own_credentials_still_publish() -> None:
    """A publisher camera's own credentials publish whatever the principals say."""
    who = Who("cam-b", "cam-b-pass")
    decision = decide(auth_request("publish", "rtmp", who, "b-pub"), context())
    assert (decision.allow, decision.reason) == (True, "publisher")


def test_group_scope_follows_the_camera_groups() -> None:
    """A group grants what carries the group now: the same viewer, once `b` joins `gate`."""
    cameras = dict(CAMERAS, b=camera("b", "rtsp://10.0.0.2/s", ("gate",)))
    ctx = AuthContext(
        cameras=cameras,
        token_principal=lambda _token: None,
        internal_password="internal-secret",
        synthetic_password=lambda _path: "x" * 32,
        user_principal=lambda user, password: USERS.get((user, password)),
    )
    who = WHO["viewer_user_scoped_to_a"]
    assert decide(auth_request("read", "rtsp", who, "b"), ctx).allow
    assert not decide(auth_request("read", "rtsp", who, "b"), context()).allow


def test_token_is_tried_before_the_user_account() -> None:
    """A token as the password is a token, whatever the user name: no account is asked."""
    asked: list[str] = []

    def user_principal(user: str, password: str) -> Principal | None:
        asked.append(user)
        return None

    ctx = AuthContext(
        cameras=CAMERAS,
        token_principal={TOKEN_A: TOKEN_A_PRINCIPAL}.get,
        internal_password="internal-secret",
        synthetic_password=lambda _path: "x" * 32,
        user_principal=user_principal,
    )
    assert decide(auth_request("read", "rtsp", Who("vera", TOKEN_A), "a"), ctx).allow
    assert asked == []
    assert not decide(auth_request("read", "rtsp", Who("vera", "guess"), "a"), ctx).allow
    assert asked == ["vera"]
