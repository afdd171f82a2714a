"""The MediaMTX auth decision: a table over action x protocol x credential x camera, checked
against an oracle written here from the rules, plus the body parser's edge cases."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from vmsd.access.derive import synthetic_publish_password
from vmsd.access.grants import READER_USER_PREFIX, Grants
from vmsd.access.mediamtx_auth import (
    INTERNAL_USER,
    MAX_FIELD_CHARS,
    MAX_ID_CHARS,
    MAX_IP_CHARS,
    SYNTHETIC_PUBLISH_USER,
    AuthContext,
    AuthRequest,
    PathPolicy,
    decide,
    parse_auth_request,
)
from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.cameras.model import Camera
from vmsd.config.cameras import RtspTransport
from vmsd.config.recording import RecordingOverrides, RetentionOverrides

SYNTHETIC_PASSWORD = functools.partial(synthetic_publish_password, "install-secret")
INTERNAL_PASSWORD = "per-start-internal-secret"
VIEWER = "vmsd_viewer-token-0123456789abcdefghijklmnopqrstuvwxyz"
OPERATOR = "vmsd_operator-token-0123456789abcdefghijklmnopqrstuvwxyz"
ADMIN = "vmsd_admin-token-0123456789abcdefghijklmnopqrstuvwxyz"
TOKENS = {
    secret: Principal(PrincipalKind.TOKEN, i, role.value, role)
    for i, (secret, role) in enumerate(
        ((VIEWER, Role.VIEWER), (OPERATOR, Role.OPERATOR), (ADMIN, Role.ADMIN)), start=1
    )
}
PUB_USER, PUB_PASSWORD = "door-user", "door-pass"
YARD_USER, YARD_PASSWORD = "yard-user", "yard-pass"
REQUEST_ID = "3f1b7c1e-6a3f-4a59-9d37-0c2d4e6f8a10"


def camera(
    name: str,
    source: str,
    *,
    enabled: bool = True,
    username: str | None = None,
    password: str | None = None,
) -> Camera:
    return Camera(
        name=name,
        source=source,
        username=username,
        password=password,
        rtsp_transport=RtspTransport.TCP,
        enabled=enabled,
        record=True,
        recording=RecordingOverrides(),
        retention=RetentionOverrides(),
        description="",
        location="",
        managed_by="config",
    )


GRANTS = Grants(READER_USER_PREFIX)
CAMERAS: dict[str, Camera] = {
    "pull": camera("pull", "rtsp://10.0.0.5:554/stream"),
    "pull-off": camera("pull-off", "rtsp://10.0.0.6/stream", enabled=False),
    "door": camera("door", "publisher", username=PUB_USER, password=PUB_PASSWORD),
    "pattern": camera("pattern", "test://?size=320x240&fps=10"),
    # Only in the hand-written rows:
    "yard": camera("yard", "publisher", username=YARD_USER, password=YARD_PASSWORD),
    "door-off": camera(
        "door-off", "publisher", enabled=False, username=PUB_USER, password=PUB_PASSWORD
    ),
    "pattern-off": camera("pattern-off", "test://", enabled=False),
}


def context(
    cameras: Mapping[str, PathPolicy] | None = None,
    *,
    internal_password: str = INTERNAL_PASSWORD,
    synthetic_password: Any = SYNTHETIC_PASSWORD,
) -> AuthContext:
    return AuthContext(
        cameras=CAMERAS if cameras is None else cameras,
        token_principal=TOKENS.get,
        internal_password=internal_password,
        synthetic_password=synthetic_password,
        reader_allowed=GRANTS.allows_read,
    )


def body(
    action: str,
    path: str,
    *,
    protocol: str = "rtsp",
    user: str = "",
    password: str = "",
    token: str = "",
    **extra: Any,
) -> bytes:
    """A body exactly as MediaMTX v1.20 sends it."""
    doc: dict[str, Any] = {
        "user": user,
        "password": password,
        "token": token,
        "ip": "192.0.2.10",
        "action": action,
        "path": path,
        "protocol": protocol,
        "id": REQUEST_ID if action in ("publish", "read") else None,
        "query": "",
        "userAgent": "ffmpeg/7.0",
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def body_with(key: str, value: Any) -> bytes:
    """A read request's body with one key set to anything (even the wrong type)."""
    doc = json.loads(body("read", "pull"))
    doc[key] = value
    return json.dumps(doc).encode()


def request(action: str, path: str, **kwargs: Any) -> AuthRequest:
    return parse_auth_request(body(action, path, **kwargs))


# --- the decision table --------------------------------------------------------------------


@dataclass(frozen=True)
class Cred:
    user: str = ""
    password: str = ""
    token: str = ""


CREDS: dict[str, Cred] = {
    "none": Cred(),
    "viewer_token": Cred(token=VIEWER),
    "viewer_as_password": Cred(user="anyone", password=VIEWER),
    "operator_token": Cred(token=OPERATOR),
    "admin_token": Cred(token=ADMIN),
    "bad_token": Cred(token="vmsd_not-a-token-at-all-0123456789abcdefghij"),
    "internal_right": Cred(user=INTERNAL_USER, password=INTERNAL_PASSWORD),
    "internal_wrong": Cred(user=INTERNAL_USER, password="not-the-internal-password"),
    "publisher_right": Cred(user=PUB_USER, password=PUB_PASSWORD),
    "publisher_wrong": Cred(user=PUB_USER, password="door-pass-wrong"),
    "synthetic_right": Cred(user=SYNTHETIC_PUBLISH_USER, password=SYNTHETIC_PASSWORD("pattern")),
    "synthetic_other_path": Cred(user=SYNTHETIC_PUBLISH_USER, password=SYNTHETIC_PASSWORD("door")),
}
# What each camera state of the table is, for the oracle: (path, kind, enabled).
CAMERA_STATES: dict[str, tuple[str, str, bool]] = {
    "pull_enabled": ("pull", "pull", True),
    "pull_disabled": ("pull-off", "pull", False),
    "publisher": ("door", "publisher", True),
    "synthetic": ("pattern", "synthetic", True),
    "unknown_path": ("ghost", "unknown", False),
}
STREAM_PROTOCOLS = ("rtsp", "rtmp", "hls", "webrtc", "srt", "moq")
ACTION_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "publish": STREAM_PROTOCOLS,
    "read": STREAM_PROTOCOLS,
    "frobnicate": STREAM_PROTOCOLS,  # an action this vmsd does not know
    "playback": ("",),
    "api": ("",),
    "metrics": ("",),
    "pprof": ("",),
}
# The roles the oracle knows each credential to carry as an API token (token, else password).
TOKEN_ROLES: dict[str, Role] = {
    "viewer_token": Role.VIEWER,
    "viewer_as_password": Role.VIEWER,
    "operator_token": Role.OPERATOR,
    "admin_token": Role.ADMIN,
}
RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def oracle(action: str, cred: str, state: str) -> tuple[bool, str]:
    """The rules, restated independently of vmsd.access.mediamtx_auth."""
    _, kind, enabled = CAMERA_STATES[state]
    exists = kind != "unknown"
    if action not in ("publish", "read", "playback", "api", "metrics", "pprof"):
        return False, "unknown_action"
    # The internal user name is reserved: only the per-start password, and only the API.
    if cred in ("internal_right", "internal_wrong"):
        if cred == "internal_wrong":
            return False, "bad_internal_credential"
        if action != "api":
            return False, "internal_credential_is_api_only"
        return True, "internal"
    anonymous = cred == "none"
    if action == "publish":
        if not exists:
            return False, "unknown_path"
        if not enabled:
            return False, "camera_disabled"
        if anonymous:  # every RTSP publisher's first attempt: not counted as a failure
            return False, "anonymous"
        if kind == "pull":
            return False, "path_does_not_accept_publishers"
        if kind == "synthetic":
            ok = cred == "synthetic_right"
            return ok, "synthetic_publisher" if ok else "bad_credentials"
        if cred == "publisher_right":
            return True, "publisher"
        required = Role.OPERATOR  # or an operator (or admin) granted the camera publishes
    elif action in ("read", "playback"):
        if not exists:
            return False, "unknown_path"
        if not enabled:
            return False, "camera_disabled"
        required = Role.VIEWER
    else:
        required = Role.ADMIN
    if anonymous:
        return False, "anonymous"
    role = TOKEN_ROLES.get(cred)
    if role is None:
        return False, "bad_credentials"
    if RANK[role] < RANK[required]:
        return False, "role_too_low"
    return True, "token"


def _table() -> list[Any]:
    rows = []
    for action, protocols in ACTION_PROTOCOLS.items():
        for protocol in protocols:
            for cred in CREDS:
                for state in CAMERA_STATES:
                    rows.append(
                        pytest.param(
                            action,
                            protocol,
                            cred,
                            state,
                            id=f"{action}-{protocol or 'none'}-{cred}-{state}",
                        )
                    )
    return rows


TABLE = _table()


def test_table_covers_every_combination() -> None:
    assert len(TABLE) == (3 * len(STREAM_PROTOCOLS) + 4) * len(CREDS) * len(CAMERA_STATES)
    assert len(TABLE) == 1320


@pytest.mark.parametrize(("action", "protocol", "cred", "state"), TABLE)
def test_decision_table(action: str, protocol: str, cred: str, state: str) -> None:
    path = CAMERA_STATES[state][0]
    c = CREDS[cred]
    req = request(action, path, protocol=protocol, user=c.user, password=c.password, token=c.token)
    decision = decide(req, context())
    assert (decision.allow, decision.reason) == oracle(action, cred, state)


def hand(
    row_id: str,
    action: str,
    path: str,
    cred: Cred,
    allow: bool,
    reason: str,
    principal: str | None = None,
    protocol: str = "rtsp",
) -> Any:
    """One hand-written row; principal None: not checked."""
    return pytest.param(action, path, protocol, cred, allow, reason, principal, id=row_id)


INTERNAL = Cred(INTERNAL_USER, INTERNAL_PASSWORD)
_GRANT = GRANTS.issue("pull")
GRANT = Cred(_GRANT.user, _GRANT.password)
_GRANT_OFF = GRANTS.issue("pull-off")
GRANT_OFF = Cred(_GRANT_OFF.user, _GRANT_OFF.password)
_REVOKED = GRANTS.issue("pull")
GRANTS.revoke(_REVOKED.user)
REVOKED_GRANT = Cred(_REVOKED.user, _REVOKED.password)
PUBLISHER = Cred(PUB_USER, PUB_PASSWORD)
SYNTHETIC = Cred(SYNTHETIC_PUBLISH_USER, SYNTHETIC_PASSWORD("pattern"))
SYNTHETIC_OFF = Cred(SYNTHETIC_PUBLISH_USER, SYNTHETIC_PASSWORD("pattern-off"))
BOGUS = "vmsd_bogus-0123456789abcdefghijklmnopqrstu"

HAND_ROWS = [
    hand("viewer-reads", "read", "pull", Cred(token=VIEWER), True, "token", "token:viewer"),
    hand("first-rtsp-try", "read", "pull", Cred(), False, "anonymous", "anonymous"),
    hand(
        "operator-token-as-basic-password",
        "read",
        "door",
        Cred("bob", OPERATOR),
        True,
        "token",
        "token:operator",
        "webrtc",
    ),
    hand(
        "admin-playback", "playback", "pattern", Cred(token=ADMIN), True, "token", "token:admin", ""
    ),
    hand("internal-api", "api", "", INTERNAL, True, "internal", INTERNAL_USER, ""),
    *(
        hand(
            f"internal-no-{action}",
            action,
            path,
            INTERNAL,
            False,
            "internal_credential_is_api_only",
            INTERNAL_USER,
            "" if path == "" else "rtsp",
        )
        for action, path in (
            ("read", "pull"),
            ("playback", "pull"),
            ("publish", "door"),
            ("metrics", ""),
            ("pprof", ""),
        )
    ),
    hand("reader-grant-reads-its-path", "read", "pull", GRANT, True, "reader_grant", GRANT.user),
    hand("reader-grant-other-path", "read", "pattern", GRANT, False, "bad_reader_grant"),
    hand("reader-grant-disabled-path", "read", "pull-off", GRANT_OFF, False, "unknown_path"),
    hand("reader-grant-unknown-path", "read", "nope", GRANT, False, "unknown_path"),
    hand(
        "reader-grant-wrong-password",
        "read",
        "pull",
        Cred(GRANT.user, "x" * 32),
        False,
        "bad_reader_grant",
    ),
    hand("reader-grant-revoked", "read", "pull", REVOKED_GRANT, False, "bad_reader_grant"),
    *(
        hand(
            f"reader-grant-no-{action}",
            action,
            path,
            GRANT,
            False,
            "reader_grant_is_read_only",
            GRANT.user,
            "" if path == "" else "rtsp",
        )
        for action, path in (
            ("publish", "pull"),
            ("playback", "pull"),
            ("api", ""),
            ("metrics", ""),
            ("pprof", ""),
        )
    ),
    hand(
        "internal-user-name-is-reserved",
        "read",
        "pull",
        Cred(INTERNAL_USER, VIEWER),
        False,
        "bad_internal_credential",
    ),
    hand("publisher-publishes", "publish", "door", PUBLISHER, True, "publisher", PUB_USER, "rtmp"),
    hand(
        "publisher-credentials-of-another-camera",
        "publish",
        "yard",
        PUBLISHER,
        False,
        "bad_credentials",
        PUB_USER,
    ),
    hand(
        "right-password-wrong-user",
        "publish",
        "door",
        Cred(YARD_USER, PUB_PASSWORD),
        False,
        "bad_credentials",
    ),
    hand("admin-publishes-to-publisher", "publish", "door", Cred(token=ADMIN), True, "token"),
    hand("viewer-never-publishes", "publish", "door", Cred(token=VIEWER), False, "role_too_low"),
    hand("admin-not-to-pattern", "publish", "pattern", Cred(token=ADMIN), False, "bad_credentials"),
    hand("disabled-publisher", "publish", "door-off", PUBLISHER, False, "camera_disabled"),
    hand(
        "synthetic-publishes",
        "publish",
        "pattern",
        SYNTHETIC,
        True,
        "synthetic_publisher",
        SYNTHETIC_PUBLISH_USER,
    ),
    hand(
        "synthetic-password-wrong-user",
        "publish",
        "pattern",
        Cred("someone", SYNTHETIC.password),
        False,
        "bad_credentials",
    ),
    hand(
        "disabled-synthetic",
        "publish",
        "pattern-off",
        SYNTHETIC_OFF,
        False,
        "camera_disabled",
    ),
    hand("synthetic-cannot-read", "read", "pattern", SYNTHETIC, False, "bad_credentials"),
    hand(
        "operator-not-api",
        "api",
        "",
        Cred(token=OPERATOR),
        False,
        "role_too_low",
        "token:operator",
        "",
    ),
    hand("admin-metrics", "metrics", "", Cred("admin", ADMIN), True, "token", "token:admin", ""),
    hand(
        "token-field-wins-over-password",
        "read",
        "pull",
        Cred("anyone", VIEWER, BOGUS),
        False,
        "bad_credentials",
    ),
    hand("user-without-password", "read", "pull", Cred("anyone"), False, "anonymous"),
    hand("action-is-case-sensitive", "PUBLISH", "door", PUBLISHER, False, "unknown_action"),
    hand("empty-action", "", "door", PUBLISHER, False, "unknown_action"),
    hand("read-empty-path", "read", "", Cred(token=VIEWER), False, "unknown_path"),
    hand("path-is-case-sensitive", "read", "PULL", Cred(token=VIEWER), False, "unknown_path"),
]


@pytest.mark.parametrize(
    ("action", "path", "protocol", "cred", "allow", "reason", "principal"), HAND_ROWS
)
def test_hand_written_rows(
    action: str,
    path: str,
    protocol: str,
    cred: Cred,
    allow: bool,
    reason: str,
    principal: str | None,
) -> None:
    req = request(
        action, path, protocol=protocol, user=cred.user, password=cred.password, token=cred.token
    )
    decision = decide(req, context())
    assert (decision.allow, decision.reason) == (allow, reason)
    if principal is not None:
        assert decision.principal == principal


# --- secrets are compared whole, and an empty expected secret never matches -----------------

_SYN = SYNTHETIC_PASSWORD("pattern")


@pytest.mark.parametrize(
    ("path", "user", "password"),
    [
        pytest.param("door", PUB_USER, PUB_PASSWORD[:-1], id="publisher-password-prefix"),
        pytest.param("door", PUB_USER, PUB_PASSWORD[:1], id="publisher-password-first-char"),
        pytest.param("door", PUB_USER, PUB_PASSWORD + "x", id="publisher-password-extended"),
        pytest.param("door", PUB_USER, "", id="publisher-password-empty"),
        pytest.param("door", PUB_USER[:-1], PUB_PASSWORD, id="publisher-user-prefix"),
        pytest.param("door", "", PUB_PASSWORD, id="publisher-user-empty"),
        pytest.param("pattern", SYNTHETIC_PUBLISH_USER, _SYN[:-1], id="synthetic-prefix"),
        pytest.param("pattern", SYNTHETIC_PUBLISH_USER, _SYN + "0", id="synthetic-extended"),
        pytest.param("pattern", SYNTHETIC_PUBLISH_USER, "", id="synthetic-empty"),
        pytest.param("pattern", SYNTHETIC_PUBLISH_USER, _SYN.upper(), id="synthetic-case"),
        pytest.param("pull", INTERNAL_USER, INTERNAL_PASSWORD[:-1], id="internal-prefix"),
        pytest.param("pull", INTERNAL_USER, INTERNAL_PASSWORD + "x", id="internal-extended"),
        pytest.param("pull", INTERNAL_USER, "", id="internal-empty"),
        pytest.param("pull", "anyone", VIEWER[:-1], id="token-prefix"),
        pytest.param("pull", "anyone", VIEWER + "x", id="token-extended"),
    ],
)
@pytest.mark.parametrize("action", ["publish", "read"])
def test_partial_secrets_never_match(action: str, path: str, user: str, password: str) -> None:
    decision = decide(request(action, path, user=user, password=password), context())
    assert not decision.allow


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), (PUB_USER, None), (None, PUB_PASSWORD), ("", ""), (PUB_USER, "")],
)
@pytest.mark.parametrize(
    ("user", "given"),
    [("", ""), (PUB_USER, ""), ("", PUB_PASSWORD), (PUB_USER, PUB_PASSWORD), ("x", "y")],
)
def test_publisher_without_stored_secret_never_accepts(
    username: str | None, password: str | None, user: str, given: str
) -> None:
    """A publisher camera whose username or password is missing accepts nothing at all."""
    cameras = {"door": camera("door", "publisher", username=username, password=password)}
    decision = decide(request("publish", "door", user=user, password=given), context(cameras))
    assert not decision.allow
    expected = "anonymous" if not (user or given) else "bad_credentials"
    assert decision.reason == expected


@pytest.mark.parametrize("action", ["read", "playback", "api", "metrics", "pprof", "publish"])
def test_empty_internal_password_never_matches(action: str) -> None:
    ctx = context(internal_password="")
    decision = decide(request(action, "pull", user=INTERNAL_USER, password=""), ctx)
    assert (decision.allow, decision.reason) == (False, "bad_internal_credential")


def test_empty_synthetic_password_never_matches() -> None:
    ctx = context(synthetic_password=lambda path: "")
    req = request("publish", "pattern", user=SYNTHETIC_PUBLISH_USER, password="")
    assert not decide(req, ctx).allow


def test_synthetic_password_is_per_path_and_per_install() -> None:
    assert SYNTHETIC_PASSWORD("pattern") != SYNTHETIC_PASSWORD("door")
    assert SYNTHETIC_PASSWORD("pattern") == synthetic_publish_password("install-secret", "pattern")
    other_install = functools.partial(synthetic_publish_password, "another-install")
    ctx = context(synthetic_password=other_install)
    req = request(
        "publish", "pattern", user=SYNTHETIC_PUBLISH_USER, password=SYNTHETIC_PASSWORD("pattern")
    )
    assert decide(req, ctx).allow is False


def test_lone_surrogate_is_a_denial_not_an_exception() -> None:
    """JSON may carry "\\ud800"; encoding it for the constant-time compare must not raise."""
    raw = b'{"user": "vmsd-internal", "password": "\\ud800", "action": "read", "path": "pull"}'
    try:
        req = parse_auth_request(raw)
    except ValueError:
        return  # rejecting it at the edge is fine too
    assert decide(req, context()).allow is False


# --- the body parser -----------------------------------------------------------------------


def test_full_body_with_null_id() -> None:
    req = parse_auth_request(
        body("api", "", protocol="", token=ADMIN, query="a=1&b=%20", ip="127.0.0.1")
    )
    assert req == AuthRequest(
        ip="127.0.0.1",
        user="",
        password="",
        token=ADMIN,
        action="api",
        path="",
        protocol="",
        id=None,
        query="a=1&b=%20",  # raw, not decoded
    )


def test_full_body_with_uuid_id() -> None:
    req = parse_auth_request(body("read", "pull", user="u", password="p"))
    assert (req.id, req.user, req.password, req.action, req.path, req.protocol) == (
        REQUEST_ID,
        "u",
        "p",
        "read",
        "pull",
        "rtsp",
    )


def test_older_mediamtx_without_token_and_user_agent() -> None:
    raw = json.dumps(
        {
            "ip": "192.0.2.1",
            "user": "",
            "password": VIEWER,
            "action": "read",
            "path": "pull",
            "protocol": "rtsp",
            "id": REQUEST_ID,
            "query": "",
        }
    ).encode()
    req = parse_auth_request(raw)
    assert req.token == ""
    assert decide(req, context()).allow


def test_empty_object_gives_empty_fields() -> None:
    req = parse_auth_request(b"{}")
    assert req == AuthRequest("", "", "", "", "", "", "", None, "")
    assert not req.has_credentials
    assert decide(req, context()).reason == "unknown_action"


@pytest.mark.parametrize("key", ["user", "password", "token", "ip", "action", "path", "query"])
def test_null_string_fields_are_rejected(key: str) -> None:
    """MediaMTX's fields are Go strings: only `id` (a *uuid.UUID) is ever null."""
    with pytest.raises(ValueError, match=f"{key} must be a string"):
        parse_auth_request(body_with(key, None))


def test_unknown_keys_of_newer_versions_are_ignored() -> None:
    raw = body(
        "read",
        "pull",
        token=VIEWER,
        userAgent={"not": "a string"},
        sessionTags=["a", 1, None],
        extra={"nested": {"deep": [1, 2, 3]}},
        number=12.5,
    )
    req = parse_auth_request(raw)
    assert decide(req, context()).allow


STRING_FIELDS = ("user", "password", "token", "ip", "action", "path", "protocol", "query")
WRONG_VALUES = [None, 0, 1, -1, 1.5, 1e308, True, False, [], ["hunter2"], {}, {"v": "hunter2"}]


@pytest.mark.parametrize("value", WRONG_VALUES, ids=repr)
@pytest.mark.parametrize("key", STRING_FIELDS)
def test_wrong_types_are_rejected(key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=key) as err:
        parse_auth_request(body_with(key, value))
    assert "hunter2" not in str(err.value)  # the message never echoes the value


@pytest.mark.parametrize("value", [5, 0, 1.5, True, False, [], {}, [REQUEST_ID]], ids=repr)
def test_id_must_be_string_or_null(value: Any) -> None:
    with pytest.raises(ValueError, match="id"):
        parse_auth_request(body_with("id", value))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a" * (MAX_ID_CHARS + 1), "longer than"),
        ("\ud800", "not valid Unicode"),
        ("\x00", "NUL"),
    ],
    ids=["overlong", "lone-surrogate", "nul"],
)
def test_id_string_is_checked_like_the_others(value: str, message: str) -> None:
    assert parse_auth_request(body_with("id", "a" * MAX_ID_CHARS)).id == "a" * MAX_ID_CHARS
    with pytest.raises(ValueError, match=message):
        parse_auth_request(body_with("id", value))


@pytest.mark.parametrize("key", STRING_FIELDS)
def test_lone_surrogate_in_any_field_is_rejected(key: str) -> None:
    raw = body_with(key, "").replace(f'"{key}": ""'.encode(), f'"{key}": "a\\udc80"'.encode())
    assert b"\\udc80" in raw
    with pytest.raises(ValueError, match=f"{key} is not valid Unicode"):
        parse_auth_request(raw)


@pytest.mark.parametrize("key", STRING_FIELDS)
def test_nul_in_any_field_is_rejected(key: str) -> None:
    """JSON's \\u0000: in no credential, camera name or address, and PostgreSQL refuses it."""
    with pytest.raises(ValueError, match=f"{key} holds a NUL"):
        parse_auth_request(body_with(key, "vmsd-internal\x00"))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n", id="whitespace"),
        pytest.param(b"user=a&password=b", id="form-encoded"),
        pytest.param(b'{"user": "a"', id="truncated"),
        pytest.param(b'{"user": "a"}{"user": "b"}', id="two-objects"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"read"', id="string"),
        pytest.param(b"true", id="bool"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b'[{"action": "read", "path": "pull"}]', id="array-of-object"),
        pytest.param(b'{"user": "\xc3\x28"}', id="invalid-utf8-in-string"),
        pytest.param(b"\xff\xff\xff\xff", id="invalid-utf8"),
        pytest.param(b'{"user": NaN}', id="nan"),
        pytest.param(b'{"user": Infinity}', id="infinity"),
        # Not a JSON value at all, though Python's json takes them: even in an ignored key.
        pytest.param(b'{"userAgent": NaN}', id="nan-in-unknown-key"),
        pytest.param(b'{"userAgent": -Infinity}', id="infinity-in-unknown-key"),
        # Which one would be meant? Neither: two readers of one body must agree.
        pytest.param(b'{"path": "pull", "path": "../pull"}', id="duplicate-key"),
        pytest.param(b'{"user": "a", "user": "a"}', id="duplicate-same-value"),
        pytest.param(b'{"userAgent": {"a": 1, "a": 2}}', id="duplicate-in-nested-object"),
        # json.loads(bytes) guesses UTF-16/32 and lets UTF-8-encoded surrogates through.
        pytest.param('{"action": "read"}'.encode("utf-16"), id="utf-16"),
        pytest.param('{"action": "read"}'.encode("utf-32-le"), id="utf-32"),
        pytest.param(b'{"user": "\xed\xa0\x80"}', id="raw-utf8-surrogate"),
        pytest.param(b'{"user": "\xc0\xaf"}', id="overlong-utf8"),
        pytest.param(b'\xef\xbb\xbf{"action": "read"}', id="utf8-bom"),
        pytest.param(b'{"action": "read"}\x00', id="trailing-nul"),
        pytest.param(b'{"action": "read", "path": "pull"', id="truncated-object"),
    ],
)
def test_malformed_bodies_raise_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_auth_request(raw)


DEPTH = 30_000  # 60 KB: still under the hooks listener's 64 KiB body limit
DEEP = 100_000  # past the limit, so the listener refuses it unread; the parser copes anyway


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * DEPTH + b"]" * DEPTH, id="nested-arrays"),
        pytest.param(b'{"userAgent": ' + b"[" * DEPTH + b"]" * DEPTH + b"}", id="nested-unknown"),
        pytest.param(b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, id="nested-objects"),
        pytest.param(b"[" * DEEP + b"]" * DEEP, id="100k-arrays"),
        pytest.param(b'{"userAgent": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}", id="100k"),
        pytest.param(b"[" * DEEP, id="100k-unclosed"),
    ],
)
def test_deep_nesting_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_auth_request(raw)


@pytest.mark.parametrize("key", STRING_FIELDS)
def test_field_length_limit(key: str) -> None:
    limit = MAX_IP_CHARS if key == "ip" else MAX_FIELD_CHARS
    at_limit = parse_auth_request(body_with(key, "a" * limit))
    assert getattr(at_limit, key) == "a" * limit
    with pytest.raises(ValueError, match=key):
        parse_auth_request(body_with(key, "a" * (limit + 1)))


def test_longest_ipv6_text_fits() -> None:
    ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%enp0s31f6.4094"
    assert parse_auth_request(body_with("ip", ip)).ip == ip


def test_field_length_counts_characters_not_bytes() -> None:
    req = parse_auth_request(body("read", "pull", password="é" * MAX_FIELD_CHARS))
    assert len(req.password) == MAX_FIELD_CHARS


def test_has_credentials() -> None:
    assert not request("read", "pull").has_credentials
    assert request("read", "pull", user="u").has_credentials
    assert request("read", "pull", password="p").has_credentials
    assert request("read", "pull", token="t").has_credentials
