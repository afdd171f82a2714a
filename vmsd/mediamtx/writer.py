"""Writing the rendered file the way MediaMTX needs it: whole or not at all (temp file in the
same directory, fsync, rename, fsync the directory), owner-only (it holds camera
credentials), and not at all when nothing changed (every write is a reload for MediaMTX)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600


def write_if_changed(path: Path, content: str) -> bool:
    """Blocking: call through asyncio.to_thread. True when the file was (re)written."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_text(encoding="utf-8") == content:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, content.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True
