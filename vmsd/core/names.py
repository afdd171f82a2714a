"""Names every layer agrees on: what a camera may be called (its MediaMTX path, directory,
metric label and API id), and the users vmsd keeps for itself. Pure: the config schema
validates against them, and so do the API and the hooks."""

from __future__ import annotations

import re

CAMERA_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# MediaMTX reads these path names as its catch-all pattern; a camera's name is its path.
RESERVED_CAMERA_NAMES = frozenset({"all", "all_others"})
# fullmatch, not match: Python's `$` also matches before a trailing newline ("cam\n"),
# which pydantic's (Rust) regex for the config does not.
_CAMERA_NAME = re.compile(CAMERA_NAME_PATTERN)
# vmsd's own MediaMTX users (vmsd.access.mediamtx_auth): a camera may not claim them.
RESERVED_USERS = frozenset({"vmsd-internal", "vmsd-synthetic"})


# Free text a client sends (a camera's description): anything PostgreSQL's text holds, not NUL.
TEXT_PATTERN = r"^[^\x00]*$"
# A user name inside credentials: no control characters.
USERNAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# A token's (later a user's) display name: 1-100 characters, not blank, no control characters.
LABEL_MAX = 100
LABEL_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
_LABEL = re.compile(LABEL_PATTERN)


def is_label(name: str) -> bool:
    return len(name) <= LABEL_MAX and _LABEL.fullmatch(name) is not None


def is_camera_name(name: str) -> bool:
    """The registry's rule for a name from outside (a hook, a URL): the pattern, not reserved."""
    return _CAMERA_NAME.fullmatch(name) is not None and name not in RESERVED_CAMERA_NAMES
