"""Recorder pid files and ending the leftovers of a previous run, with real child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import structlog

from vmsd.recorder.pidfile import END_GRACE_S, end_leftovers, remove_pidfile, write_pidfile


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """Every child a test starts is reaped by its end (the session's PostgreSQL predates it)."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert left == []


@contextmanager
def spawn(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """A child leading its own process group (like a recorder); killed and reaped at exit."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def _ready(proc: subprocess.Popen[bytes]) -> str:
    """The child's first stdout line: it has set itself up."""
    assert proc.stdout is not None
    return proc.stdout.readline().decode().strip()


def _gone(pid: int, timeout_s: float = 5.0) -> bool:
    """True once `pid` has exited (a zombie nobody reaped counts as exited)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def _pidfile_text(pid: int) -> str:
    return f"{pid} {psutil.Process(pid).create_time():.3f}\n"


def test_write_pidfile_records_pid_and_start_time(tmp_path: Path) -> None:
    directory = tmp_path / "run" / "recorders"  # created on demand
    with spawn(["sleep", "60"]) as child:
        write_pidfile(directory, "cam1", child.pid)
        assert (directory / "cam1.pid").read_text() == _pidfile_text(child.pid)
        assert sorted(p.name for p in directory.iterdir()) == ["cam1.pid"]  # no temp file left
        remove_pidfile(directory, "cam1")
        assert not (directory / "cam1.pid").exists()
        remove_pidfile(directory, "cam1")  # already gone: fine


def test_write_pidfile_for_a_process_already_gone_writes_nothing(tmp_path: Path) -> None:
    with spawn(["true"]) as child:
        child.wait(timeout=10)
        write_pidfile(tmp_path, "cam1", child.pid)
    assert list(tmp_path.iterdir()) == []


def test_leftover_recorder_and_its_group_are_ended(tmp_path: Path) -> None:
    # A shell leading the group with a second process in it, as FFmpeg could have.
    with spawn(["sh", "-c", "sleep 60 & echo $!; wait"]) as leader:
        member = int(_ready(leader))
        write_pidfile(tmp_path, "cam1", leader.pid)
        with structlog.testing.capture_logs() as logs:
            ended = end_leftovers(tmp_path)
        assert ended == [leader.pid]
        assert leader.wait(timeout=5) == -signal.SIGTERM
        assert _gone(member)
    assert list(tmp_path.iterdir()) == []
    assert [e for e in logs if e["event"] == "recorder_leftover_ended"] == [
        {
            "event": "recorder_leftover_ended",
            "log_level": "warning",
            "camera": "cam1",
            "pid": leader.pid,
        }
    ]


def test_pid_reused_by_another_process_is_left_alone(tmp_path: Path) -> None:
    """Same pid, other start time: a process that merely reuses the pid. Never signalled; the
    stale pid file goes. (A child of ours rather than the test process itself, so that a
    wrongly sent SIGTERM shows as a failure here instead of ending the test run.)"""
    with spawn(["sleep", "60"]) as other:
        started = psutil.Process(other.pid).create_time()
        (tmp_path / "cam1.pid").write_text(f"{other.pid} {started - 3.0:.3f}\n")
        (tmp_path / "cam2.pid").write_text(f"{os.getpid()} {started - 3.0:.3f}\n")
        assert end_leftovers(tmp_path) == []
        assert list(tmp_path.iterdir()) == []
        time.sleep(0.2)
        assert other.poll() is None
        assert psutil.Process(other.pid).status() != psutil.STATUS_ZOMBIE


@pytest.mark.parametrize(
    "content",
    [
        "",
        "\n",
        "garbage\n",
        "1234\n",
        "abc 1.0\n",
        "1234 yesterday\n",
        "1 2 3\n",
        "-5 1.0\n",
        "0 0.0\n",
        "4194305 1.0\n",  # above any pid_max
        "\x00\x01\x02",
    ],
)
def test_garbage_pid_files_are_removed(tmp_path: Path, content: str) -> None:
    (tmp_path / "cam1.pid").write_text(content)
    assert end_leftovers(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_no_pid_dir_entries_nothing_to_do(tmp_path: Path) -> None:
    assert end_leftovers(tmp_path) == []
    assert end_leftovers(tmp_path / "missing") == []


@pytest.mark.slow
def test_recorder_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    # `trap "" TERM` makes SIGTERM ignored, and exec keeps that for sleep (same pid).
    with spawn(["sh", "-c", 'trap "" TERM; echo ready; exec sleep 60']) as stubborn:
        assert _ready(stubborn) == "ready"
        write_pidfile(tmp_path, "cam1", stubborn.pid)
        started = time.monotonic()
        assert end_leftovers(tmp_path) == [stubborn.pid]
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
        assert time.monotonic() - started >= END_GRACE_S
    assert list(tmp_path.iterdir()) == []


def test_several_leftovers_one_pass(tmp_path: Path) -> None:
    with spawn(["sleep", "60"]) as a, spawn(["sleep", "60"]) as b:
        write_pidfile(tmp_path, "cam-a", a.pid)
        write_pidfile(tmp_path, "cam-b", b.pid)
        (tmp_path / "cam-c.pid").write_text("not a pid file\n")
        assert sorted(end_leftovers(tmp_path)) == sorted([a.pid, b.pid])
        assert a.wait(timeout=5) == -signal.SIGTERM
        assert b.wait(timeout=5) == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
