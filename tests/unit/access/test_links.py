"""Signed links (pure): sign and verify, expiry, every kind of tampering, the scope a link
carries, and the rule that decides a use."""

from __future__ import annotations

import base64
import json

import pytest

from vmsd.access.links import (
    MAX_TOKEN_CHARS,
    LinkClaims,
    LinkKind,
    LinkSigner,
    granting_scope,
    link_allows,
    link_key,
    link_principal,
)
from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope

KEY = link_key(b"credential-key-of-this-install")
NOW = 1_800_000_000
CLAIMS = LinkClaims(
    LinkKind.RECORDING, 42, NOW + 3600, PrincipalKind.TOKEN, 7, CameraScope.parse(["gate"])
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_signed_token_verifies_to_its_claims_until_it_expires() -> None:
    signer = LinkSigner(KEY)
    token = signer.sign(CLAIMS)
    assert len(token) < 200
    assert signer.verify(token, NOW) == CLAIMS
    assert signer.verify(token, NOW + 3599.9) == CLAIMS
    assert signer.verify(token, NOW + 3600) is None  # expired at its second
    assert signer.verify(token, NOW + 10**6) is None


def test_the_key_is_derived_and_a_link_from_another_install_is_refused() -> None:
    assert link_key(b"a") != b"a" and len(link_key(b"a")) == 32
    assert link_key(b"a") == link_key(b"a") != link_key(b"b")
    token = LinkSigner(link_key(b"other install")).sign(CLAIMS)
    assert LinkSigner(KEY).verify(token, NOW) is None


def test_any_change_to_the_payload_or_the_signature_is_refused() -> None:
    signer = LinkSigner(KEY)
    token = signer.sign(CLAIMS)
    payload, signature = token.split(".")
    # The same signature over a payload naming another recording or a wider scope.
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged[1], forged[5] = 43, ["*"]
    assert signer.verify(_b64(json.dumps(forged).encode()) + "." + signature, NOW) is None
    for i in range(len(token)):
        if token[i] == ".":
            continue
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        claims = signer.verify(flipped, NOW)
        # Base64's last character may carry unused bits: flipping only those is no change.
        assert claims is None or claims == CLAIMS, i


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        "abc.",
        ".abc",
        "a.b",
        "!!!.???",
        "a.b.c",
        "x" * (MAX_TOKEN_CHARS + 1),
        "e30." + "A" * 43,  # `{}` with a 32-byte signature that is not its own
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert LinkSigner(KEY).verify(token, NOW) is None


def test_a_well_signed_payload_of_the_wrong_shape_is_still_refused() -> None:
    signer = LinkSigner(KEY)
    for data in (
        [],
        ["recording", "42"],
        ["file", 1, NOW + 60, "token", 1, []],
        ["recording", 1, NOW + 60, "link", 1, []],
        ["recording", 1, NOW + 60, "token", 1, ["Not A Camera"]],
        ["recording", True, NOW + 60, "token", 1, []],
        {"kind": "recording"},
    ):
        payload = _b64(json.dumps(data).encode())
        token = f"{payload}.{_b64(signer._signature(payload))}"
        assert signer.verify(token, NOW) is None, data


def test_a_token_too_long_for_a_url_is_not_made() -> None:
    scope = CameraScope.parse([f"camera-{i}" for i in range(200)])
    with pytest.raises(ValueError, match="longer than"):
        LinkSigner(KEY).sign(LinkClaims(LinkKind.EXPORT, 1, NOW, PrincipalKind.USER, 1, scope))


def test_a_link_carries_only_the_entries_that_grant_its_camera() -> None:
    scope = CameraScope.parse(["gate", "office", "group:yard", "group:floor-2"])
    assert granting_scope(scope, "gate", ("floor-2",)).entries() == ["gate", "group:floor-2"]
    assert granting_scope(scope, "dock", ("yard",)).entries() == ["group:yard"]
    assert granting_scope(EVERY_CAMERA, "gate", ()) == EVERY_CAMERA


def _creator(
    scope: CameraScope, kind: PrincipalKind = PrincipalKind.TOKEN, id_: int = 7
) -> Principal:
    return Principal(kind, id_, "ci", Role.VIEWER, scope)


@pytest.mark.parametrize(
    ("creator", "camera", "groups", "allowed"),
    [
        (_creator(EVERY_CAMERA), "gate", (), True),
        (_creator(CameraScope.parse(["gate"])), "gate", (), True),
        (None, "gate", (), False),  # gone, revoked, disabled
        (_creator(CameraScope.parse(["office"])), "gate", (), False),  # lost the camera
        (_creator(EVERY_CAMERA, PrincipalKind.USER), "gate", (), False),  # another kind
        (_creator(EVERY_CAMERA, id_=8), "gate", (), False),  # another principal
        (_creator(EVERY_CAMERA), "office", (), False),  # beyond the link's own scope
    ],
)
def test_a_use_needs_the_creator_now_and_both_scopes(
    creator: Principal | None, camera: str, groups: tuple[str, ...], allowed: bool
) -> None:
    assert link_allows(CLAIMS, creator, camera, groups) is allowed


def test_a_camera_moved_out_of_the_granting_group_closes_the_link() -> None:
    creator = _creator(CameraScope.parse(["group:yard"]))
    claims = LinkClaims(
        LinkKind.EXPORT,
        1,
        NOW + 60,
        PrincipalKind.TOKEN,
        7,
        granting_scope(creator.scope, "dock", ("yard",)),
    )
    assert link_allows(claims, creator, "dock", ("yard",))
    assert not link_allows(claims, creator, "dock", ("lobby",))


def test_a_links_request_is_named_after_its_creator() -> None:
    principal = link_principal(CLAIMS, _creator(EVERY_CAMERA))
    assert principal.label == "link:token:ci"
    assert principal.role is Role.VIEWER and principal.scope == CLAIMS.scope
    assert CLAIMS.target == "recording:42"
