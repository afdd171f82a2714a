"""Request and response models of /api/v1/auth and /api/v1/users: what the handlers validate
and answer, and what the OpenAPI document says. No model carries a password hash."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from vmsd.access.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from vmsd.access.principal import PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import MAX_SCOPE_ENTRIES, SCOPE_ENTRY_PATTERN
from vmsd.access.users import USER_NAME_PATTERN
from vmsd.api.query import Id, Params
from vmsd.api.schemas import Out

ScopeEntry = Annotated[str, Field(pattern=SCOPE_ENTRY_PATTERN, max_length=70)]
Cameras = Annotated[
    list[ScopeEntry],
    Field(
        max_length=MAX_SCOPE_ENTRIES,
        description="`*` (every camera), camera names, `group:<group>`",
    ),
]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]
# A password being set: the length rule is the document's too (the others, not containing
# the name and not a common password, are the server's: a 422 naming the rule).
NewPassword = Annotated[str, Field(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)]
UserName = Annotated[str, Field(pattern=USER_NAME_PATTERN)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=256)
    password: Password


class UserCreate(_In):
    name: UserName = Field(description="not beginning with `vmsd-` (vmsd's own users)")
    role: Role
    password: Password = Field(
        description="at least 10 characters, not containing the name, not a common password"
    )
    cameras: Cameras | None = Field(
        default=None, description="default: `*` for an admin, none for a viewer or operator"
    )
    enabled: StrictBool = True


class UserPatch(_In):
    role: Role | None = None
    cameras: Cameras | None = None
    enabled: StrictBool | None = Field(default=None, description="false: its sessions end at once")


class PasswordIn(_In):
    password: NewPassword = Field(description="not containing the name, not a common password")
    old_password: Password | None = Field(
        default=None, description="required when a user changes its own (not as an admin)"
    )


class UserOut(Out):
    id: int
    name: str
    role: Role
    cameras: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None


class SessionOut(Out):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client_ip: str
    user_agent: str
    current: bool = Field(description="the session this request came with")


class SessionsEndedOut(Out):
    ended: int = Field(description="how many live sessions ended")


class MeOut(Out):
    kind: PrincipalKind
    id: int
    name: str
    role: Role
    cameras: list[str]
    session_id: int | None


class UserPath(Params):
    name: UserName


class UserSessionPath(Params):
    name: UserName
    id: Id
