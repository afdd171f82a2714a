"""Deleting recordings, crash-consistently: mark the rows, unlink the files, fsync their
directories, delete the rows. A crash anywhere leaves marked rows, which the next start
finishes; never a row without its file that is not marked, nor a file without a row."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.core.durable import fsync_directory
from vmsd.core.log import get_logger
from vmsd.store.recordings import RecordingStore

log = get_logger("vmsd.deletion")


@dataclass(frozen=True, slots=True)
class Deleted:
    id: int
    camera: str
    path: str
    bytes: int


class SegmentDeleter:
    def __init__(self, store: RecordingStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()  # one deletion at a time: retention, API, startup

    async def delete(self, ids: Sequence[int]) -> list[Deleted]:
        """The rows deleted (those already gone or being deleted elsewhere are skipped)."""
        if not ids:
            return []
        async with self._lock:
            marked = await self._store.mark_deleting(ids)
            return await self._finish(marked)

    async def finish_interrupted(self) -> list[Deleted]:
        """Startup: complete deletions a crash interrupted (before recovery looks at files)."""
        async with self._lock:
            marked = await self._store.marked_deleting()
            if marked:
                log.warning("deletions_resumed", segments=len(marked))
            return await self._finish(marked)

    async def _finish(self, marked: list[tuple[int, str, str, int]]) -> list[Deleted]:
        if not marked:
            return []
        candidates = [Deleted(*row) for row in marked]
        failed = await asyncio.to_thread(_unlink_all, [Path(d.path) for d in candidates])
        deleted = [d for d in candidates if d.path not in failed]
        kept = [d for d in candidates if d.path in failed]
        await self._store.delete_ids([d.id for d in deleted])
        if kept:
            # A file that cannot go (permissions, a directory in its place) keeps its row,
            # visible again; the others are not held back by it.
            await self._store.unmark_deleting([d.id for d in kept])
            for d in kept:
                log.error("segment_delete_failed", path=d.path, error=failed[d.path])
        return deleted


def _unlink_all(paths: Iterable[Path]) -> dict[str, str]:
    """Blocking: unlink, then fsync each directory once, then remove empty day directories.
    Returns the paths that could not be removed, with why."""
    directories: set[Path] = set()
    failed: dict[str, str] = {}
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            failed[str(path)] = err.strerror or str(err)
            continue
        directories.add(path.parent)
    for directory in directories:
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _remove_if_empty_past_day(directory)
    return failed


def _remove_if_empty_past_day(directory: Path) -> None:
    """Empty day directories go, except today's and tomorrow's, which a recorder may be about
    to write into (the segment muxer does not create directories)."""
    now = datetime.now(UTC)
    keep = {now.strftime("%Y-%m-%d"), (now + timedelta(days=1)).strftime("%Y-%m-%d")}
    if directory.name in keep:
        return
    try:
        directory.rmdir()
    except OSError:
        return  # not empty (or already gone): nothing to do
    fsync_directory(directory.parent)
