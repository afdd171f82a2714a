"""SQL for API tokens. A role is the stored text (`viewer`, `operator`, `admin`), a camera
scope the stored entries (`*`, camera names, `group:<name>`); what they allow is the access
domain's business (vmsd.access.roles, vmsd.access.scope)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from vmsd.core.errors import ConflictError, NotFoundError

TOKENS_CHANNEL = "vmsd_api_tokens"


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None
    cameras: tuple[str, ...] = ("*",)


@dataclass(frozen=True, slots=True)
class ActiveTokenHash:
    token_hash: bytes
    token_id: int
    name: str
    role: str
    cameras: tuple[str, ...] = ("*",)


_COLUMNS = "id, name, role, created_at, revoked_at, cameras"


def _token(row: asyncpg.Record) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        cameras=tuple(row["cameras"]),
    )


def token_missing(token_id: int) -> NotFoundError:
    """What an unknown token id answers (and a token out of the caller's sight)."""
    return NotFoundError(f"no token with id {token_id}")


class TokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, name: str, role: str, token_hash: bytes, cameras: Sequence[str] = ("*",)
    ) -> ApiToken:
        try:
            row = await self._pool.fetchrow(
                f"""INSERT INTO api_tokens (name, role, token_hash, cameras)
                    VALUES ($1, $2, $3, $4::text[]) RETURNING {_COLUMNS}""",  # noqa: S608
                name,
                str(role),
                token_hash,
                list(cameras),
            )
        except asyncpg.UniqueViolationError as err:
            raise ConflictError(f"an active token named {name!r} already exists") from err
        assert row is not None
        return _token(row)

    async def list_tokens(self, include_revoked: bool = False) -> list[ApiToken]:
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM api_tokens
                WHERE $1 OR revoked_at IS NULL ORDER BY id""",  # noqa: S608
            include_revoked,
        )
        return [_token(r) for r in rows]

    async def get(self, token_id: int) -> ApiToken:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM api_tokens WHERE id = $1",  # noqa: S608
            token_id,
        )
        if row is None:
            raise token_missing(token_id)
        return _token(row)

    async def revoke(self, token_id: int) -> ApiToken:
        row = await self._pool.fetchrow(
            f"""UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
                RETURNING {_COLUMNS}""",  # noqa: S608
            token_id,
        )
        if row is None:
            raise token_missing(token_id)
        return _token(row)

    async def active_hashes(self) -> list[ActiveTokenHash]:
        rows = await self._pool.fetch(
            "SELECT id, name, role, token_hash, cameras FROM api_tokens WHERE revoked_at IS NULL"
        )
        return [
            ActiveTokenHash(
                bytes(r["token_hash"]), r["id"], r["name"], r["role"], tuple(r["cameras"])
            )
            for r in rows
        ]
