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


# The file operations of the journal (vmsd.core.journal). Blocking, like fsync_directory.


def drop_partial_tail(path: Path) -> int:
    """A power loss can leave a last line without its newline; appending to it would merge two
    records into garbage. Cuts the file back to its last complete line; returns the bytes cut."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, keep)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(data) - keep


def append_lines(path: Path, lines: list[str]) -> None:
    """Appends and fsyncs: on return the lines survive a power loss."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, "".join(line + "\n" for line in lines).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> list[str]:
    """The complete lines: one cut short by a power loss (no newline) cannot be trusted."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    return [line for line in lines[:-1] if line.strip()]


def truncate(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
