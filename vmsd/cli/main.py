"""Command line: argv, subcommands, exit codes (0 ok, 78 config error, 1 failure)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from vmsd import __version__
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope
from vmsd.cli.users import add_user_parser
from vmsd.config.load import ConfigHolder, default_config_path, load_config
from vmsd.config.mediamtx import MediaMtxMode
from vmsd.config.schema import Config
from vmsd.core.errors import (
    EXIT_CONFIG,
    EXIT_CRASH,
    EXIT_OK,
    ConfigError,
    StartupError,
    VmsdError,
    describe_error,
)
from vmsd.core.log import LogLevel, configure_logging, get_logger
from vmsd.core.redact import redact_text

if TYPE_CHECKING:
    import asyncpg


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmsd", description="NVR media-control daemon")
    parser.add_argument("--version", action="version", version=f"vmsd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    # --config is accepted anywhere after the subcommand, `vmsd token create ... --config F`
    # included (SUPPRESS: a nested parser's default must not overwrite an earlier value).
    config_option = argparse.ArgumentParser(add_help=False)
    config_option.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: $VMSD_CONFIG, else /etc/vmsd/vmsd.yml, "
        "else ./config/vmsd.yml)",
    )

    # One-shot commands log warnings and errors only (stdout has their result), unless asked.
    verbose_option = argparse.ArgumentParser(add_help=False)
    verbose_option.add_argument(
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also log what the command does at info (its own database's start and stop...)",
    )
    one_shot = [config_option, verbose_option]

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        parents = [config_option] if name == "run" else one_shot
        return sub.add_parser(name, help=help_, description=help_, parents=parents)

    add("run", "run the daemon in the foreground")
    add("check-config", "validate the config file; exit 78 with every problem if invalid")
    add("migrate", "apply database migrations and exit")
    doctor = add(
        "doctor",
        "report MediaMTX, FFmpeg, database, secrets and storage as vmsd will use them; "
        "changes nothing",
    )
    doctor.add_argument(
        "--unit",
        type=Path,
        help="systemd unit whose user and sandbox the paths are checked against "
        "(default: the installed vmsd.service, if any)",
    )
    render = add("render-mediamtx", "print the mediamtx.yml vmsd would write now")
    render.add_argument(
        "--show-secrets",
        action="store_true",
        help="print camera passwords and the hook secret instead of ***",
    )
    hook = sub.add_parser(
        "hook", help="(run by MediaMTX) report a path's availability to the daemon"
    )
    hook.add_argument("hook", choices=["available", "unavailable"])
    hook.add_argument("--url", required=True)
    hook.add_argument("--key-file", required=True)
    sub.add_parser(
        "synthetic-publish",
        help="(run by MediaMTX) publish a test:// camera's pattern; see its own --help",
    )
    token = add("token", "manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser(
        "create", help="create a token and print its secret once", parents=one_shot
    )
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument(
        "--cameras",
        type=scope_argument,
        default=EVERY_CAMERA,
        metavar="a,b|*",
        help="the cameras it opens: '*' (default), camera names, group:<name>; comma-separated",
    )
    listing = token_sub.add_parser(
        "list", help="list tokens (never their secrets)", parents=one_shot
    )
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    revoke = token_sub.add_parser("revoke", help="revoke a token by id", parents=one_shot)
    revoke.add_argument("id", type=int)
    audit = add("audit", "the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_verify = audit_sub.add_parser(
        "verify",
        help="check the audit rows' hash chain; print `ok: N rows`, or the first broken row "
        "and exit 1",
        parents=one_shot,
    )
    audit_verify.add_argument(
        "--copy",
        type=Path,
        help="a JSON Lines export kept elsewhere (format=jsonl, no principal, action or target "
        "filter): its chain must hold and its last row must still be in the table unchanged",
    )
    add_user_parser(sub, one_shot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["hook"]:
        from vmsd.cli.hook import main as hook_main

        return hook_main(raw[1:])
    if raw[:1] == ["synthetic-publish"]:
        from vmsd.cli.publish import main as publish_main

        return publish_main(raw[1:])
    args = build_parser().parse_args(raw)
    path: Path = getattr(args, "config", None) or default_config_path()
    try:
        config = load_config(path)
    except ConfigError as err:
        print_config_error(err, sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        return check_config(config, path)
    if args.command == "run":
        configure_logging(config.log.level, config.log.format)
    else:  # one-shot commands print results on stdout; their log lines go to stderr
        level = command_log_level(config.log.level, verbose=getattr(args, "verbose", False))
        configure_logging(level, config.log.format, stream=sys.stderr)
    try:
        if args.command == "run":
            return run_daemon(ConfigHolder(config, path))
        if args.command == "doctor":
            return asyncio.run(run_doctor(config, args.unit))
        if args.command == "render-mediamtx":
            return asyncio.run(run_render(config, show_secrets=args.show_secrets))
        return asyncio.run(run_db_command(args, config))
    except VmsdError as err:
        print(f"vmsd: {err.message}", file=sys.stderr)
        for detail in err.details:
            print(f"  {detail_line(detail)}", file=sys.stderr)
        return EXIT_CRASH


def detail_line(detail: object) -> str:
    """An API-shaped detail ({"field", "message"}) as `field: message`; a line as it is."""
    if isinstance(detail, Mapping):
        field, message = detail.get("field"), detail.get("message", "")
        return f"{field}: {message}" if field else str(message)
    return str(detail)


def print_config_error(err: ConfigError, out: TextIO) -> None:
    print(f"vmsd: invalid configuration: {err.message}", file=out)
    for line in err.details:
        print(f"  {line}", file=out)


def run_daemon(holder: ConfigHolder) -> int:
    """Every way a start fails is one `daemon_failed` log line and one line on stderr (a
    config file's problems: one line each, as check-config prints them), never a traceback on
    stderr; the log has one only for what vmsd does not expect (a bug). Exit statuses: 78
    configuration, 75 a resource held or not there yet (systemd tries again), 1 the rest."""
    from vmsd.runtime.daemon import Daemon

    log = get_logger("vmsd")
    try:
        asyncio.run(Daemon(holder).run())
    except asyncio.CancelledError:
        log.warning("daemon_cancelled")
        return EXIT_OK
    except Exception as raised:
        err = _innermost(raised)
        if isinstance(err, StartupError):
            log.error(
                "daemon_failed",
                setting=err.config_key,
                error=err.cause,
                exit_status=err.exit_status,
            )
            print(f"vmsd: cannot start: {redact_text(err.message)}", file=sys.stderr)
            return err.exit_status
        if isinstance(err, ConfigError):  # found only at start (a base MediaMTX file...)
            log.error("daemon_failed", error=err.message, details=err.details)
            print_config_error(err, sys.stderr)
            return EXIT_CONFIG
        if isinstance(err, VmsdError):
            log.error("daemon_failed", error=err.message, details=err.details)
            print(f"vmsd: {redact_text(err.message)}", file=sys.stderr)
            return EXIT_CRASH
        log.error("daemon_failed", error=describe_error(err), exc_info=raised)
        print(
            f"vmsd: failed: {redact_text(describe_error(err))} "
            "(a bug: the daemon_failed log line has the traceback)",
            file=sys.stderr,
        )
        return EXIT_CRASH
    return EXIT_OK


def _innermost(err: BaseException) -> BaseException:
    """The error a TaskGroup wrapped, when it wrapped exactly one."""
    while isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
        err = err.exceptions[0]
    return err


def command_log_level(configured: LogLevel, *, verbose: bool) -> LogLevel:
    """Warnings and errors; with --verbose the configured level, info at least."""
    order = list(LogLevel)
    if verbose:
        return min(configured, LogLevel.INFO, key=order.index)
    return max(configured, LogLevel.WARNING, key=order.index)


def check_config(config: Config, path: Path) -> int:
    """The file is valid, and so are the files it names that the daemon reads at start."""
    from vmsd.mediamtx.controller import effective_mode, load_base

    if effective_mode(config) is not MediaMtxMode.OFF:
        try:
            load_base(config.mediamtx.base_config)
        except ConfigError as err:
            why = "; ".join(d for d in err.details if d != "mediamtx.base_config")
            problem = f"mediamtx.base_config: {err.message}" + (f" ({why})" if why else "")
            print_config_error(ConfigError(f"{path}: 1 problem", [problem]), sys.stderr)
            return EXIT_CONFIG
    print(f"{path}: ok")
    return EXIT_OK


async def run_doctor(config: Config, unit: Path | None) -> int:
    from vmsd.cli.doctor import run_checks

    checks = await run_checks(config, unit)
    for check in checks:
        print(f"{check.status:<4}  {check.name:<18} {check.detail}")
    return EXIT_CRASH if any(c.status == "fail" for c in checks) else EXIT_OK


async def run_render(config: Config, *, show_secrets: bool) -> int:
    """The file as the daemon would write it now (registry from the database)."""
    from vmsd.access.secrets import (
        HOOK_SECRET_FILE_NAME,
        CredentialCipher,
        credential_key,
        load_or_create_hook_secret,
    )
    from vmsd.cameras.model import camera_from_config
    from vmsd.cameras.registry import camera_from_row
    from vmsd.core.redact import REDACTED, redact_text
    from vmsd.mediamtx.controller import (
        build_render_settings,
        effective_mode,
        hook_generation,
        render_document,
    )
    from vmsd.mediamtx.process import mediamtx_version
    from vmsd.mediamtx.schema import parse_mediamtx_version, validate_mediamtx_document
    from vmsd.recorder.binary import resolve_ffmpeg
    from vmsd.runtime.database import cli_pool
    from vmsd.store.cameras import MANAGED_BY_API, MANAGED_BY_CONFIG, CameraStore

    async with cli_pool(config) as pool:
        rows = await CameraStore(pool).list_all()
    cipher = CredentialCipher(credential_key(config))
    # The file's cameras as the daemon will sync them, plus those created through the API.
    from_file = {c.name for c in config.cameras}
    cameras = [camera_from_config(c, MANAGED_BY_CONFIG) for c in config.cameras] + [
        camera_from_row(row, cipher)
        for row in rows
        if row.managed_by == MANAGED_BY_API and row.name not in from_file
    ]
    version_text = await mediamtx_version(config.mediamtx.binary)
    version = parse_mediamtx_version(version_text) if version_text else None
    ffmpeg = resolve_ffmpeg(config.ffmpeg.binary) if any(c.is_synthetic for c in cameras) else ""
    secret = load_or_create_hook_secret(config.state_dir / HOOK_SECRET_FILE_NAME)
    settings = build_render_settings(
        config, secret, hook_generation(config, version), ffmpeg or "ffmpeg",
        mediamtx_version=version,
    )
    doc, text = render_document(config, cameras, settings)
    if not show_secrets:
        text = redact_text(text).replace(secret, REDACTED)
        for server in config.console.webrtc.ice_servers:  # TURN passwords
            if password := server.password.get_secret_value():
                text = text.replace(password, REDACTED)
    print(text, end="")
    print(
        f"# mode {effective_mode(config).value}, MediaMTX {version_text or 'version unknown'}, "
        f"hooks {settings.hook_generation.keys[0]}/{settings.hook_generation.keys[1]}",
        file=sys.stderr,
    )
    problems = validate_mediamtx_document(doc, version)
    for problem in problems:
        print(f"invalid: {problem}", file=sys.stderr)
    return EXIT_CRASH if problems else EXIT_OK


def scope_argument(text: str) -> CameraScope:
    """`--cameras a,b,group:gate` or `*`, as argparse's type: a bad entry is a usage error."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    try:
        scope = CameraScope.parse(entries)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    if scope.is_empty:
        raise argparse.ArgumentTypeError("give '*', camera names or group:<name>")
    return scope


async def run_db_command(args: argparse.Namespace, config: Config) -> int:
    from vmsd.cli import audit
    from vmsd.cli.users import run_user_command
    from vmsd.runtime.database import cli_pool

    async with cli_pool(config) as pool:
        if args.command == "migrate":
            print("migrations applied")
            return EXIT_OK
        if args.command == "audit":
            return await audit.verify(pool, args.copy)
        if args.command == "user":
            return await run_user_command(args, config, pool)
        return await run_token_command(args, pool)


async def run_token_command(args: argparse.Namespace, pool: asyncpg.Pool) -> int:
    from vmsd.access.tokens import TokenService
    from vmsd.cli.audit import audited
    from vmsd.store.tokens import TokenStore

    tokens = TokenService(TokenStore(pool))
    command = args.token_command
    if command == "list":
        for t in await tokens.list(include_revoked=args.all):
            print(
                json.dumps(
                    {
                        "id": t.id,
                        "name": t.name,
                        "role": t.role,
                        "cameras": list(t.cameras),
                        "created_at": t.created_at.isoformat(),
                        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                    }
                )
            )
        return EXIT_OK
    if command == "create":
        details = {"name": args.name, "role": args.role, "cameras": args.cameras.entries()}
        async with audited(pool, "token.create", "", details) as row:
            token, secret = await tokens.create(args.name, Role(args.role), args.cameras)
            row.target = f"token:{token.id}"
        print(secret)
        print(
            f"token {token.id} ({token.name}, {token.role}, cameras "
            f"{','.join(token.cameras)}) created; "
            "the secret above is shown only once",
            file=sys.stderr,
        )
        return EXIT_OK
    async with audited(pool, "token.revoke", f"token:{args.id}", {}) as row:
        token = await tokens.revoke(args.id)
        row.details["name"] = token.name
    print(f"token {token.id} ({token.name}) revoked")
    return EXIT_OK
