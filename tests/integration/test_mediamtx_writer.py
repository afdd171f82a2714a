"""write_if_changed on real files: atomic, owner-only, and no write (no MediaMTX reload) when
nothing changed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmsd.mediamtx.writer import FILE_MODE, write_if_changed

CONTENT = "logLevel: info\npaths:\n  cam:\n    source: rtsp://u:p%40ss@10.0.0.1/x\n"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0: the mode must come from the writer, not from a restrictive umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_is_written_owner_only(tmp_path: Path, permissive_umask: None) -> None:
    target = tmp_path / "mediamtx.yml"
    assert write_if_changed(target, CONTENT) is True
    assert target.read_text(encoding="utf-8") == CONTENT
    assert FILE_MODE == 0o600
    assert mode_of(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mediamtx.yml"]


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    target = tmp_path / "state" / "nested" / "mediamtx.yml"
    assert write_if_changed(target, CONTENT) is True
    assert target.read_text(encoding="utf-8") == CONTENT
    assert mode_of(target) == 0o600


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "mediamtx.yml"
    assert write_if_changed(target, CONTENT) is True
    # Push the timestamps into the past so a rewrite could not hide in the clock's resolution.
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    before = target.stat()
    assert write_if_changed(target, CONTENT) is False
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_ctime_ns,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mediamtx.yml"]


def test_changed_content_replaces_the_file_atomically(
    tmp_path: Path, permissive_umask: None
) -> None:
    others = {"credentials.key": "k\n", "hook.secret": "s\n", ".hidden": "h\n"}
    for name, text in others.items():
        (tmp_path / name).write_text(text)
    target = tmp_path / "mediamtx.yml"
    target.write_text("old: true\n")
    old_inode = target.stat().st_ino
    holder = target.open(encoding="utf-8")  # a reader with the old file open keeps the old one
    try:
        assert write_if_changed(target, CONTENT) is True
        assert holder.read() == "old: true\n"
    finally:
        holder.close()
    assert target.stat().st_ino != old_inode  # renamed over, not rewritten in place
    assert target.read_text(encoding="utf-8") == CONTENT
    assert mode_of(target) == 0o600
    # No temp file left behind, other files untouched.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "mediamtx.yml"])
    for name, text in others.items():
        assert (tmp_path / name).read_text() == text


def test_unicode_content_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "mediamtx.yml"
    text = "paths:\n  cam:\n    source: rtsp://ü:pä%C3%9F@h/x  # Grüße\n"
    assert write_if_changed(target, text) is True
    assert write_if_changed(target, text) is False
    assert target.read_bytes() == text.encode("utf-8")


def test_a_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """What MediaMTX's file watcher relies on: every read is one whole version."""
    target = tmp_path / "mediamtx.yml"
    versions = [f"# version {i}\n" + f"key{i}: {'x' * 200_000}\n" for i in range(2)]
    write_if_changed(target, versions[0])
    seen: set[str] = set()
    torn: list[int] = []
    done = threading.Event()

    def read_loop() -> None:
        while not done.is_set():
            text = target.read_text(encoding="utf-8")
            if text in versions:
                seen.add(text[:12])
            else:
                torn.append(len(text))

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for i in range(1, 30):
            assert write_if_changed(target, versions[i % 2]) is True
    finally:
        done.set()
        reader.join(timeout=30)
    assert not reader.is_alive()
    assert torn == []
    assert seen  # the reader did run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mediamtx.yml"]


# ---------------------------------------------------------------------------------------------
# Bugs: a write that fails half-way. RLIMIT_FSIZE in a child process makes the kernel do what a
# full disk does (a short write, then EFBIG instead of ENOSPC): no monkeypatching.

_LIMITED_WRITE = r"""
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from vmsd.mediamtx.writer import write_if_changed
try:
    print("returned", write_if_changed(Path(sys.argv[1]), "x" * int(sys.argv[3])))
except OSError as err:
    print("raised", err.errno)
"""


def write_with_file_size_limit(target: Path, limit: int, size: int) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_WRITE, str(target), str(limit), str(size)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout.strip()


def test_a_short_write_never_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "mediamtx.yml"
    target.write_text("old: true\n")
    outcome = write_with_file_size_limit(target, limit=1000, size=5000)
    assert outcome.startswith("raised"), outcome
    assert target.read_text() == "old: true\n"


def test_a_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "mediamtx.yml"
    target.write_text("old: true\n")
    outcome = write_with_file_size_limit(target, limit=0, size=5000)
    assert outcome == "raised 27"  # EFBIG
    assert target.read_text() == "old: true\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mediamtx.yml"]


def test_unchanged_content_still_ends_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "mediamtx.yml"
    target.write_text(CONTENT, encoding="utf-8")
    target.chmod(0o644)
    write_if_changed(target, CONTENT)
    assert mode_of(target) == 0o600
