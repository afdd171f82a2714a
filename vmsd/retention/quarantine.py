"""The quarantine's share of retention: `<root>/.quarantine/` holds unplayable files moved
there by recovery and by the recorders; each stays `retention.quarantine_max_age` for a look,
then goes. The selection is pure; the walk and the unlinks are blocking (run in a thread).

A file's age counts from when it was quarantined: the move (a rename) sets its ctime on Linux
filesystems, and its mtime is when it was last written, so the later of the two.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vmsd.recordings.recovery import QUARANTINE_DIR


@dataclass(frozen=True, slots=True)
class QuarantinedFile:
    path: Path
    bytes: int
    quarantined_at: float  # Unix time


@dataclass(frozen=True, slots=True)
class QuarantineUsage:
    """What a root's quarantine holds (after a sweep: what is left)."""

    files: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class QuarantineSweep:
    root: str
    removed_files: int
    removed_bytes: int
    left: QuarantineUsage


def select_expired(
    files: Iterable[QuarantinedFile], now: float, max_age_s: float
) -> list[QuarantinedFile]:
    """Pure: the files quarantined more than `max_age_s` before `now`."""
    cutoff = now - max_age_s
    return [f for f in files if f.quarantined_at < cutoff]


def list_quarantine(root: Path) -> list[QuarantinedFile]:
    """Blocking: every file under `root`/.quarantine/ (none when it is not there)."""
    found = []
    for dirpath, _dirs, names in os.walk(root / QUARANTINE_DIR):
        for name in names:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue  # gone meanwhile
            found.append(QuarantinedFile(path, st.st_size, max(st.st_mtime, st.st_ctime)))
    return found


def sweep_quarantine(roots: Sequence[Path], now: float, max_age_s: float) -> list[QuarantineSweep]:
    """Blocking: remove each root's expired quarantined files (and the directories that leaves
    empty), and count what is left."""
    sweeps = []
    for root in roots:
        files = list_quarantine(root)
        removed: list[QuarantinedFile] = []
        for entry in select_expired(files, now, max_age_s):
            try:
                entry.path.unlink(missing_ok=True)
            except OSError:
                continue  # kept, and counted as left: the next pass tries again
            removed.append(entry)
        if removed:
            _remove_empty_dirs(root / QUARANTINE_DIR)
        gone = {f.path for f in removed}
        left = [f for f in files if f.path not in gone]
        sweeps.append(
            QuarantineSweep(
                str(root),
                len(removed),
                sum(f.bytes for f in removed),
                QuarantineUsage(len(left), sum(f.bytes for f in left)),
            )
        )
    return sweeps


def quarantine_usage(roots: Sequence[Path]) -> dict[str, QuarantineUsage]:
    """Blocking: files and bytes in each root's quarantine."""
    usage = {}
    for root in roots:
        files = list_quarantine(root)
        usage[str(root)] = QuarantineUsage(len(files), sum(f.bytes for f in files))
    return usage


def _remove_empty_dirs(top: Path) -> None:
    """The camera and day directories left empty below the quarantine (not the quarantine)."""
    for dirpath, _dirs, _names in os.walk(top, topdown=False):
        if Path(dirpath) != top:
            with contextlib.suppress(OSError):  # not empty (a file moved in meanwhile)
                os.rmdir(dirpath)
