"""Child memory as the kernel accounts it, on real processes: a tree sharing 64 MiB (as
PostgreSQL's backends share their buffers) has an RSS sum four times its real use and a PSS
sum that is its real use; PSS and USS agree with psutil's; a process that grows shows in RSS at
the next sample and in PSS once its reading is refreshed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from vmsd.system.gpu import NoGpus
from vmsd.system.host import ChildRef, HostProbe
from vmsd.system.memory import MEMORY_REFRESH_S
from vmsd.system.model import ProcessStats

MIB = 1024 * 1024
SHARED_MIB = 64

_SHARING_TREE = f"""
import mmap, os, sys, time
size = {SHARED_MIB} * 1024 * 1024
shared = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
shared.write(b"x" * size)
for _ in range(3):
    if os.fork() == 0:
        for offset in range(0, size, 4096):  # fault every page into this child too
            shared[offset]
        os.write(1, b"child\\n")
        time.sleep(120)
        os._exit(0)
time.sleep(120)
"""

_GROWS_ON_REQUEST = """
import sys, time
print("ready", flush=True)
sys.stdin.readline()
grown = bytearray(96 * 1024 * 1024)
for offset in range(0, len(grown), 4096):
    grown[offset] = 1
print("grown", flush=True)
time.sleep(120)
"""


@pytest.fixture
def sharing_tree() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", _SHARING_TREE], stdout=subprocess.PIPE, text=True,
        start_new_session=True,  # a session leader, as the postmaster is
    ) as proc:
        assert proc.stdout is not None
        try:
            for _ in range(3):
                assert proc.stdout.readline() == "child\n"
            yield proc
        finally:
            for child in psutil.Process(proc.pid).children():
                child.kill()
            proc.kill()


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def _only(stats: tuple[ProcessStats, ...], role: str) -> ProcessStats:
    (found,) = [p for p in stats if p.role == role]
    return found


def test_a_tree_sharing_memory_counts_it_once(
    sharing_tree: subprocess.Popen[str], tmp_path: Path
) -> None:
    probe = HostProbe([tmp_path], NoGpus("none"))
    tree = _only(probe.sample([ChildRef("postgres", "", sharing_tree.pid, tree=True)], 5.0)
                 .processes, "postgres")
    assert tree.processes == 4
    assert tree.pss_bytes is not None and tree.uss_bytes is not None
    assert tree.rss_bytes > 4 * SHARED_MIB * MIB  # each process counts the shared pages
    assert SHARED_MIB * MIB < tree.pss_bytes < tree.rss_bytes / 2
    assert tree.uss_bytes < SHARED_MIB * MIB  # shared pages are nobody's own
    members = [psutil.Process(sharing_tree.pid), *psutil.Process(sharing_tree.pid).children()]
    full = [m.memory_full_info() for m in members]
    assert tree.pss_bytes == pytest.approx(sum(f.pss for f in full), rel=0.02)
    assert tree.uss_bytes == pytest.approx(sum(f.uss for f in full), rel=0.02)


@pytest.fixture
def grows_on_request() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", _GROWS_ON_REQUEST], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline() == "ready\n"
            yield proc
        finally:
            proc.kill()


def test_growth_shows_in_rss_at_once_and_in_pss_at_the_refresh(
    grows_on_request: subprocess.Popen[str], tmp_path: Path
) -> None:
    proc = grows_on_request
    assert proc.stdin is not None and proc.stdout is not None
    clock = Clock()
    probe = HostProbe([tmp_path], NoGpus("none"), clock=clock)
    refs = [ChildRef("recorder", "front", proc.pid)]
    before = _only(probe.sample(refs, 5.0).processes, "recorder")
    proc.stdin.write("grow\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "grown\n"
    clock.now += 5.0
    kept = _only(probe.sample(refs, 5.0).processes, "recorder")
    assert kept.rss_bytes > before.rss_bytes + 90 * MIB
    assert kept.pss_bytes == before.pss_bytes  # not read again yet
    clock.now += MEMORY_REFRESH_S - 5.0
    refreshed = []
    for _ in range(2):  # with the test's own process, one refresh a sample (the budget)
        clock.now += 5.0
        refreshed.append(_only(probe.sample(refs, 5.0).processes, "recorder").pss_bytes or 0)
    assert before.pss_bytes is not None
    assert max(refreshed) > before.pss_bytes + 90 * MIB
