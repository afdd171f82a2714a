"""Durability on disk: a created, renamed or unlinked name is durable only once its directory
is fsynced."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Blocking: call from a thread on the event loop's behalf."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
