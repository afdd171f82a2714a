"""User names and camera scopes as the user service checks them. Pure."""

from __future__ import annotations

import pytest

from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, NO_CAMERA, CameraScope
from vmsd.access.users import check_user_name, default_scope, is_user_name, parse_cameras
from vmsd.core.errors import ValidationError


@pytest.mark.parametrize(
    "name", ["alice", "a", "guard.2", "ops@site-a", "x_y", "0" * 64, "vmsd", "vmsdx"]
)
def test_good_names(name: str) -> None:
    assert is_user_name(name)
    check_user_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "Alice", "-alice", ".alice", "a" * 65, "al ice", "alice\n", "vmsd-internal",
     "vmsd-reader-1", "vmsd-", "ålice"],
)  # fmt: skip
def test_bad_names_are_refused_naming_the_field(name: str) -> None:
    assert not is_user_name(name)
    with pytest.raises(ValidationError) as raised:
        check_user_name(name)
    assert raised.value.details[0]["field"] == "name"


def test_cameras_parse_to_a_scope_or_a_422_on_cameras() -> None:
    assert parse_cameras(["gate-1", "group:yard"]) == CameraScope.parse(["gate-1", "group:yard"])
    assert parse_cameras(["gate-1", "*"]) == EVERY_CAMERA
    with pytest.raises(ValidationError) as raised:
        parse_cameras(["Gate"])
    assert raised.value.details[0]["field"] == "cameras"


def test_default_scopes() -> None:
    assert default_scope(Role.ADMIN) == EVERY_CAMERA
    assert default_scope(Role.OPERATOR) == NO_CAMERA == default_scope(Role.VIEWER)
