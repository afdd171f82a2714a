"""PSS and USS: the smaps_rollup parser on the kernel's own text, and when each process's
reading is taken (new ones at once, the rest refreshed oldest first within a budget)."""

from __future__ import annotations

import pytest

from vmsd.system import procfs
from vmsd.system.memory import MEMORY_REFRESH_S, MemoryShares, refresh_budget
from vmsd.system.procfs import MemoryShare, ProcStat

# A real /proc/PID/smaps_rollup (Linux 6.x): Pss_* and Shared_* lines must not be counted.
ROLLUP = b"""55d1c0a2b000-7ffd6b7f2000 ---p 00000000 00:00 0                          [rollup]
Rss:               49388 kB
Pss:               10342 kB
Pss_Dirty:          8972 kB
Pss_Anon:           8968 kB
Pss_File:           1370 kB
Pss_Shmem:             4 kB
Shared_Clean:      39944 kB
Shared_Dirty:          0 kB
Private_Clean:       472 kB
Private_Dirty:      8972 kB
Referenced:        49388 kB
Anonymous:          8968 kB
KSM:                   0 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:    2048 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
"""


def test_smaps_rollup_pss_and_uss() -> None:
    share = procfs.parse_smaps_rollup(ROLLUP)
    assert share == MemoryShare(pss_bytes=10342 * 1024, uss_bytes=(472 + 8972 + 2048) * 1024)


def test_smaps_rollup_of_a_process_that_is_gone() -> None:
    assert procfs.read_smaps_rollup(2**22 + 1) is None  # above pid_max's ceiling


@pytest.mark.parametrize(
    ("processes", "interval_s", "budget"),
    [
        (71, 5.0, 12),  # a box with 50 recorders: each refreshed within 30 s
        (1, 5.0, 1),
        (6, 5.0, 1),
        (7, 5.0, 2),
        (10, 60.0, 20),  # samples further apart than the refresh: every due one
        (0, 5.0, 1),
    ],
)
def test_refresh_budget(processes: int, interval_s: float, budget: int) -> None:
    assert refresh_budget(processes, interval_s) == budget


class Reader:
    """Stands in for smaps_rollup: counts reads, answers a growing PSS per pid."""

    def __init__(self, unreadable: frozenset[int] = frozenset()) -> None:
        self.reads: list[int] = []
        self.unreadable = unreadable

    def __call__(self, pid: int) -> MemoryShare | None:
        self.reads.append(pid)
        if pid in self.unreadable:
            return None
        return MemoryShare(pss_bytes=pid * 1000 + len(self.reads), uss_bytes=pid)


def _stat(pid: int, start_ticks: int = 100) -> ProcStat:
    return ProcStat(pid, 1, pid, 0, start_ticks, 4096)


def test_new_processes_are_read_at_once_and_then_kept() -> None:
    now = [1000.0]
    reader = Reader(unreadable=frozenset({3}))
    shares = MemoryShares(lambda: now[0], reader)
    stats = [_stat(1), _stat(2), _stat(3)]
    first = shares.shares(stats, 5.0)
    assert sorted(reader.reads) == [1, 2, 3] and set(first) == {1, 2}  # 3: not readable
    now[0] += MEMORY_REFRESH_S - 1
    assert shares.shares(stats, 5.0) == first and len(reader.reads) == 3
    # A pid reused by a new process (another start time) is a new process: read at once.
    shares.shares([_stat(1), _stat(2, start_ticks=999), _stat(3)], 5.0)
    assert reader.reads[3:] == [2]


def test_due_readings_refresh_oldest_first_within_the_budget() -> None:
    now = [0.0]
    reader = Reader()
    shares = MemoryShares(lambda: now[0], reader)
    shares.shares([_stat(p) for p in range(1, 7)], 5.0)  # read at 0
    now[0] = 10.0
    shares.shares([_stat(p) for p in range(1, 9)], 5.0)  # 7 and 8 are new: read at 10
    assert reader.reads[6:] == [7, 8]
    reader.reads.clear()
    now[0] = MEMORY_REFRESH_S + 10.0  # all eight are due; the budget is 2 a sample
    for _ in range(4):
        shares.shares([_stat(p) for p in range(1, 9)], 5.0)
    assert reader.reads == [1, 2, 3, 4, 5, 6, 7, 8]


def test_processes_that_ended_are_forgotten() -> None:
    reader = Reader()
    shares = MemoryShares(lambda: 0.0, reader)
    shares.shares([_stat(1), _stat(2)], 5.0)
    assert set(shares.shares([_stat(2)], 5.0)) == {2}
    shares.shares([_stat(1), _stat(2)], 5.0)  # 1 again: no reading kept, so read anew
    assert reader.reads == [1, 2, 1]
