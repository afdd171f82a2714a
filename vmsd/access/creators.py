"""Who a link's creator is now: the one ResolvePrincipal the link routes ask, from the
in-memory registries (no query per link use)."""

from __future__ import annotations

from collections.abc import Callable

from vmsd.access.links import ResolvePrincipal
from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.tokens import TokenRegistry

UserById = Callable[[int], Principal | None]


def principal_resolver(tokens: TokenRegistry, users: UserById | None = None) -> ResolvePrincipal:
    """`users`: the users registry's lookup by id (an enabled user, with its scope)."""

    def resolve(kind: PrincipalKind, principal_id: int) -> Principal | None:
        if kind is PrincipalKind.TOKEN:
            return tokens.principal_by_id(principal_id)
        if kind is PrincipalKind.USER and users is not None:
            return users(principal_id)
        return None

    return resolve

