"""is_camera_name: the registry's rule, for names that come from outside."""

from __future__ import annotations

import pytest

from vmsd.core.names import RESERVED_CAMERA_NAMES, is_camera_name


@pytest.mark.parametrize("name", ["a", "0", "front-door", "cam_01", "a" * 63, "all-cams"])
def test_camera_names(name: str) -> None:
    assert is_camera_name(name)


@pytest.mark.parametrize(
    "name",
    # "x\n": Python's `$` matches before a trailing newline; the rule must not.
    ["", "x\n", "x\r", "\nx", "x\x00", "a" * 64, "A", "-a", "_a", "a/b", "../a", "a.b", "é"],
    ids=repr,
)
def test_not_camera_names(name: str) -> None:
    assert not is_camera_name(name)


@pytest.mark.parametrize("name", sorted(RESERVED_CAMERA_NAMES))
def test_reserved_names_are_not_camera_names(name: str) -> None:
    assert not is_camera_name(name)
