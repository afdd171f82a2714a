"""`vmsd doctor`: what this box has, checked the way the daemon will use it."""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from vmsd.config.schema import Config, MediaMtxMode
from vmsd.core.errors import ConfigError, VmsdError
from vmsd.mediamtx.controller import (
    build_render_settings,
    effective_mode,
    hook_generation,
    render_document,
)
from vmsd.mediamtx.keys import LATEST_SUPPORTED, Version, format_version
from vmsd.mediamtx.listeners import listener_keys, listener_version, open_listeners
from vmsd.mediamtx.process import mediamtx_version, resolve_mediamtx_binary
from vmsd.mediamtx.schema import parse_mediamtx_version
from vmsd.recorder.binary import resolve_ffmpeg


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


async def run_checks(config: Config) -> list[Check]:
    mediamtx = [await _mediamtx(config)]
    if (listeners := await mediamtx_listeners(config)) is not None:
        mediamtx.append(listeners)
    return [
        *mediamtx,
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


async def mediamtx_listeners(config: Config) -> Check | None:
    """The sockets the rendered file leaves MediaMTX, for the version vmsd will render for
    at start: `--version` of a managed binary; in external mode none until the Control API
    answers (the file is then re-rendered)."""
    mode = effective_mode(config)
    if mode is MediaMtxMode.OFF:
        return None
    version: Version | None = None
    if mode is MediaMtxMode.MANAGED:
        text = await mediamtx_version(config.mediamtx.binary)
        version = parse_mediamtx_version(text) if text else None
        why = f'"{config.mediamtx.binary} --version" gave {text or "nothing"}'
    else:
        why = "external mode: vmsd learns it from the Control API once MediaMTX answers"
    settings = build_render_settings(  # no secret: only the listener keys are looked at
        config, "", hook_generation(config, version), "ffmpeg", mediamtx_version=version
    )
    try:
        doc, _ = await asyncio.to_thread(render_document, config, [], settings)
    except ConfigError as err:
        return Check("mediamtx_listeners", "fail", "; ".join([err.message, *err.details]))
    return listeners_check(doc, version, why)


def listeners_check(doc: dict[str, Any], version: Version | None, why: str) -> Check:
    """What MediaMTX `version` opens for the rendered `doc`; for an unknown version, what the
    servers of later releases would open on every interface."""
    name = "mediamtx_listeners"
    rendered_for = format_version(listener_version(version))
    if version is not None and version > LATEST_SUPPORTED:
        return Check(name, "warn", (
            f"MediaMTX {format_version(version)} is newer than vmsd knows: rendered with the "
            f"{rendered_for} keys; a server added since listens on its default address (every "
            "interface) unless the base turns it off"))
    if version is not None:
        opened = ", ".join(f"{o.server} {o.address}" for o in open_listeners(doc, version))
        return Check(name, "ok", (
            f"MediaMTX {format_version(version)} listens on {opened or 'nothing'}; "
            "every other server off"))
    left_out = ", ".join(sorted(listener_keys(LATEST_SUPPORTED) - listener_keys(None)))
    head = f"MediaMTX version unknown ({why}): rendered with the {rendered_for} keys, without "
    exposed = [o for o in open_listeners(doc, LATEST_SUPPORTED) if not o.explicit]
    if not exposed:
        return Check(name, "warn", f"{head}{left_out}; the base turns off what they add")
    since = format_version(min(o.since for o in exposed))
    servers = " and ".join(f"`{s}: no`" for s in sorted({o.server for o in exposed}))
    where = ", ".join(f"{o.key} {o.address}" for o in exposed)
    return Check(name, "warn", (
        f"{head}{left_out}: until vmsd learns the version, a MediaMTX {since} or later listens "
        f"on every interface ({where}) unless the base sets {servers}"))


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
