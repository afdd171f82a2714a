"""SQL for API tokens. A role is the stored text (`viewer`, `operator`, `admin`); what it
allows is the access domain's business (vmsd.access.roles)."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class ActiveTokenHash:
    token_hash: bytes
    token_id: int
    name: str
    role: str


def _token(row: asyncpg.Record) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class TokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, name: str, role: str, token_hash: bytes) -> ApiToken:
        try:
            row = await self._pool.fetchrow(
                """INSERT INTO api_tokens (name, role, token_hash) VALUES ($1, $2, $3)
                   RETURNING id, name, role, created_at, revoked_at""",
                name,
                str(role),
                token_hash,
            )
        except asyncpg.UniqueViolationError as err:
            raise ConflictError(f"an active token named {name!r} already exists") from err
        assert row is not None
        return _token(row)

    async def list_tokens(self, include_revoked: bool = False) -> list[ApiToken]:
        rows = await self._pool.fetch(
            """SELECT id, name, role, created_at, revoked_at FROM api_tokens
               WHERE $1 OR revoked_at IS NULL ORDER BY id""",
            include_revoked,
        )
        return [_token(r) for r in rows]

    async def revoke(self, token_id: int) -> ApiToken:
        row = await self._pool.fetchrow(
            """UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
               RETURNING id, name, role, created_at, revoked_at""",
            token_id,
        )
        if row is None:
            raise NotFoundError(f"no token with id {token_id}")
        return _token(row)

    async def active_hashes(self) -> list[ActiveTokenHash]:
        rows = await self._pool.fetch(
            "SELECT id, name, role, token_hash FROM api_tokens WHERE revoked_at IS NULL"
        )
        return [
            ActiveTokenHash(bytes(r["token_hash"]), r["id"], r["name"], r["role"])
            for r in rows
        ]
