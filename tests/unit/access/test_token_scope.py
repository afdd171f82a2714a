"""Token scopes as the API and the CLI take them, and the rule that a principal grants only
what its own scope covers."""

from __future__ import annotations

import argparse

import pytest

from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope
from vmsd.access.tokens import parse_scope, require_covers
from vmsd.cli.main import scope_argument
from vmsd.core.errors import ForbiddenError, ValidationError


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
