"""Token scopes as the API and the CLI take them, the rule that a principal grants only
what its own scope covers, and that an admin manages only the tokens its scope covers."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope
from vmsd.access.tokens import may_manage, parse_scope, require_covers
from vmsd.cli.main import scope_argument
from vmsd.core.errors import ForbiddenError, ValidationError
from vmsd.store.tokens import ApiToken


def admin(*entries: str) -> Principal:
    return Principal(PrincipalKind.TOKEN, 1, "ops", Role.ADMIN, CameraScope.parse(entries))


def test_parse_scope_names_the_field() -> None:
    assert parse_scope(["b", "group:gate", "a"]).entries() == ["a", "b", "group:gate"]
    assert parse_scope(["a", "*"]) == EVERY_CAMERA
    for bad in (["Not A Camera"], []):
        with pytest.raises(ValidationError) as err:
            parse_scope(bad)
        assert err.value.details[0]["field"] == "cameras"


@pytest.mark.parametrize(
    ("grantor", "wanted", "allowed"),
    [
        (("*",), ["*"], True),
        (("a", "group:gate"), ["a"], True),
        (("a", "group:gate"), ["group:gate", "a"], True),
        (("a", "group:gate"), ["*"], False),
        (("a", "group:gate"), ["b"], False),
        (("a", "group:gate"), ["group:yard"], False),
        # A group holding a camera today does not cover the camera's name: members change.
        (("group:gate",), ["a"], False),
    ],
)
def test_a_grantor_covers_what_it_grants(
    grantor: tuple[str, ...], wanted: list[str], allowed: bool
) -> None:
    scope = CameraScope.parse(wanted)
    if allowed:
        require_covers(admin(*grantor), scope)
    else:
        with pytest.raises(ForbiddenError, match="within its own scope"):
            require_covers(admin(*grantor), scope)


def test_the_cli_grants_anything() -> None:
    """`vmsd token create` is the box's operator (the first admin token comes from it)."""
    require_covers(None, EVERY_CAMERA)


def test_cli_cameras_argument() -> None:
    assert scope_argument("*") == EVERY_CAMERA
    assert scope_argument(" a, group:gate ,").entries() == ["a", "group:gate"]
    for bad in ("", ",", "Bad Name"):
        with pytest.raises(argparse.ArgumentTypeError):
            scope_argument(bad)


def stored(*cameras: str) -> ApiToken:
    return ApiToken(7, "t", "viewer", datetime(2026, 1, 1, tzinfo=UTC), None, cameras)


@pytest.mark.parametrize(
    ("actor", "token", "managed"),
    [
        (admin("*"), stored("*"), True),
        (admin("*"), stored("Not A Camera"), True),
        (admin("a", "group:gate"), stored("a"), True),
        (admin("a", "group:gate"), stored("a", "group:gate"), True),
        (admin("a", "group:gate"), stored("*"), False),
        (admin("a", "group:gate"), stored("a", "b"), False),
        (admin("a", "group:gate"), stored("group:yard"), False),
        # A group does not cover a camera's name (its members change).
        (admin("group:gate"), stored("a"), False),
        # A row nobody can read is every camera's: only `*` manages it.
        (admin("a"), stored("Not A Camera"), False),
        (None, stored("*"), True),  # the CLI
    ],
)
def test_an_admin_manages_the_tokens_it_covers(
    actor: Principal | None, token: ApiToken, managed: bool
) -> None:
    assert may_manage(actor, token) is managed
