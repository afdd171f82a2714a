"""Linux /proc, read directly: one small read per fact instead of psutil's several files per
call (a psutil Process costs about five /proc reads per sample, and finding descendants reads
every process's stat file on the host). Parsers are pure (bytes in, numbers out); the readers
are one `os.open`/`os.read` each and raise OSError like any file read.

Units are the kernel's: CPU in clock ticks, memory in bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROC = "/proc"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_READ_BYTES = 64 * 1024  # /proc/stat of a 256-core host is about 30 KiB


@dataclass(frozen=True, slots=True)
class ProcStat:
    """What one read of /proc/PID/stat says about a process."""

    pid: int
    ppid: int
    session: int
    cpu_ticks: int  # utime + stime, the process's own (children excluded), as psutil counts
    start_ticks: int  # since boot: with the pid, the process's identity
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class CpuTicks:
    """One line of /proc/stat, reduced to what a busy share needs."""

    busy: int
    total: int  # guest time excluded: the kernel counts it in user/nice already


def read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, _READ_BYTES)
    finally:
        os.close(fd)


def parse_pid_stat(pid: int, data: bytes) -> ProcStat:
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after
    # the last ')'. Fields from there, numbered as in proc(5): 3 state, 4 ppid, 6 session,
    # 14 utime, 15 stime, 22 starttime, 24 rss (pages).
    fields = data[data.rindex(b")") + 2 :].split()
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        session=int(fields[3]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        start_ticks=int(fields[19]),
        rss_bytes=int(fields[21]) * PAGE_BYTES,
    )


def read_pid_stat(pid: int) -> ProcStat | None:
    """None when the process is gone, was never there, or is hidden from us (hidepid)."""
    try:
        return parse_pid_stat(pid, read(f"{PROC}/{pid}/stat"))
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class MemoryShare:
    """A process's memory with shared pages counted fairly (/proc/PID/smaps_rollup)."""

    pss_bytes: int  # proportional: each shared page split among the processes mapping it
    uss_bytes: int  # unique: the pages no other process maps (what ending it frees)


def parse_smaps_rollup(data: bytes) -> MemoryShare:
    # "Pss:" alone (not Pss_Anon, Pss_File...); USS is every Private_* line, as psutil sums
    # it (Private_Clean, Private_Dirty, Private_Hugetlb). Values are in kB.
    pss = uss = 0
    for line in data.splitlines():
        key, _, rest = line.partition(b":")
        if key == b"Pss":
            pss = int(rest.split()[0])
        elif key.startswith(b"Private_"):
            uss += int(rest.split()[0])
    return MemoryShare(pss * 1024, uss * 1024)


def read_smaps_rollup(pid: int) -> MemoryShare | None:
    """None when the process is gone, not ours to inspect (ptrace access mode: another user's
    without privileges), or the kernel predates smaps_rollup (Linux 4.14). The kernel walks
    the process's page tables for this: it costs more than a stat read (bench/child_memory.py)."""
    try:
        return parse_smaps_rollup(read(f"{PROC}/{pid}/smaps_rollup"))
    except OSError:
        return None


def parse_cpu_ticks(data: bytes) -> tuple[CpuTicks, ...]:
    """Per core, in /proc/stat's order (online cores only, as psutil reports them)."""
    cores = []
    for line in data.splitlines():
        if not line.startswith(b"cpu") or line.startswith(b"cpu "):
            continue
        values = [int(v) for v in line.split()[1:]]
        # user nice system idle iowait irq softirq steal guest guest_nice (older kernels
        # have fewer columns)
        values += [0] * (10 - len(values))
        total = sum(values) - values[8] - values[9]
        cores.append(CpuTicks(busy=total - values[3] - values[4], total=total))
    return tuple(cores)


def parse_boot_time(data: bytes) -> float:
    for line in data.splitlines():
        if line.startswith(b"btime "):
            return float(line.split()[1])
    raise ValueError("/proc/stat has no btime line")


def busy_ratio(before: CpuTicks, after: CpuTicks) -> float:
    """psutil's cpu_percent arithmetic, as a 0-1 ratio."""
    busy, total = after.busy - before.busy, after.total - before.total
    if busy <= 0 or total <= 0:
        return 0.0
    return min(1.0, busy / total)


@dataclass(frozen=True, slots=True)
class MemInfo:
    total_bytes: int
    available_bytes: int
    swap_total_bytes: int
    swap_free_bytes: int


def parse_meminfo(data: bytes) -> MemInfo:
    kib: dict[bytes, int] = {}
    for line in data.splitlines():
        key, _, rest = line.partition(b":")
        value = rest.split()
        if value:
            kib[key] = int(value[0])
    # MemAvailable is there since Linux 3.14; before it, psutil's own fallback estimate.
    available = kib.get(b"MemAvailable")
    if available is None:
        available = kib.get(b"MemFree", 0) + kib.get(b"Buffers", 0) + kib.get(b"Cached", 0)
    return MemInfo(
        kib[b"MemTotal"] * 1024,
        available * 1024,
        kib.get(b"SwapTotal", 0) * 1024,
        kib.get(b"SwapFree", 0) * 1024,
    )


def parse_net_dev(data: bytes) -> dict[str, tuple[int, int]]:
    """Interface -> (bytes received, bytes sent) since boot."""
    counters = {}
    for line in data.splitlines()[2:]:  # two header lines
        name, _, rest = line.rpartition(b":")
        fields = rest.split()
        if name and len(fields) >= 9:
            counters[name.strip().decode()] = (int(fields[0]), int(fields[8]))
    return counters


def session_members(session: int) -> list[int]:
    """Every pid in a session (getsid is one syscall per process, no file to open and parse):
    the candidates for a session leader's descendants."""
    members = []
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) == session:
                members.append(pid)
        except OSError:  # gone since the listing
            continue
    return members
