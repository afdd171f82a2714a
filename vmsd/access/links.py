"""Shareable links: a signed, expiring token naming one recording or export, usable with no
other credential (a browser, VLC, curl). Pure.

A token is `<payload>.<signature>`, both base64url without padding. The payload is compact
JSON: `[kind, id, expires (unix s), creator kind, creator id, [scope entries]]`; the
signature is HMAC-SHA256 over the payload's encoded form, keyed with a key derived from the
install's credential key, so boxes sharing a database (and so the key) honour each other's
links. Nothing is stored: a link dies when it expires, when its object is gone, or when its
creator no longer exists or may no longer see the camera (checked on every use).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope

LINK_KEY_PURPOSE = b"vmsd-links-v1"
# A token is far shorter (its scope holds only the entries that grant the one camera). The
# bound keeps any path of this length, percent-encoded, within a request line aiohttp (and
# proxies, players) read: 8190 bytes.
MAX_TOKEN_CHARS = 512
TOKEN_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"  # noqa: S105 - a shape, not a secret
_SIGNATURE_BYTES = 32
# Principals that can make a link: a link cannot make another.
CREATOR_KINDS = (PrincipalKind.USER, PrincipalKind.TOKEN)

ResolvePrincipal = Callable[[PrincipalKind, int], Principal | None]
"""The principal a link's creator is now (its current role and scope), or None when it is
gone, revoked or disabled."""


class LinkKind(StrEnum):
    RECORDING = "recording"
    EXPORT = "export"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    kind: LinkKind
    object_id: int
    expires_at: int  # unix seconds
    creator_kind: PrincipalKind
    creator_id: int
    scope: CameraScope  # the creator's entries that granted the camera when it was made

    @property
    def target(self) -> str:
        """How the audit trail names what the link opens: `recording:12`."""
        return f"{self.kind.value}:{self.object_id}"


def link_key(credential_key: bytes) -> bytes:
    """The signing key: the credential key is never used for two purposes as itself."""
    return hmac.new(credential_key, LINK_KEY_PURPOSE, hashlib.sha256).digest()


def granting_scope(scope: CameraScope, camera: str, groups: Iterable[str]) -> CameraScope:
    """The entries of `scope` that grant `camera` (carrying `groups`): for this one camera
    they decide exactly as the whole scope does, and they keep the token short."""
    if scope.everything:
        return EVERY_CAMERA
    return CameraScope(False, scope.names & {camera}, scope.groups & frozenset(groups))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _signature(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()

    def sign(self, claims: LinkClaims) -> str:
        """Raises ValueError when the token would be longer than MAX_TOKEN_CHARS."""
        data = [
            claims.kind.value,
            claims.object_id,
            claims.expires_at,
            claims.creator_kind.value,
            claims.creator_id,
            claims.scope.entries(),
        ]
        payload = _b64encode(json.dumps(data, separators=(",", ":")).encode())
        token = f"{payload}.{_b64encode(self._signature(payload))}"
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError(f"a link token would be longer than {MAX_TOKEN_CHARS} characters")
        return token

    def verify(self, token: str, now: float) -> LinkClaims | None:
        """The claims of a well-signed token that has not expired at `now` (unix s); None
        for anything else. The signature is compared in constant time, before the payload
        is parsed."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        payload, dot, signature = token.partition(".")
        if not dot or not payload:
            return None
        try:
            given = _b64decode(signature)
        except (binascii.Error, ValueError):
            return None
        if len(given) != _SIGNATURE_BYTES or not hmac.compare_digest(
            given, self._signature(payload)
        ):
            return None
        claims = _parse(payload)
        if claims is None or claims.expires_at <= now:
            return None
        return claims


def _parse(payload: str) -> LinkClaims | None:
    """A signed payload is ours, but is still parsed as strictly as any input."""
    try:
        data = json.loads(_b64decode(payload))
        kind, object_id, expires, creator_kind, creator_id, entries = data
        ints = (object_id, expires, creator_id)
        if not all(type(i) is int for i in ints) or not isinstance(entries, list):
            return None
        if not all(isinstance(e, str) for e in entries):
            return None
        creator = PrincipalKind(creator_kind)
        if creator not in CREATOR_KINDS:
            return None
        return LinkClaims(
            LinkKind(kind),
            object_id,
            expires,
            creator,
            creator_id,
            CameraScope.parse(entries),
        )
    except (ValueError, TypeError, binascii.Error):  # JSONDecodeError is a ValueError
        return None


def link_allows(
    claims: LinkClaims, creator: Principal | None, camera: str, groups: Iterable[str]
) -> bool:
    """A verified link opens its object's file only while its creator exists, may use the
    API and may still see the camera, and the link's own scope allows it too (a camera moved
    out of the group that granted it at the time closes the link)."""
    groups = tuple(groups)
    return (
        creator is not None
        and creator.kind is claims.creator_kind
        and creator.id == claims.creator_id
        and creator.role.allows(Role.VIEWER)
        and creator.scope.allows(camera, groups)
        and claims.scope.allows(camera, groups)
    )


def link_principal(claims: LinkClaims, creator: Principal) -> Principal:
    """Who a link's request is, for the audit trail and the logs: `link:token:ci`."""
    return Principal(PrincipalKind.LINK, creator.id, creator.label, Role.VIEWER, claims.scope)
