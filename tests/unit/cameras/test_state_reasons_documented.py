"""Every `state_reason` the code can give a camera is a row of the README's Camera states
table, and so is every failure class a camera's last_error can carry."""

from __future__ import annotations

import re
from pathlib import Path

from vmsd.cameras.reachability import NOT_CHECKED, REACHABLE
from vmsd.mediamtx.source_log import SOURCE_READY
from vmsd.recorder.failures import FailureClass

# Said outside vmsd.recorder.failures: MediaMTX's hooks (api/hooks.py: f"hook_{hook}") and
# poll (mediamtx/controller.py), the recorder's recovery (reporting.py), the registry sync
# (cameras/state.py).
OTHER_REASONS = {"hook_available", "hook_unavailable", "poll", "recording", "enabled", "disabled"}


def _documented(repo_root: Path) -> set[str]:
    """The names in the first column of the table."""
    text = (repo_root / "README.md").read_text()
    table = text.split("| `state_reason` | state | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = [row.split("|")[1] for row in table.splitlines() if row.startswith("|")]
    return {name for first in rows for name in re.findall(r"`([a-z_]+)`", first)}


def test_every_state_reason_is_documented(repo_root: Path) -> None:
    reasons = OTHER_REASONS | {REACHABLE, NOT_CHECKED, SOURCE_READY}
    reasons |= {f.value for f in FailureClass}
    storage = {FailureClass.DISK_FULL.value, FailureClass.STORAGE_UNAVAILABLE.value}
    assert reasons - storage - _documented(repo_root) == set()
    # The storage classes are last_error classes only, named in the text below the table.
    readme = (repo_root / "README.md").read_text()
    assert all(f"`{c}`" in readme for c in storage)
