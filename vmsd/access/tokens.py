"""API tokens as a service: create/list/revoke, and the in-memory registry that authenticates
requests without a database query per request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role, generate_token, hash_token
from vmsd.access.scope import EVERY_CAMERA, NO_CAMERA, CameraScope
from vmsd.core.backoff import Backoff
from vmsd.core.errors import ForbiddenError, ValidationError
from vmsd.core.log import get_logger
from vmsd.core.names import LABEL_MAX, is_label
from vmsd.store.listen import listen_forever
from vmsd.store.tokens import (
    TOKENS_CHANNEL,
    ActiveTokenHash,
    ApiToken,
    TokenStore,
    token_missing,
)

log = get_logger("vmsd.access")


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
        self._by_hash: dict[bytes, Principal] = {}
        self._by_id: dict[int, Principal] = {}
        self._backoff = backoff
        self._sleep = sleep
        self.loaded = asyncio.Event()

    def lookup(self, token: str) -> Principal | None:
        """The active token's principal (its role and camera scope), or None."""
        return self._by_hash.get(hash_token(token))

    def principal_by_id(self, token_id: int) -> Principal | None:
        """An active token's principal by its id (None once revoked): what a signed link made
        by that token may still open."""
        return self._by_id.get(token_id)

    async def refresh(self) -> None:
        hashes = await self._store.active_hashes()
        principals = {h.token_hash: _principal(h) for h in hashes}
        self._by_hash = principals
        self._by_id = {p.id: p for p in principals.values()}
        self.loaded.set()

    async def run(self) -> None:
        """Follow changes forever (NOTIFY from any box or CLI command)."""
        await listen_forever(
            self._pool, TOKENS_CHANNEL, self.refresh, backoff=self._backoff, sleep=self._sleep
        )


def _principal(entry: ActiveTokenHash) -> Principal:
    """A stored scope that no longer parses (a hand-edited row) opens no camera: fail closed."""
    try:
        scope = CameraScope.parse(entry.cameras)
    except ValueError:
        log.error("token_scope_unreadable", token=entry.token_id)
        scope = NO_CAMERA
    return Principal(PrincipalKind.TOKEN, entry.token_id, entry.name, Role(entry.role), scope)


def parse_scope(entries: Sequence[str], field: str = "cameras") -> CameraScope:
    """A scope from the API or the CLI; an empty list or a bad entry is a 422 naming it."""
    try:
        scope = CameraScope.parse(entries)
    except ValueError as err:
        detail = {"field": field, "message": str(err)}
        raise ValidationError("invalid camera scope", [detail]) from err
    if scope.is_empty:
        raise ValidationError(
            "invalid camera scope",
            [{"field": field, "message": "at least one entry: '*', a camera or 'group:<name>'"}],
        )
    return scope


def require_covers(grantor: Principal | None, scope: CameraScope) -> None:
    """A principal grants only what its own scope covers (a scoped admin cannot hand out `*`
    or a camera or group it does not hold). None: the CLI, run by the box's operator."""
    if grantor is not None and not grantor.scope.covers(scope):
        raise ForbiddenError(
            f"{grantor.label} may grant only cameras within its own scope "
            f"({', '.join(grantor.scope.entries()) or 'none'})"
        )


def may_manage(actor: Principal | None, token: ApiToken) -> bool:
    """As for users (vmsd.access.users.UserService): an admin sees and revokes only the
    tokens whose scope its own covers; the others are, to it, tokens that do not exist. A
    stored scope that no longer parses counts as every camera: only a `*` admin manages
    what nobody can read. None: the CLI, which acts with every camera."""
    if actor is None:
        return True
    try:
        scope = CameraScope.parse(token.cameras)
    except ValueError:
        scope = EVERY_CAMERA
    return actor.scope.covers(scope)


class TokenService:
    """`actor` (the API's caller; None for the CLI) sees and revokes only what `may_manage`
    lets it; `grantor` creates only scopes it covers."""

    def __init__(self, store: TokenStore, registry: TokenRegistry | None = None) -> None:
        self._store = store
        self._registry = registry

    async def create(
        self,
        name: str,
        role: Role,
        scope: CameraScope = EVERY_CAMERA,
        grantor: Principal | None = None,
    ) -> tuple[ApiToken, str]:
        """Returns the token record and the secret, which is never retrievable again.
        `grantor` (the API's caller) must cover `scope`: else a ForbiddenError."""
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
        require_covers(grantor, scope)
        secret = generate_token()
        token = await self._store.create(name, role, hash_token(secret), scope.entries())
        if self._registry is not None:
            await self._registry.refresh()  # usable at once, before the NOTIFY round trip
        return token, secret

    async def list(
        self, include_revoked: bool = False, actor: Principal | None = None
    ) -> list[ApiToken]:
        tokens = await self._store.list_tokens(include_revoked)
        return [t for t in tokens if may_manage(actor, t)]

    async def revoke(self, token_id: int, actor: Principal | None = None) -> ApiToken:
        """A token out of `actor`'s sight is a NotFoundError, as an unknown id. Checked
        before the revocation, safely: a token's scope never changes once made."""
        if actor is not None and not may_manage(actor, await self._store.get(token_id)):
            raise token_missing(token_id)
        token = await self._store.revoke(token_id)
        if self._registry is not None:
            await self._registry.refresh()
        return token
