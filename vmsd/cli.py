"""Command line: argv, subcommands, exit codes (0 ok, 78 config error, 1 failure)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from vmsd import __version__
from vmsd.auth import Role
from vmsd.config import Config, ConfigHolder, default_config_path, load_config
from vmsd.errors import EXIT_CONFIG, EXIT_CRASH, EXIT_OK, ConfigError, VmsdError
from vmsd.log import configure_logging, get_logger


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmsd", description="NVR media-control daemon")
    parser.add_argument("--version", action="version", version=f"vmsd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_, description=help_)
        cmd.add_argument(
            "--config",
            type=Path,
            default=None,
            help="config file (default: $VMSD_CONFIG, else /etc/vmsd/vmsd.yml, "
            "else ./config/vmsd.yml)",
        )
        return cmd

    add("run", "run the daemon in the foreground")
    add("check-config", "validate the config file; exit 78 with every problem if invalid")
    add("migrate", "apply database migrations and exit")
    token = add("token", "manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    listing = token_sub.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    revoke = token_sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path: Path = args.config or default_config_path()
    try:
        config = load_config(path)
    except ConfigError as err:
        print_config_error(err, sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(f"{path}: ok")
        return EXIT_OK
    # One-shot commands print results on stdout; their log lines go to stderr.
    configure_logging(
        config.log.level, config.log.format, stream=None if args.command == "run" else sys.stderr
    )
    try:
        if args.command == "run":
            return run_daemon(ConfigHolder(config, path))
        return asyncio.run(run_db_command(args, config))
    except VmsdError as err:
        print(f"vmsd: {err.message}", file=sys.stderr)
        for line in err.details:
            print(f"  {line}", file=sys.stderr)
        return EXIT_CRASH


def print_config_error(err: ConfigError, out: TextIO) -> None:
    print(f"vmsd: invalid configuration: {err.message}", file=out)
    for line in err.details:
        print(f"  {line}", file=out)


def run_daemon(holder: ConfigHolder) -> int:
    from vmsd.daemon import Daemon

    log = get_logger("vmsd")
    try:
        asyncio.run(Daemon(holder).run())
    except VmsdError as err:
        log.error("daemon_failed", error=err.message, details=err.details)
        return EXIT_CRASH
    except asyncio.CancelledError:
        log.warning("daemon_cancelled")
        return EXIT_OK
    return EXIT_OK


async def run_db_command(args: argparse.Namespace, config: Config) -> int:
    from vmsd.database import cli_pool
    from vmsd.store.tokens import TokenStore
    from vmsd.tokens import TokenService

    async with cli_pool(config) as pool:
        if args.command == "migrate":
            print("migrations applied")
            return EXIT_OK
        tokens = TokenService(TokenStore(pool))
        action = args.token_command
        if action == "create":
            token, secret = await tokens.create(args.name, Role(args.role))
            print(secret)
            print(
                f"token {token.id} ({token.name}, {token.role.value}) created; "
                "the secret above is shown only once",
                file=sys.stderr,
            )
        elif action == "list":
            for t in await tokens.list(include_revoked=args.all):
                print(
                    json.dumps(
                        {
                            "id": t.id,
                            "name": t.name,
                            "role": t.role.value,
                            "created_at": t.created_at.isoformat(),
                            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                        }
                    )
                )
        else:
            token = await tokens.revoke(args.id)
            print(f"token {token.id} ({token.name}) revoked")
    return EXIT_OK
