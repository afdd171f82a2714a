"""`vmsd user ...`: user accounts from the command line, straight against the database (the
running daemon hears of each change through NOTIFY). The CLI acts with every camera: it runs
as whoever can read the configuration, the database's owner."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from vmsd.access.roles import Role
from vmsd.config.schema import Config
from vmsd.core.errors import EXIT_OK, ValidationError

if TYPE_CHECKING:  # main.py builds its parser from here: `vmsd hook` must stay light
    import asyncpg

    from vmsd.access.users import UserService
    from vmsd.store.users import UserRecord


def add_user_parser(
    add: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    user = add.add_parser(
        "user",
        help="manage user accounts",
        description="manage user accounts",
        parents=parents,
    )
    sub = user.add_subparsers(dest="user_command", required=True)
    create = sub.add_parser("create", help="create a user", parents=parents)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument(
        "--cameras",
        help="comma-separated camera names, group:<group> entries, or * "
        "(default: * for an admin, none for a viewer or operator)",
    )
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    passwd = sub.add_parser("passwd", help="set a user's password", parents=parents)
    for command in (create, passwd):
        command.add_argument(
            "--password-stdin",
            action="store_true",
            required=True,
            help="read the password from standard input (one line)",
        )
    sub.add_parser("list", help="list users as JSON lines (never a hash)", parents=parents)
    for name, help_ in (
        ("passwd", None),
        ("disable", "disable a user; its sessions end"),
        ("enable", "enable a user again"),
        ("delete", "delete a user and its sessions"),
    ):
        command = passwd if help_ is None else sub.add_parser(name, help=help_, parents=parents)
        command.add_argument("--name", required=True)
        if name in ("disable", "delete"):
            command.add_argument(
                "--force",
                action="store_true",
                help="even if it is the last enabled admin with every camera (nobody could "
                "manage the users from the console until `vmsd user create --role admin`)",
            )


def read_password(stream: TextIO) -> str:
    """One line: what follows the first newline is not part of it."""
    from vmsd.access.passwords import MAX_PASSWORD_CHARS

    line = stream.readline(MAX_PASSWORD_CHARS + 2)
    return line.removesuffix("\n").removesuffix("\r")


def user_json(user: UserRecord) -> str:
    return json.dumps(
        {
            "id": user.id,
            "name": user.name,
            "role": user.role,
            "cameras": list(user.cameras),
            "enabled": user.enabled,
            "created_at": user.created_at.isoformat(),
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
        }
    )


def _cameras(value: str | None) -> list[str] | None:
    if value is None:
        return None
    entries = [e.strip() for e in value.split(",") if e.strip()]
    if not entries:
        raise ValidationError(
            "invalid --cameras", [{"field": "cameras", "message": "name at least one entry"}]
        )
    return entries


async def run_user_command(args: argparse.Namespace, config: Config, pool: asyncpg.Pool) -> int:
    from vmsd.access.passwords import Passwords
    from vmsd.access.users import UserService
    from vmsd.store.users import LastAdminError, UserStore

    users = UserService(UserStore(pool), Passwords(config.auth.password_hash))
    action = args.user_command
    if action == "list":
        for user in await users.list_users():
            print(user_json(user))
        return EXIT_OK
    # The audit trail's names for them, as for the API's routes (vmsd/api/users.py).
    audit_action = {"create": "user.create", "passwd": "user.password", "delete": "user.delete"}
    details: dict[str, object] = {}
    if action == "create":
        details = {
            "role": args.role,
            "cameras": _cameras(args.cameras),
            "enabled": not args.disabled,
        }
    elif action in ("disable", "enable"):
        details = {"enabled": action == "enable"}
    if getattr(args, "force", False):
        details["force"] = True
    try:
        user = await _change(args, users, pool, audit_action.get(action, "user.update"), details)
    except LastAdminError as err:
        remedy = "make another such admin first (`vmsd user create --role admin`), or --force"
        raise LastAdminError(err.name, remedy) from err
    print(user_json(user))
    return EXIT_OK


async def _change(
    args: argparse.Namespace,
    users: UserService,
    pool: asyncpg.Pool,
    audit_action: str,
    details: dict[str, object],
) -> UserRecord:
    from vmsd.access.scope import EVERY_CAMERA
    from vmsd.cli.audit import audited

    action = args.user_command
    async with audited(pool, audit_action, f"user:{args.name}", details):
        if action == "create":
            user = await users.create(
                EVERY_CAMERA,
                args.name,
                Role(args.role),
                read_password(sys.stdin),
                cameras=_cameras(args.cameras),
                enabled=not args.disabled,
            )
        elif action == "passwd":
            user = await users.set_password(EVERY_CAMERA, args.name, read_password(sys.stdin))
        elif action in ("disable", "enable"):
            force = action == "disable" and args.force
            user = await users.update(
                EVERY_CAMERA, args.name, enabled=action == "enable", force=force
            )
        else:
            user = await users.delete(EVERY_CAMERA, args.name, force=args.force)
    return user
