"""Everything about people the HTTP layer calls, as one collaborator: the users, their
sessions and logins."""

from __future__ import annotations

from dataclasses import dataclass

from vmsd.access.login import LoginService
from vmsd.access.principal import Principal
from vmsd.access.sessions import SessionService
from vmsd.access.users import UserRegistry, UserService


@dataclass(frozen=True, slots=True)
class Accounts:
    registry: UserRegistry
    users: UserService
    sessions: SessionService
    logins: LoginService

    async def session_principal(self, cookie: str) -> Principal | None:
        """The user behind a session cookie, while the session is live and the user enabled
        (role and cameras as they are now, not as they were at the login)."""
        session = await self.sessions.resolve(cookie)
        if session is None:
            return None
        entry = self.registry.by_id(session.user_id)
        if entry is None or not entry.enabled:
            return None
        return entry.principal(session_id=session.id)
