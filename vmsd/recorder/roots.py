"""The storage roots at the daemon's start, before recovery reads them.

- A root vmsd has not used before is created if missing (`storage_root_created`, info: a new
  box's first start), and must be a directory vmsd can write, else the start fails naming
  its `storage.paths[i]` key (exit 78).
- A root it used before that is gone now is not created: it is an unmounted or removed disk,
  and recreating it would record onto whatever filesystem holds its parent (recovery logs
  `storage_root_missing`; its cameras wait for it, as they do when a root vanishes later).
- A root it used before that it cannot write now (a disk remounted read-only after errors) is
  logged as `storage_root_unavailable` and the daemon starts: the other roots record on.

"Used before" is a list in the state directory, `storage-roots.json`, that each start extends
with the roots it found usable.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Sequence
from pathlib import Path

from vmsd.core.durable import fsync_directory
from vmsd.core.errors import StartupError
from vmsd.core.log import get_logger

log = get_logger("vmsd.recorder")

KNOWN_ROOTS_FILE = "storage-roots.json"


def write_problem(root: Path) -> str | None:
    """Blocking: why vmsd cannot record under `root` (an existing path), or None."""
    if not root.is_dir():
        return "is not a directory"
    if os.access(root, os.W_OK | os.X_OK):
        return None
    if os.statvfs(root).f_flag & os.ST_RDONLY:
        return "is on a read-only file system (under systemd: is it in ReadWritePaths=?)"
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return f"is not writable by user {user} (uid {uid})"


def prepare_roots(roots: Sequence[Path], state_dir: Path) -> None:
    """Blocking, once at start. Raises StartupError for a new root vmsd cannot use."""
    known = read_known_roots(state_dir)
    usable = []
    for i, root in enumerate(roots):
        key, name = f"storage.paths[{i}]", str(root)
        if not os.path.lexists(root):
            if name in known:
                continue  # recovery warns; the recorders wait for the disk
            try:
                root.mkdir(parents=True)
            except OSError as err:
                raise StartupError(key, f"cannot create {root}: {err.strerror or err}") from err
            log.info("storage_root_created", root=name, setting=key)
        problem = write_problem(root)
        if problem is None:
            usable.append(name)
        elif name in known:
            log.error(
                "storage_root_unavailable", root=name, setting=key, error=f"{root} {problem}"
            )
        else:
            raise StartupError(key, f"{root} {problem}")
    if not set(usable) <= known:
        _write_known_roots(state_dir, sorted(known | set(usable)))


def read_known_roots(state_dir: Path) -> set[str]:
    try:
        data = json.loads((state_dir / KNOWN_ROOTS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as err:  # unreadable: every root counts as new this time
        log.warning("storage_roots_list_unreadable", error=str(err))
        return set()
    return {p for p in data if isinstance(p, str)} if isinstance(data, list) else set()


def _write_known_roots(state_dir: Path, roots: list[str]) -> None:
    path = state_dir / KNOWN_ROOTS_FILE
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(json.dumps(roots, indent=1) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    fsync_directory(state_dir)
