"""Writing the rendered file the way MediaMTX needs it: whole or not at all (temp file in the
same directory, fsync, rename, fsync the directory), owner-only (it holds camera
credentials), and not at all when nothing changed (every write is a reload for MediaMTX)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from vmsd.core.durable import fsync_directory

FILE_MODE = 0o600


def write_if_changed(path: Path, content: str) -> bool:
    """Blocking: call through asyncio.to_thread. True when the file was (re)written."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_text(encoding="utf-8") == content:
            if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
                os.chmod(path, FILE_MODE)  # same content, but it must not stay readable
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            _write_all(fd, content.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # it holds credentials: never leave it behind
        raise
    fsync_directory(path.parent)
    return True


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a full disk); a short file must never be renamed
    into place, so write the rest or raise."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError("no progress writing the MediaMTX configuration")
        view = view[written:]
