"""What the daemon checks before it starts anything that takes time (the database, recovery),
and how a failure to start reads: one StartupError naming the configuration key and the
cause, with the exit status that says whether a later attempt may work.

The listeners are probed here, before the database starts: a port another process listens on
fails in milliseconds, not after initdb and recovery. Their real bind (runtime.sites) maps its
errors the same way, so a port taken in between reads the same.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from vmsd.config.mediamtx import MediaMtxMode
from vmsd.config.schema import Config
from vmsd.core.errors import (
    EXIT_CONFIG,
    EXIT_CRASH,
    EXIT_TEMPFAIL,
    ConfigError,
    StartupError,
    StateDirLockedError,
    StoreError,
)
from vmsd.mediamtx.controller import effective_mode
from vmsd.mediamtx.process import resolve_mediamtx_binary
from vmsd.recorder.binary import resolve_ffmpeg
from vmsd.runtime.statelock import StateDirLock


@dataclass(frozen=True, slots=True)
class Listener:
    """A TCP listener of the daemon and the configuration keys that choose it."""

    host: str
    port: int
    host_key: str = "server.host"
    port_key: str = "server.port"

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def api_listener(config: Config) -> Listener:
    return Listener(config.server.host, config.server.port)


def api_url(config: Config) -> str:
    """The API's base URL as a client on this box would write it (the ready line says it)."""
    scheme = "https" if config.server.tls.enabled else "http"
    return f"{scheme}://{api_listener(config).address}"


def hooks_listener(config: Config) -> Listener | None:
    """The MediaMTX hooks listener, or None with MediaMTX off: nothing would call it."""
    if effective_mode(config) is MediaMtxMode.OFF:
        return None
    mm = config.mediamtx
    return Listener(mm.hooks_host, mm.hooks_port, "mediamtx.hooks_host", "mediamtx.hooks_port")


def bind_failure(err: OSError, listener: Listener, holder: str | None = None) -> StartupError:
    """Pure: a failed bind as the key to change and why. `holder`: who listens there, if
    known. In use, or an address the host does not have yet (DHCP at boot), may clear up:
    75, and systemd tries again. The rest needs a change of the configuration or the box."""
    where = listener.address
    if isinstance(err, socket.gaierror):
        status = EXIT_TEMPFAIL if err.errno == socket.EAI_AGAIN else EXIT_CONFIG
        cause = f"cannot resolve {listener.host!r}: {err.strerror}"
        return StartupError(listener.host_key, cause, exit_status=status)
    if err.errno == errno.EADDRINUSE:
        by = f" ({holder})" if holder else ""
        return StartupError(
            listener.port_key,
            f"{where} is already in use by another process{by}",
            exit_status=EXIT_TEMPFAIL,
        )
    if err.errno == errno.EADDRNOTAVAIL:
        return StartupError(
            listener.host_key,
            f"{listener.host} is not an address of this host",
            exit_status=EXIT_TEMPFAIL,
        )
    if err.errno == errno.EACCES:
        return StartupError(
            listener.port_key,
            f"not permitted to listen on {where} (a port below 1024 needs CAP_NET_BIND_SERVICE)",
        )
    cause = os.strerror(err.errno) if err.errno else str(err)
    return StartupError(
        listener.port_key, f"cannot listen on {where}: {cause}", exit_status=EXIT_CRASH
    )


def port_holder(port: int) -> str | None:
    """Blocking, only on a failure: the process listening on `port`, when this user may see
    it (root sees every process; under systemd's ProtectProc=invisible, its own only)."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            listening = conn.status == psutil.CONN_LISTEN and conn.pid is not None
            if listening and getattr(conn.laddr, "port", None) == port:  # laddr may be ()
                return f"pid {conn.pid}, {psutil.Process(conn.pid).name()}"
    except (psutil.Error, OSError):
        return None
    return None


def probe_listener(listener: Listener) -> None:
    """Blocking, well under a millisecond: binds every address the listener will, without
    listening, and lets go. SO_REUSEADDR as aiohttp's bind has it, so only a socket that
    another process listens on (or an address the host lacks) fails, as the real bind would."""
    try:
        infos = socket.getaddrinfo(
            listener.host, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _name, address in infos:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # as asyncio's create_server binds it
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
    except OSError as err:
        holder = port_holder(listener.port) if err.errno == errno.EADDRINUSE else None
        raise bind_failure(err, listener, holder) from err


def ffmpeg_binary(config: Config) -> str:
    """The FFmpeg every recorder, snapshot and export runs."""
    try:
        return resolve_ffmpeg(config.ffmpeg.binary)
    except ConfigError as err:
        raise StartupError(
            "ffmpeg.binary",
            f'"{config.ffmpeg.binary}" is not an executable file or a command on PATH',
        ) from err


def check_mediamtx_binary(config: Config) -> None:
    """Managed mode runs `mediamtx.binary`: without it vmsd would only retry it forever."""
    mm = config.mediamtx
    if mm.mode is MediaMtxMode.MANAGED and resolve_mediamtx_binary(mm.binary) is None:
        raise StartupError(
            "mediamtx.binary",
            f'"{mm.binary}" is not an executable file or a command on PATH '
            "(mediamtx.mode managed runs it: install MediaMTX, or choose another mode)",
        )


def take_state_dir(lock: StateDirLock) -> None:
    """The state directory created (if need be) and locked, or why not."""
    directory = lock.path.parent
    try:
        lock.acquire()
    except StateDirLockedError as err:
        raise StartupError("state_dir", err.message, exit_status=EXIT_TEMPFAIL) from err
    except OSError as err:
        cause = err.strerror or str(err)
        if err.filename and Path(err.filename) != directory:
            cause = f"{err.filename}: {cause}"
        raise StartupError("state_dir", f"cannot use {directory}: {cause}") from err


def database_failure(config: Config, err: StoreError) -> StartupError:
    """Pure: the first connection failed. A database server elsewhere may come up (75: the
    unit's After=postgresql.service orders only a local one); the embedded one lives in the
    state directory, and its log says more."""
    if not config.database.embedded:
        return StartupError("database.url", err.message, exit_status=EXIT_TEMPFAIL)
    log_file = config.state_dir / "db.log"
    return StartupError(
        "state_dir",
        f"the embedded PostgreSQL did not start: {err.message} (see {log_file})",
        exit_status=EXIT_CRASH,
    )


def preflight(config: Config) -> None:
    """Blocking, quick: the checks that need no database, in one thread hop."""
    check_mediamtx_binary(config)
    for listener in (api_listener(config), hooks_listener(config)):
        if listener is not None:
            probe_listener(listener)
