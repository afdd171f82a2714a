"""`vmsd doctor`: what this box has, checked the way the daemon will use it."""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from vmsd.config.schema import Config, MediaMtxMode
from vmsd.core.errors import VmsdError
from vmsd.mediamtx.process import mediamtx_version, resolve_mediamtx_binary
from vmsd.recorder.binary import resolve_ffmpeg


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


async def run_checks(config: Config) -> list[Check]:
    return [
        await _mediamtx(config),
        await _ffmpeg(config),
        await _database(config),
        _writable("state_dir", config.state_dir),
        *(_writable(f"storage.paths[{i}]", p) for i, p in enumerate(config.storage.paths)),
    ]


async def _mediamtx(config: Config) -> Check:
    mm = config.mediamtx
    if mm.mode is MediaMtxMode.OFF:
        return Check("mediamtx", "ok", "mode off: not used")
    binary = resolve_mediamtx_binary(mm.binary)
    if binary is None:
        status = "warn" if mm.mode in (MediaMtxMode.AUTO, MediaMtxMode.EXTERNAL) else "fail"
        return Check(
            "mediamtx",
            status,
            f'"{mm.binary}" not found (mode {mm.mode.value}); install the release binary '
            "from github.com/bluenviron/mediamtx/releases as /usr/local/bin/mediamtx",
        )
    version = await mediamtx_version(str(binary))
    return Check("mediamtx", "ok" if version else "warn", f"{binary} {version or '(no version)'}")


async def _ffmpeg(config: Config) -> Check:
    try:
        binary = resolve_ffmpeg(config.ffmpeg.binary)
    except VmsdError as err:
        return Check("ffmpeg", "fail", err.message)
    try:
        proc = await asyncio.create_subprocess_exec(
            binary,
            "-hide_banner",
            "-version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except (OSError, TimeoutError) as err:
        return Check("ffmpeg", "fail", f"{binary}: {err}")
    first = out.decode(errors="replace").splitlines()[:1]
    return Check("ffmpeg", "ok", f"{binary}: {first[0] if first else 'unknown version'}")


async def _database(config: Config) -> Check:
    from vmsd.runtime.database import cli_pool

    where = "embedded" if config.database.embedded else "external"
    try:
        async with cli_pool(config) as pool:
            version = await pool.fetchval("SHOW server_version")
    except (VmsdError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        message = err.message if isinstance(err, VmsdError) else str(err)
        return Check("database", "fail", f"{where}: {message}")
    return Check("database", "ok", f"{where} PostgreSQL {version}")


def _writable(name: str, path: Path) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return Check(name, "fail", f"{path}: not a directory")
    if probe != path:
        ok = os.access(probe, os.W_OK | os.X_OK)
        detail = f"{path}: will be created" if ok else f"{path}: cannot be created in {probe}"
        return Check(name, "ok" if ok else "fail", detail)
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".vmsd-doctor-"):
            pass
    except OSError as err:
        return Check(name, "fail", f"{path}: not writable ({err.strerror})")
    usage = os.statvfs(path)
    free_gib = usage.f_bavail * usage.f_frsize / 2**30
    return Check(name, "ok", f"{path}: writable, {free_gib:.1f} GiB free")
