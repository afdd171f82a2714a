"""The decision for one MediaMTX auth request. Pure: no I/O, no clock, no logging.

MediaMTX asks before every publish and read (and api/metrics/pprof/playback unless excluded),
synchronously in its path-manager loop, so this must be fast and must fail closed: anything
unexpected is a denial (reference/mediamtx.md).

People and tokens follow the API's rule (design.md, "One access rule"): a principal (an API
token, as `token` or as the password with any user name; or a user account's user and
password) reads or plays back a camera when its role is at least viewer and its scope allows
that camera; it publishes to a `publisher` camera when it is an operator or an admin whose
scope allows it; MediaMTX's api, metrics and pprof need an admin with the scope `*`.
vmsd's own credentials (internal, reader grants, live-view grants, synthetic publishers) and a
publisher camera's own credentials are decided apart, as before.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from vmsd.access.grants import LIVE_USER_PREFIX, READER_USER_PREFIX
from vmsd.access.principal import Principal
from vmsd.access.roles import Role
from vmsd.core.jsonbody import load_json_object

SYNTHETIC_PUBLISH_USER = "vmsd-synthetic"
INTERNAL_USER = "vmsd-internal"
MAX_FIELD_CHARS = 4096
# The longest IPv6 text with a zone is 61 characters. The ip keys the damper's tables, so a
# bound here bounds their memory (MAX_TRACKED_IPS entries) too.
MAX_IP_CHARS = 64
MAX_ID_CHARS = 64  # a UUID is 36
_STRING_FIELDS = (
    ("ip", MAX_IP_CHARS),
    ("user", MAX_FIELD_CHARS),
    ("password", MAX_FIELD_CHARS),
    ("token", MAX_FIELD_CHARS),
    ("action", MAX_FIELD_CHARS),
    ("path", MAX_FIELD_CHARS),
    ("protocol", MAX_FIELD_CHARS),
    ("query", MAX_FIELD_CHARS),
)


# MediaMTX's `protocol` for a WebRTC (WHEP/WHIP) session (internal/auth/request.go).
WEBRTC_PROTOCOL = "webrtc"


class AuthAction(StrEnum):
    PUBLISH = "publish"
    READ = "read"
    PLAYBACK = "playback"
    API = "api"
    METRICS = "metrics"
    PPROF = "pprof"


@dataclass(frozen=True, slots=True)
class AuthRequest:
    ip: str
    user: str
    password: str
    token: str
    action: str
    path: str
    protocol: str
    id: str | None
    query: str

    @property
    def has_credentials(self) -> bool:
        return bool(self.user or self.password or self.token)


def parse_auth_request(body: bytes) -> AuthRequest:
    """MediaMTX's body: Go strings and an `id` that is a UUID or null. Keys missing in older
    versions default to empty, unknown keys (newer versions) are ignored. Raises ValueError
    when it is not that shape: not a strict JSON object (vmsd.core.jsonbody), or a field that
    is not a string (null included: MediaMTX never sends one but for `id`), too long, or
    holding NUL or a lone surrogate. The messages never echo a value."""
    data = load_json_object(body)
    fields: dict[str, str] = {}
    for key, limit in _STRING_FIELDS:
        value = data.get(key, "")
        # The usual value passes this one test (measured: a call per field costs 10% of the
        # parse); _text checks the rest, and says what is wrong.
        if not (
            isinstance(value, str)
            and len(value) <= limit
            and value.isascii()
            and "\x00" not in value
        ):
            value = _text(key, value, limit)
        fields[key] = value
    request_id = data.get("id")
    if request_id is not None:
        request_id = _text("id", request_id, MAX_ID_CHARS)
    return AuthRequest(id=request_id, **fields)


def _text(key: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as err:  # a lone surrogate from a JSON \ud800 escape
            raise ValueError(f"{key} is not valid Unicode") from err
    if "\x00" in value:  # no credential, path or address holds one; PostgreSQL refuses it
        raise ValueError(f"{key} holds a NUL character")
    return value


class PathPolicy(Protocol):
    """What the decision needs to know of a camera (vmsd.cameras.model.Camera fits)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def is_publisher(self) -> bool: ...
    @property
    def is_synthetic(self) -> bool: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def groups(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class AuthContext:
    cameras: Mapping[str, PathPolicy]
    # An active API token's principal (TokenRegistry.lookup), or None.
    token_principal: Callable[[str], Principal | None]
    internal_password: str  # generated at each start; vmsd's own Control-API calls only
    synthetic_password: Callable[[str], str]  # per path, stable per install
    # (user, password, path) -> a live reader grant allows reading that path (access/grants.py)
    reader_allowed: Callable[[str, str, str], bool] = lambda _user, _password, _path: False
    # (user, password) -> the enabled user account's principal, from an in-memory verdict
    # cache (never a password hash per request), or None.
    user_principal: Callable[[str, str], Principal | None] = lambda _user, _password: None
    # (user, password, path) -> a live, unexpired live-view grant for that path
    # (access/grants.py); the decision adds the action and protocol it is bound to.
    live_allowed: Callable[[str, str, str], bool] = lambda _user, _password, _path: False


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    reason: str
    principal: str = "anonymous"


def decide(request: AuthRequest, ctx: AuthContext) -> Decision:
    try:
        action = AuthAction(request.action)
    except ValueError:
        return Decision(False, "unknown_action")
    if request.user == INTERNAL_USER:
        return _internal(request, action, ctx)
    if request.user.startswith(READER_USER_PREFIX):
        return _reader(request, action, ctx)
    if request.user.startswith(LIVE_USER_PREFIX):
        return _live(request, action, ctx)
    if action is AuthAction.PUBLISH:
        return _publish(request, ctx)
    if action in (AuthAction.READ, AuthAction.PLAYBACK):
        return _read(request, ctx)
    return _server(request, ctx)


def _internal(request: AuthRequest, action: AuthAction, ctx: AuthContext) -> Decision:
    """vmsd's Control-API client: `api` and nothing else (readers get grants of their own)."""
    if not _equal(request.password, ctx.internal_password):
        return Decision(False, "bad_internal_credential", INTERNAL_USER)
    if action is not AuthAction.API:
        return Decision(False, "internal_credential_is_api_only", INTERNAL_USER)
    return Decision(True, "internal", INTERNAL_USER)


def _reader(request: AuthRequest, action: AuthAction, ctx: AuthContext) -> Decision:
    """One recorder run's or snapshot grab's grant: `read` of its one path while it lives."""
    if action is not AuthAction.READ:
        return Decision(False, "reader_grant_is_read_only", request.user)
    camera = ctx.cameras.get(request.path)
    if camera is None or not camera.enabled:
        return Decision(False, "unknown_path", request.user)
    if not ctx.reader_allowed(request.user, request.password, request.path):
        return Decision(False, "bad_reader_grant", request.user)
    return Decision(True, "reader_grant", request.user)


def _live(request: AuthRequest, action: AuthAction, ctx: AuthContext) -> Decision:
    """One browser's live view, minted by the WHEP proxy: `read` over `webrtc` of its one
    path, until it expires (or the proxy revokes it once MediaMTX has answered)."""
    if action is not AuthAction.READ or request.protocol != WEBRTC_PROTOCOL:
        return Decision(False, "live_grant_is_webrtc_read_only", request.user)
    camera = ctx.cameras.get(request.path)
    if camera is None or not camera.enabled:
        return Decision(False, "unknown_path", request.user)
    if not ctx.live_allowed(request.user, request.password, request.path):
        return Decision(False, "bad_live_grant", request.user)
    return Decision(True, "live_grant", request.user)


def _publish(request: AuthRequest, ctx: AuthContext) -> Decision:
    camera = ctx.cameras.get(request.path)
    if camera is None:
        return Decision(False, "unknown_path")
    if not camera.enabled:
        return Decision(False, "camera_disabled")
    if not request.has_credentials:
        # Every RTSP publisher's first attempt, vmsd's own FFmpeg included: not a failure.
        return Decision(False, "anonymous")
    if camera.is_synthetic:
        ok = request.user == SYNTHETIC_PUBLISH_USER and _equal(
            request.password, ctx.synthetic_password(request.path)
        )
        return Decision(ok, "synthetic_publisher" if ok else "bad_credentials", request.user)
    if not camera.is_publisher:
        return Decision(False, "path_does_not_accept_publishers", request.user or "anonymous")
    ok = _equal(request.user, camera.username or "") & _equal(
        request.password, camera.password or ""
    )
    if ok:
        return Decision(True, "publisher", request.user)
    if not (request.token or request.password):
        return Decision(False, "bad_credentials", request.user)
    # Not the camera's own credentials: an operator or admin granted the camera may publish.
    return _granted(request, ctx, Role.OPERATOR, request.path, camera.groups)


def _read(request: AuthRequest, ctx: AuthContext) -> Decision:
    camera = ctx.cameras.get(request.path)
    if camera is None:
        return Decision(False, "unknown_path")
    if not camera.enabled:
        return Decision(False, "camera_disabled")
    return _granted(request, ctx, Role.VIEWER, request.path, camera.groups)


def _server(request: AuthRequest, ctx: AuthContext) -> Decision:
    """api, metrics, pprof: MediaMTX's own, about every camera at once."""
    return _granted(request, ctx, Role.ADMIN, None, ())


def _granted(
    request: AuthRequest,
    ctx: AuthContext,
    required: Role,
    camera: str | None,
    groups: tuple[str, ...],
) -> Decision:
    """The principal behind the credentials has `required` and a scope allowing `camera`
    (None: every camera, the scope `*`)."""
    if not (request.token or request.password):
        return Decision(False, "anonymous")
    principal = _principal(request, ctx)
    if principal is None:
        return Decision(False, "bad_credentials", request.user or "token")
    if not principal.role.allows(required):
        return Decision(False, "role_too_low", principal.label)
    allowed = principal.scope.allows(camera, groups) if camera else principal.scope.everything
    if not allowed:
        return Decision(False, "not_in_scope", principal.label)
    return Decision(True, principal.kind.value, principal.label)


def _principal(request: AuthRequest, ctx: AuthContext) -> Principal | None:
    """MediaMTX passes a bearer token as `token` (and then the password is not looked at);
    a client may also send a token as the password with any user name (RTSP Basic). Else
    the user name and password are a user account's."""
    if request.token:
        return ctx.token_principal(request.token)
    principal = ctx.token_principal(request.password)
    if principal is None and request.user:
        principal = ctx.user_principal(request.user, request.password)
    return principal


def _equal(given: str, expected: str) -> bool:
    """Constant-time; an empty expected secret never matches."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
