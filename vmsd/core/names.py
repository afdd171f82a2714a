"""Names every layer agrees on: what a camera may be called (its MediaMTX path, directory,
metric label and API id), and the users vmsd keeps for itself. Pure constants: the config
schema validates against them, and so do the API and the hooks."""

from __future__ import annotations

CAMERA_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# MediaMTX reads these path names as its catch-all pattern; a camera's name is its path.
RESERVED_CAMERA_NAMES = frozenset({"all", "all_others"})
# vmsd's own MediaMTX users (vmsd.access.mediamtx_auth): a camera may not claim them.
RESERVED_USERS = frozenset({"vmsd-internal", "vmsd-synthetic"})
