"""One pid file per recorder, with the process start time, so a restarted daemon can end the
FFmpeg processes a crashed one left behind, and never a process that merely reuses the pid."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psutil

from vmsd.core.log import get_logger

log = get_logger("vmsd.recorder")

END_GRACE_S = 5.0
_START_TIME_TOLERANCE_S = 0.05


def write_pidfile(directory: Path, camera: str, pid: int) -> None:
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return  # already gone: nothing to find later
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{camera}.pid.tmp"
    tmp.write_text(f"{pid} {started:.3f}\n")
    os.replace(tmp, directory / f"{camera}.pid")


def remove_pidfile(directory: Path, camera: str) -> None:
    (directory / f"{camera}.pid").unlink(missing_ok=True)


def end_leftovers(directory: Path) -> list[int]:
    """Blocking (startup, in a thread): end every recorder a previous run left running."""
    ended = []
    for pidfile in sorted(directory.glob("*.pid")):
        process = _matching_process(pidfile)
        if process is not None:
            log.warning("recorder_leftover_ended", camera=pidfile.stem, pid=process.pid)
            _end(process)
            ended.append(process.pid)
        pidfile.unlink(missing_ok=True)
    return ended


def _matching_process(pidfile: Path) -> psutil.Process | None:
    try:
        pid_text, started_text = pidfile.read_text().split()
        process = psutil.Process(int(pid_text))
        same = abs(process.create_time() - float(started_text)) < _START_TIME_TOLERANCE_S
    except (OSError, ValueError, psutil.Error):
        return None
    return process if same else None


def _end(process: psutil.Process) -> None:
    # Each recorder leads its own process group (start_new_session).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + END_GRACE_S
    while time.monotonic() < deadline:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    # Whatever of the group is still there (the leader or any other member) goes now.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
