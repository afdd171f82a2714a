"""A camera's groups: validated like scope entries' group names, unique, bounded; and what a
scope grants through them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vmsd.access.scope import GROUP_NAME_PATTERN, CameraScope
from vmsd.cameras.model import camera_from_config
from vmsd.config.cameras import MAX_CAMERA_GROUPS, CameraConfig


def config(groups: object) -> CameraConfig:
    return CameraConfig.model_validate({"name": "gate-1", "source": "test://", "groups": groups})


def test_groups_reach_the_camera_in_order() -> None:
    camera = camera_from_config(config(["gate", "outdoor"]), managed_by="config")
    assert camera.groups == ("gate", "outdoor")
    assert camera_from_config(CameraConfig(name="x", source="test://"), "api").groups == ()


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (["gate", "gate"], "groups repeated: gate"),
        (["Gate"], "should match pattern"),
        (["group:gate"], "should match pattern"),
        ([""], "should match pattern"),
        ([f"g{i}" for i in range(MAX_CAMERA_GROUPS + 1)], "at most 32 items"),
        ("gate", "valid tuple"),
    ],
)
def test_bad_groups_are_refused(groups: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config(groups)


def test_group_names_are_what_a_scope_entry_names() -> None:
    """The config's pattern is the scope's: every group a camera may carry can be granted."""
    schema = CameraConfig.model_json_schema()["properties"]["groups"]
    assert schema["items"]["pattern"] == GROUP_NAME_PATTERN
    camera = camera_from_config(config(["gate"]), managed_by="api")
    assert CameraScope.parse(["group:gate"]).allows(camera.name, camera.groups)
    assert not CameraScope.parse(["group:yard"]).allows(camera.name, camera.groups)
