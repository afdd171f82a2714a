"""POST /api/v1/auth/login's logic: the lockout first, then argon2 (a dummy one for a name no
user has), then a session. A wrong password, an unknown user and a disabled user get the same
answer at the same cost; a locked-out login gets the same 429 whether the user exists or not."""

from __future__ import annotations

from dataclasses import dataclass

from vmsd.access.login_throttle import LoginThrottle
from vmsd.access.metrics import AccessMetrics
from vmsd.access.sessions import SessionService
from vmsd.access.users import UserRegistry, is_user_name
from vmsd.core.errors import StoreError, TooManyRequestsError, UnauthorizedError
from vmsd.core.log import get_logger
from vmsd.events.bus import RecordEvent
from vmsd.store.db import DB_UNAVAILABLE, bounded
from vmsd.store.sessions import SessionRecord
from vmsd.store.users import UserRecord, UserStore

log = get_logger("vmsd.access.login")
BAD_LOGIN = "invalid user name or password"
LOCKED_OUT = "too many failed logins; try again later"


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: UserRecord
    cookie: str  # the session cookie's value: in the response only
    session: SessionRecord


class LoginService:
    def __init__(
        self,
        registry: UserRegistry,
        store: UserStore,
        sessions: SessionService,
        throttle: LoginThrottle,
        metrics: AccessMetrics,
        record: RecordEvent,
    ) -> None:
        self._registry = registry
        self._store = store
        self._sessions = sessions
        self._throttle = throttle
        self._metrics = metrics
        self._record = record

    async def login(self, name: str, password: str, ip: str, user_agent: str) -> LoginResult:
        """TooManyRequestsError while locked out, UnauthorizedError (BAD_LOGIN) for any
        wrong credential."""
        retry_after = self._throttle.retry_after(name, ip)
        if retry_after > 0:
            self._metrics.login_attempts.labels(result="locked_out").inc()
            raise TooManyRequestsError(LOCKED_OUT, retry_after)
        passwords = self._registry.passwords
        entry = self._registry.by_name(name) if is_user_name(name) else None
        if entry is None:
            ok = await passwords.verify_unknown_in_thread(password)
        else:
            ok = await passwords.verify_in_thread(entry.password_hash, password)
        if entry is None or not ok or not entry.enabled:
            await self._failed(name, ip, "disabled" if ok else "bad_credentials")
            raise UnauthorizedError(BAD_LOGIN)
        self._throttle.record_success(name)
        new_hash = None
        if passwords.needs_rehash(entry.password_hash):
            new_hash = await passwords.hash_in_thread(password)
        try:
            if new_hash is not None:
                await bounded(self._store.rehash(entry.id, entry.password_hash, new_hash))
                log.info("password_rehashed", user=name)
            user = await bounded(self._store.record_login(entry.id))
            cookie, session = await bounded(self._sessions.start(entry.id, ip, user_agent))
        except DB_UNAVAILABLE as err:
            raise StoreError("the database does not answer: no session can be made") from err
        self._metrics.login_attempts.labels(result="ok").inc()
        return LoginResult(user, cookie, session)

    async def _failed(self, name: str, ip: str, result: str) -> None:
        self._metrics.login_attempts.labels(result=result).inc()
        for by in self._throttle.record_failure(name, ip):
            self._metrics.login_lockouts.labels(by=by).inc()
            log.warning("login_locked_out", user=name[:64], ip=ip, by=by)
            await self._record("login_locked_out", user=name[:64], ip=ip, by=by)
