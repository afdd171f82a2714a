"""An exclusive lock on the state directory: one vmsd (daemon or DB-using command) at a time.

flock(2) is released by the kernel when the holder dies, so a kill -9 never leaves a stale
lock behind. The file records who holds it, for the refusal message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from vmsd.core.errors import StateDirLockedError

LOCK_FILE_NAME = "vmsd.lock"


class StateDirLock:
    def __init__(self, state_dir: Path, holder: str) -> None:
        self.path = state_dir / LOCK_FILE_NAME
        self._holder = holder
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise StateDirLockedError naming the current holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StateDirLockedError(
                f"state directory {self.path.parent} is in use by {holder}; "
                "refusing to start a second vmsd on it"
            ) from err
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({self._holder})\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
