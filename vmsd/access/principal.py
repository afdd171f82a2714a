"""Who made a request: a user (by a session or, for MediaMTX, a password), an API token, or a
signed link. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope


class PrincipalKind(StrEnum):
    USER = "user"
    TOKEN = "token"  # noqa: S105 - a kind, not a secret
    LINK = "link"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: int  # the user's or the token's id; a link's: its creator's
    name: str
    role: Role
    scope: CameraScope = EVERY_CAMERA
    session_id: int | None = None  # a user authenticated by a session cookie

    @property
    def label(self) -> str:
        """How the audit trail and the logs name it: `user:alice`, `token:ci`."""
        return f"{self.kind.value}:{self.name}"

    def may_see(self, camera: str, groups: tuple[str, ...] = ()) -> bool:
        return self.scope.allows(camera, groups)
