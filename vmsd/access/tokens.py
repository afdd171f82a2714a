"""API tokens as a service: create/list/revoke, and the in-memory registry that authenticates
requests without a database query per request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg

from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role, generate_token, hash_token
from vmsd.core.backoff import Backoff
from vmsd.core.errors import ValidationError
from vmsd.core.names import LABEL_MAX, is_label
from vmsd.store.listen import listen_forever
from vmsd.store.tokens import TOKENS_CHANNEL, ActiveTokenHash, ApiToken, TokenStore


class TokenRegistry:
    """Active token hashes in memory, reloaded when the api_tokens table changes (NOTIFY)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: TokenStore,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._store = store
        self._by_hash: dict[bytes, ActiveTokenHash] = {}
        self._backoff = backoff
        self._sleep = sleep
        self.loaded = asyncio.Event()

    def lookup(self, token: str) -> Principal | None:
        entry = self._by_hash.get(hash_token(token))
        if entry is None:
            return None
        return Principal(PrincipalKind.TOKEN, entry.token_id, entry.name, Role(entry.role))

    async def refresh(self) -> None:
        hashes = await self._store.active_hashes()
        self._by_hash = {h.token_hash: h for h in hashes}
        self.loaded.set()

    async def run(self) -> None:
        """Follow changes forever (NOTIFY from any box or CLI command)."""
        await listen_forever(
            self._pool, TOKENS_CHANNEL, self.refresh, backoff=self._backoff, sleep=self._sleep
        )


class TokenService:
    def __init__(self, store: TokenStore, registry: TokenRegistry | None = None) -> None:
        self._store = store
        self._registry = registry

    async def create(self, name: str, role: Role) -> tuple[ApiToken, str]:
        """Returns the token record and the secret, which is never retrievable again."""
        name = name.strip()
        if not is_label(name):
            raise ValidationError(
                "invalid token name",
                [
                    {
                        "field": "name",
                        "message": f"must be 1-{LABEL_MAX} characters, not blank, "
                        "without control characters",
                    }
                ],
            )
        secret = generate_token()
        token = await self._store.create(name, role, hash_token(secret))
        if self._registry is not None:
            await self._registry.refresh()  # usable at once, before the NOTIFY round trip
        return token, secret

    async def list(self, include_revoked: bool = False) -> list[ApiToken]:
        return await self._store.list_tokens(include_revoked)

    async def revoke(self, token_id: int) -> ApiToken:
        token = await self._store.revoke(token_id)
        if self._registry is not None:
            await self._registry.refresh()
        return token
