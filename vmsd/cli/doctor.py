"""`vmsd doctor`: what this box has, checked the way the daemon will use it."""

from __future__ import annotations

import asyncio
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from vmsd.access.secrets import CredentialCipher, read_secret
from vmsd.cli.sandbox import Access, Sandbox, find_unit, load_sandbox
from vmsd.cli.writable import Identity, check_writable, current_identity, service_identity
from vmsd.config.mediamtx import MediaMtxMode
from vmsd.config.schema import Config
from vmsd.config.server import TlsConfig
from vmsd.core.errors import ConfigError, StartupError, VmsdError
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
from vmsd.runtime.database import DatabaseState, inspect_database
from vmsd.runtime.tls import server_context

# A certificate this close to its end is a warning: time to renew before browsers refuse it.
TLS_WARN_BEFORE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


async def run_checks(config: Config, unit: Path | None = None) -> list[Check]:
    """Every check; reads only (no initdb, no server started, no file created or changed).
    `unit`: the systemd unit whose sandbox and user the paths are checked against; None: the
    installed vmsd.service, if there is one, else the user running doctor."""
    mediamtx = [await _mediamtx(config)]
    if (listeners := await mediamtx_listeners(config)) is not None:
        mediamtx.append(listeners)
    unit_check, sandbox, who = service_context(unit)
    paths = [("state_dir", config.state_dir)] + [
        (f"storage.paths[{i}]", p) for i, p in enumerate(config.storage.paths)
    ]
    return [
        *mediamtx,
        await _ffmpeg(config),
        await _database(config),
        _secrets(config),
        tls_check(config.server.tls, datetime.now(UTC)),
        unit_check,
        *(_writable(name, path, who, sandbox) for name, path in paths),
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
    try:
        state = await inspect_database(config)
    except (VmsdError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        message = err.message if isinstance(err, VmsdError) else str(err) or type(err).__name__
        where = "embedded" if config.database.embedded else "external"
        return Check("database", "fail", f"{where}: {message}")
    return database_check(state)


def database_check(state: DatabaseState) -> Check:
    name = "database"
    count = len(state.pending_migrations)
    schema = (
        f"; {count} migration{'s' if count > 1 else ''} to apply (at the daemon's start, or "
        "vmsd migrate)" if count else "; schema up to date"
    )
    if not state.embedded:
        return Check(name, "ok", f"external PostgreSQL {state.server_version}{schema}")
    binary = (state.binary_version or "").removeprefix("postgres (PostgreSQL) ")
    if state.data_version is None:
        return Check(name, "ok", (
            f"embedded PostgreSQL {binary or '(version unknown)'}; {state.data_dir}: "
            "not initialised yet (the first start runs initdb)"))
    if binary.split(".")[0] != state.data_version:
        return Check(name, "fail", (
            f"embedded: {state.data_dir} holds a PostgreSQL {state.data_version} cluster, the "
            f"installed server is {binary or 'of unknown version'}: it cannot start on it "
            "(dump with the old version, restore with the new)"))
    if state.server_version is None:
        return Check(name, "ok", (
            f"embedded PostgreSQL {binary}; {state.data_dir}: initialised, not running "
            "(vmsd starts it)"))
    return Check(name, "ok", f"embedded PostgreSQL {state.server_version}, running{schema}")


def _secrets(config: Config) -> Check:
    """The credential key, read and checked without creating it (the daemon does, 0600)."""
    name = "secrets"
    value = config.secrets.key.get_secret_value().encode()
    source = "secrets.key (or VMSD_SECRETS_KEY)"
    path = config.secrets.key_file
    assert path is not None
    if not value:
        try:
            value = read_secret(path) or b""
        except VmsdError as err:
            return Check(name, "fail", "; ".join([err.message, *err.details]))
        if not value:
            return Check(name, "ok", (
                f"{path}: created (0600) at the first start; keep a copy with the database's "
                "backups"))
        source = str(path)
    try:
        CredentialCipher(value)
    except ConfigError as err:
        return Check(name, "fail", f"{source}: {err.message}")
    if source == str(path) and (mode := stat.S_IMODE(path.stat().st_mode)) & 0o077:
        return Check(name, "warn", (
            f"{path}: mode {mode:04o}, readable by others (vmsd sets 0600 at its next start)"))
    return Check(name, "ok", f"{source}: a valid credential key")


def tls_check(tls: TlsConfig, now: datetime) -> Check:
    """The certificate and key loaded as the daemon loads them (the key must match), and
    how long the certificate has left."""
    if not tls.enabled:
        return Check("tls", "ok", "off: the API serves plain HTTP (server.tls not set)")
    try:
        _, certificate = server_context(tls)
    except StartupError as err:
        return Check("tls", "fail", err.message)
    until = certificate.not_after
    if until <= now:
        return Check("tls", "fail", f"{tls.cert_file}: expired on {until:%Y-%m-%d %H:%M} UTC")
    if certificate.not_before > now:
        return Check("tls", "fail", (
            f"{tls.cert_file}: not valid before {certificate.not_before:%Y-%m-%d %H:%M} UTC"
        ))
    days = (until - now).days
    status = "warn" if until - now < TLS_WARN_BEFORE else "ok"
    renew = "; renew it, then SIGHUP the daemon" if status == "warn" else ""
    return Check("tls", status, (
        f"{tls.cert_file}: {certificate.subject}, valid until {until:%Y-%m-%d} ({days} days)"
        f"{renew}"
    ))


def service_context(unit: Path | None) -> tuple[Check, Sandbox | None, Identity | None]:
    """The unit line, and who writes with which sandbox: the unit's (given, or installed),
    else the user running doctor with none."""
    name = "unit"
    path = unit if unit is not None else find_unit()
    if path is None:
        me = current_identity()
        return Check(name, "ok", (
            f"no vmsd.service installed: paths checked for {me.name}, without a sandbox "
            "(--unit FILE checks them against a unit)")), None, me
    try:
        sandbox = load_sandbox(path, installed=unit is None)
    except OSError as err:
        return Check(name, "fail", f"{path}: {err.strerror or err}"), None, None
    try:
        who: Identity | None = service_identity(sandbox)
    except LookupError as err:
        return Check(name, "fail", f"{path}: {err}"), sandbox, None
    missing = [  # systemd makes a StateDirectory= before it sets up the namespace
        f"{r.why}{r.path}" for r in sandbox.listed_paths
        if not r.optional and not Path(r.path).exists() and sandbox.managed_dir(r.path) is None
    ]
    if missing:
        return Check(name, "fail", (
            f"{path}: {', '.join(missing)} does not exist: systemd refuses to start the unit "
            "(226/NAMESPACE) until it does")), sandbox, who
    writable = " ".join(
        str(r.path) for r in sandbox.listed_paths if r.access is Access.WRITABLE
    )
    return Check(name, "ok", (
        f"{path}: User={sandbox.user or 'root'}, ProtectSystem={sandbox.protect_system}, "
        f"ReadWritePaths={writable or '(none)'}")), sandbox, who


def _writable(name: str, path: Path, who: Identity | None, sandbox: Sandbox | None) -> Check:
    ok, detail = check_writable(path, who, sandbox)
    return Check(name, "ok" if ok else "fail", detail)
