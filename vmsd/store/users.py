"""SQL for user accounts (migration 0009's `users`). A change to the table NOTIFYs
USERS_CHANNEL (a trigger), so every daemon sharing the database reloads its users. Disabling a
user, changing its password and deleting it end its sessions in the same transaction.

An update or a delete that would leave no full admin (enabled, role `admin`, cameras `*`)
where there was one is refused (LastAdminError) unless told otherwise: without one nobody may
manage the users from the console. The check and the change share a transaction under an
advisory lock, so two admins disabling each other at once cannot both succeed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from vmsd.core.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from vmsd.store.db import Connection

USERS_CHANNEL = "vmsd_users"
# pg_advisory_xact_lock key for changes that may take a full admin away, one at a time on
# every box sharing the database. "vmsd" + 3 (1 is the migrations', 2 the audit chain's).
ADMINS_LOCK_KEY = 0x766D_7364_0003
# A full admin, as vmsd.access reads a row: a scope holding `*` holds every camera.
_COUNT_FULL_ADMINS = """SELECT count(*) FROM users
    WHERE role = 'admin' AND enabled AND '*' = ANY(cameras)"""
_COLUMNS = """id, name, role, cameras, password_hash, enabled, created_at, updated_at,
    password_changed_at, last_login_at"""
_REVOKE_SESSIONS = """UPDATE sessions SET revoked_at = now()
    WHERE user_id = $1 AND revoked_at IS NULL"""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    role: str
    cameras: tuple[str, ...]
    password_hash: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        cameras=tuple(row["cameras"]),
        password_hash=row["password_hash"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        password_changed_at=row["password_changed_at"],
        last_login_at=row["last_login_at"],
    )


def _missing(name: str) -> NotFoundError:
    return NotFoundError(f"no user named {name[:64]!r}")


class LastAdminError(ConflictError):
    """The change would leave no enabled admin with every camera."""

    code = "last_admin"

    def __init__(self, name: str, remedy: str = "make another such admin first") -> None:
        super().__init__(
            f"{name!r} is the last enabled admin with every camera ('*'): disabling, "
            f"demoting, narrowing or deleting it would leave nobody to manage the users; {remedy}"
        )
        self.name = name


async def _lock_admins(conn: Connection) -> int:
    """Takes the lock and returns the full admins now (this transaction's own changes
    included)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMINS_LOCK_KEY)
    return await _full_admins(conn)


async def _full_admins(conn: Connection) -> int:
    count = await conn.fetchval(_COUNT_FULL_ADMINS)
    return int(count)


class UserStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, name: str, role: str, cameras: list[str], password_hash: str, enabled: bool
    ) -> UserRecord:
        try:
            row = await self._pool.fetchrow(
                f"""INSERT INTO users (name, role, cameras, password_hash, enabled)
                    VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",  # noqa: S608
                name,
                role,
                cameras,
                password_hash,
                enabled,
            )
        except asyncpg.UniqueViolationError as err:
            raise ConflictError(f"a user named {name!r} already exists") from err
        assert row is not None
        return _user(row)

    async def list_users(self) -> list[UserRecord]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM users ORDER BY name")  # noqa: S608
        return [_user(r) for r in rows]

    async def get(self, name: str) -> UserRecord:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE name = $1", name)  # noqa: S608
        if row is None:
            raise _missing(name)
        return _user(row)

    async def update(
        self,
        name: str,
        *,
        role: str | None = None,
        cameras: list[str] | None = None,
        enabled: bool | None = None,
        keep_admin: bool = True,
    ) -> UserRecord:
        """Only the given fields change; a user disabled here loses its sessions.
        `keep_admin`: refuse to take away the last full admin (LastAdminError)."""
        async with self._pool.acquire() as conn, conn.transaction():
            admins = await _lock_admins(conn)
            row = await conn.fetchrow(
                f"""UPDATE users SET role = coalesce($2, role),
                        cameras = coalesce($3, cameras),
                        enabled = coalesce($4, enabled), updated_at = now()
                    WHERE name = $1 RETURNING {_COLUMNS}""",  # noqa: S608
                name,
                role,
                cameras,
                enabled,
            )
            if row is None:
                raise _missing(name)
            if keep_admin and admins and not await _full_admins(conn):
                raise LastAdminError(name)  # the transaction rolls the change back
            if not row["enabled"]:
                await conn.execute(_REVOKE_SESSIONS, row["id"])
        return _user(row)

    async def set_password_hash(self, name: str, password_hash: str) -> UserRecord:
        """A new password: every session of the user ends."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""UPDATE users SET password_hash = $2, password_changed_at = now(),
                        updated_at = now()
                    WHERE name = $1 RETURNING {_COLUMNS}""",  # noqa: S608
                name,
                password_hash,
            )
            if row is None:
                raise _missing(name)
            await conn.execute(_REVOKE_SESSIONS, row["id"])
        return _user(row)

    async def rehash(self, user_id: int, old_hash: str, new_hash: str) -> None:
        """The same password under new argon2 parameters; nothing else changes. A password
        changed meanwhile (the old hash is gone) is left alone."""
        await self._pool.execute(
            "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
            user_id,
            old_hash,
            new_hash,
        )

    async def record_login(self, user_id: int) -> UserRecord:
        row = await self._pool.fetchrow(
            f"UPDATE users SET last_login_at = now() WHERE id = $1 RETURNING {_COLUMNS}",  # noqa: S608
            user_id,
        )
        if row is None:
            raise NotFoundError(f"no user with id {user_id}")
        return _user(row)

    async def delete(self, name: str, keep_admin: bool = True) -> UserRecord:
        """Its sessions go with it (ON DELETE CASCADE). `keep_admin`: as for update."""
        async with self._pool.acquire() as conn, conn.transaction():
            admins = await _lock_admins(conn)
            row = await conn.fetchrow(
                f"DELETE FROM users WHERE name = $1 RETURNING {_COLUMNS}",  # noqa: S608
                name,
            )
            if row is None:
                raise _missing(name)
            if keep_admin and admins and not await _full_admins(conn):
                raise LastAdminError(name)
        return _user(row)
