"""API tokens and roles. Pure: generation, hashing, role ordering."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

TOKEN_PREFIX = "vmsd_"  # noqa: S105 - a public prefix, not a secret
TOKEN_BYTES = 32


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def generate_token() -> str:
    """A new random 32-byte secret, URL-safe, with a prefix that secret scanners can match."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    """SHA-256 of the token. The token is 256 random bits, so a fast hash is enough: there
    is nothing to brute-force, unlike a password."""
    return hashlib.sha256(token.encode()).digest()


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 40 <= len(value) <= 100
