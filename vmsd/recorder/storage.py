"""A recorder's side of its files: the directories the segment muxer needs, making a finished
segment durable, and telling a storage fault (disk full, storage gone) from a camera fault.

A recorder never creates its storage root: a root that is not there is an unmounted or removed
disk, and recreating it would record onto whatever filesystem holds its parent (the system
disk, usually). The daemon's start prepares the configured roots (vmsd.recorder.roots: new
ones created, ones used before left alone when gone); the fleet creates those a reload adds.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.core.durable import fsync_directory

DISK_FULL = "disk_full"
STORAGE_UNAVAILABLE = "storage_unavailable"
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# A recorder waiting for space resumes once this much is free (and at least two segments'
# worth at its last measured bitrate): less would fail again within the first segment.
MIN_RESUME_FREE_BYTES = 1 << 20


class StorageError(Exception):
    """One of the recorder's own file operations on its storage failed."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"{path}: {error.strerror or error}")
        self.path = path
        self.error = error

    @property
    def no_space(self) -> bool:
        return self.error.errno in NO_SPACE_ERRNOS


class PidFileError(StorageError):
    """The recorder's pid file could not be written: its FFmpeg must not run untracked."""


@dataclass(frozen=True, slots=True)
class StorageFault:
    reason: str  # DISK_FULL or STORAGE_UNAVAILABLE
    path: Path  # where: the filesystem to watch for space, or the directory to come back
    error: str


def storage_fault(err: BaseException) -> StorageFault | None:
    """The storage fault in an error, ExceptionGroup leaves included (a failure inside a run's
    TaskGroup arrives wrapped); a full disk wins over any other fault."""
    faults = [
        StorageFault(DISK_FULL if e.no_space else STORAGE_UNAVAILABLE, e.path, str(e))
        for e in leaves(err)
        if isinstance(e, StorageError) and not isinstance(e, PidFileError)
    ]
    faults += [
        StorageFault(DISK_FULL, e.path, str(e))
        for e in leaves(err)
        if isinstance(e, PidFileError) and e.no_space
    ]
    faults.sort(key=lambda f: f.reason != DISK_FULL)
    return faults[0] if faults else None


def leaves(err: BaseException) -> Iterable[BaseException]:
    if isinstance(err, BaseExceptionGroup):
        for inner in err.exceptions:
            yield from leaves(inner)
    else:
        yield err


def ensure_date_dirs(camera_dir: Path) -> None:
    """Blocking. The segment muxer does not create directories: today's and tomorrow's must
    exist (a run crosses midnight). The camera's directory is created, its root never."""
    now = datetime.now(UTC)
    try:
        camera_dir.mkdir(exist_ok=True)
        for day in (now, now + timedelta(days=1)):
            (camera_dir / day.strftime("%Y-%m-%d")).mkdir(exist_ok=True)
    except OSError as err:
        raise StorageError(camera_dir, err) from err


def ensure_roots(roots: Iterable[Path]) -> list[tuple[Path, OSError]]:
    """Blocking, once at the fleet's start: the configured roots that do not exist yet. Returns
    the ones that could not be made (their cameras then report storage_unavailable)."""
    failed = []
    for root in roots:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            failed.append((root, err))
    return failed


def finish_segment_file(
    path: Path, camera_dir: Path
) -> tuple[tuple[int, int, int], StorageError | None]:
    """A listed segment's blocking work, in one thread hop: make it durable (fsync_and_size,
    whose result this returns; its failure raises), and keep tomorrow's directory ahead of the
    muxer (a run can outlive two midnights). That second step's failure is returned, not
    raised: the segment is durable and must be indexed all the same."""
    result = fsync_and_size(path)
    try:
        ensure_date_dirs(camera_dir)
    except StorageError as err:
        return result, err
    return result, None


def fsync_and_size(path: Path) -> tuple[int, int, int]:
    """A finished segment is durable before it is indexed: the file, then its directory.
    Returns its size and its filesystem's total and free bytes."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
            disk = os.fstatvfs(fd)
        finally:
            os.close(fd)
        fsync_directory(path.parent)
    except OSError as err:
        raise StorageError(path, err) from err
    return size, disk.f_blocks * disk.f_frsize, disk.f_bavail * disk.f_frsize


def storage_ready(camera_dir: Path) -> bool:
    """Blocking, cheap (a few stats): could a run write here? The root is a writable
    directory, and the camera's directory is one too or not made yet."""
    root = camera_dir.parent
    try:
        if not root.is_dir() or os.statvfs(root).f_flag & os.ST_RDONLY:
            return False
        return not camera_dir.exists() or camera_dir.is_dir()
    except OSError:
        return False


def has_space(path: Path, needed_bytes: int) -> bool:
    """Blocking, one statvfs: `needed_bytes` free for us and a free inode on `path`'s
    filesystem (the nearest existing ancestor's, when `path` is not there)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        disk = os.statvfs(probe)
    except OSError:
        return False
    inodes_ok = disk.f_files == 0 or disk.f_favail > 0  # 0 files: no inode accounting (btrfs)
    return inodes_ok and disk.f_bavail * disk.f_frsize >= needed_bytes


def resume_free_bytes(bytes_per_s: float | None, segment_seconds: int) -> int:
    """Free space a recorder waits for after its disk was full. Pure."""
    per_segment = (bytes_per_s or 0.0) * segment_seconds
    return max(MIN_RESUME_FREE_BYTES, int(2 * per_segment))
