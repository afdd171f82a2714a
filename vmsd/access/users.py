"""User accounts as a service (create, change, delete, passwords) and the in-memory registry
that authenticates sessions and MediaMTX's user:password requests without a query or an
argon2 run per request."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import asyncpg

from vmsd.access.metrics import AccessMetrics
from vmsd.access.passwords import Passwords, check_password
from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, NO_CAMERA, CameraScope
from vmsd.access.verdicts import Verdict, VerdictCache
from vmsd.core.backoff import Backoff
from vmsd.core.errors import ForbiddenError, NotFoundError, ValidationError
from vmsd.store.listen import listen_forever
from vmsd.store.users import USERS_CHANNEL, UserRecord, UserStore

USER_NAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,63}$"
# vmsd's own MediaMTX users are vmsd-internal, vmsd-synthetic, vmsd-reader-* and vmsd-live-*.
RESERVED_USER_PREFIX = "vmsd-"
_USER_NAME = re.compile(USER_NAME_PATTERN)


def is_user_name(name: str) -> bool:
    return _USER_NAME.fullmatch(name) is not None and not name.startswith(RESERVED_USER_PREFIX)


def check_user_name(name: str) -> None:
    if not is_user_name(name):
        message = (
            f"must match {USER_NAME_PATTERN} (lower case letters, digits, '.', '_', '@', '-') "
            f"and not begin with {RESERVED_USER_PREFIX!r}"
        )
        raise ValidationError("invalid user name", [{"field": "name", "message": message}])


def parse_cameras(entries: Iterable[str]) -> CameraScope:
    try:
        return CameraScope.parse(entries)
    except ValueError as err:
        raise ValidationError(
            "invalid camera scope", [{"field": "cameras", "message": str(err)}]
        ) from err


def default_scope(role: Role) -> CameraScope:
    """Admins see every camera unless told otherwise; viewers and operators none."""
    return EVERY_CAMERA if role is Role.ADMIN else NO_CAMERA


@dataclass(frozen=True, slots=True)
class UserEntry:
    id: int
    name: str
    role: Role
    scope: CameraScope
    enabled: bool
    password_hash: str

    def principal(self, session_id: int | None = None) -> Principal:
        return Principal(PrincipalKind.USER, self.id, self.name, self.role, self.scope, session_id)


def _entry(user: UserRecord) -> UserEntry:
    try:
        scope = CameraScope.parse(user.cameras)
    except ValueError:  # a row written by hand: it opens nothing rather than fail the load
        scope = NO_CAMERA
    return UserEntry(user.id, user.name, Role(user.role), scope, user.enabled, user.password_hash)


class UserRegistry:
    """Every user in memory, reloaded when the users table changes (NOTIFY from any box or
    CLI command); each reload drops every kept MediaMTX verdict."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: UserStore,
        passwords: Passwords,
        verdicts: VerdictCache,
        metrics: AccessMetrics | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._store = store
        self.passwords = passwords
        self._verdicts = verdicts
        self._metrics = metrics
        self._backoff = backoff
        self._sleep = sleep
        self._by_name: dict[str, UserEntry] = {}
        self._by_id: dict[int, UserEntry] = {}
        self._checking: dict[bytes, asyncio.Lock] = {}  # credentials argon2 is checking now
        self.loaded = asyncio.Event()

    def by_name(self, name: str) -> UserEntry | None:
        return self._by_name.get(name)

    def by_id(self, user_id: int) -> UserEntry | None:
        return self._by_id.get(user_id)

    def principal_by_id(self, user_id: int) -> Principal | None:
        """An enabled user's principal, as it is now: what a signed link it made may still
        open (vmsd.access.creators)."""
        entry = self._enabled(user_id)
        return entry.principal() if entry is not None else None

    def _enabled(self, user_id: int | None) -> UserEntry | None:
        entry = self._by_id.get(user_id) if user_id is not None else None
        return entry if entry is not None and entry.enabled else None

    def cached_principal(self, name: str, password: str) -> Principal | None:
        """Memory only (the MediaMTX hot path): the user, if a recent argon2 check of exactly
        this credential succeeded and the user is still there and enabled."""
        verdict = self._verdicts.get(self._verdicts.key(name, password))
        entry = self._enabled(verdict.user_id) if verdict is not None else None
        return entry.principal() if entry is not None else None

    def has_verdict(self, name: str, password: str) -> bool:
        return self._verdicts.get(self._verdicts.key(name, password)) is not None

    async def verify(self, name: str, password: str) -> Principal | None:
        """The kept verdict, else argon2 (in a thread) and the verdict kept, right or wrong,
        for auth.verdict_cache seconds. Concurrent requests with one new credential (a
        player opening several connections) wait for one argon2, not one each."""
        key = self._verdicts.key(name, password)
        verdict = self._verdicts.get(key)
        if verdict is not None:
            self._count("cache")
        else:
            lock = self._checking.setdefault(key, asyncio.Lock())
            try:
                async with lock:
                    verdict = self._verdicts.get(key) or await self._check(key, name, password)
            finally:
                if not lock.locked():
                    self._checking.pop(key, None)
        found = self._enabled(verdict.user_id)
        return found.principal() if found is not None else None

    async def _check(self, key: bytes, name: str, password: str) -> Verdict:
        generation = self._verdicts.generation
        entry = self._by_name.get(name)
        if entry is None or not entry.enabled:
            ok = await self.passwords.verify_unknown_in_thread(password)
        else:
            ok = await self.passwords.verify_in_thread(entry.password_hash, password)
        verdict = Verdict(entry.id if ok and entry is not None else None)
        self._verdicts.put(key, verdict, generation)
        self._count("argon2")
        return verdict

    def _count(self, source: str) -> None:
        if self._metrics is not None:
            self._metrics.verdicts.labels(source=source).inc()

    async def refresh(self) -> None:
        users = await self._store.list_users()
        entries = [_entry(u) for u in users]
        self._by_name = {e.name: e for e in entries}
        self._by_id = {e.id: e for e in entries}
        self._verdicts.clear()
        self.loaded.set()

    async def run(self) -> None:
        """Follow changes forever."""
        await listen_forever(
            self._pool, USERS_CHANNEL, self.refresh, backoff=self._backoff, sleep=self._sleep
        )


class UserService:
    """`actor`: the scope of whoever acts (the API's principal; the CLI acts with `*`). An
    admin may grant only cameras its own scope covers, and may change, delete or set the
    password of only a user whose cameras it covers (else a scoped admin could take over an
    unscoped one).

    An update or delete that would leave no enabled admin with every camera is refused
    (vmsd.store.users.LastAdminError, 409 `last_admin`): only `force` (the CLI's `--force`,
    run on the box, where `vmsd user create --role admin` always works) skips it. Admin
    tokens do not count: they are scripts' credentials, and cannot sign in to the console's
    admin pages."""

    def __init__(
        self, store: UserStore, passwords: Passwords, registry: UserRegistry | None = None
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._registry = registry

    async def _changed(self) -> None:
        if self._registry is not None:
            await self._registry.refresh()  # in force at once, before the NOTIFY round trip

    async def create(
        self,
        actor: CameraScope,
        name: str,
        role: Role,
        password: str,
        cameras: list[str] | None = None,
        enabled: bool = True,
    ) -> UserRecord:
        check_user_name(name)
        scope = parse_cameras(cameras) if cameras is not None else default_scope(role)
        _check_grant(actor, scope)
        check_password(password, name)
        password_hash = await self._passwords.hash_in_thread(password)
        user = await self._store.create(name, role.value, scope.entries(), password_hash, enabled)
        await self._changed()
        return user

    async def list_users(self) -> list[UserRecord]:
        return await self._store.list_users()

    async def get(self, name: str) -> UserRecord:
        if not is_user_name(name):
            raise NotFoundError(f"no user named {name[:64]!r}")
        return await self._store.get(name)

    async def update(
        self,
        actor: CameraScope,
        name: str,
        *,
        role: Role | None = None,
        cameras: list[str] | None = None,
        enabled: bool | None = None,
        force: bool = False,
    ) -> UserRecord:
        await self._target(actor, name)
        entries = None
        if cameras is not None:
            scope = parse_cameras(cameras)
            _check_grant(actor, scope)
            entries = scope.entries()
        user = await self._store.update(
            name,
            role=role.value if role else None,
            cameras=entries,
            enabled=enabled,
            keep_admin=not force,
        )
        await self._changed()
        return user

    async def delete(self, actor: CameraScope, name: str, force: bool = False) -> UserRecord:
        await self._target(actor, name)
        user = await self._store.delete(name, keep_admin=not force)
        await self._changed()
        return user

    async def set_password(self, actor: CameraScope, name: str, password: str) -> UserRecord:
        """A new password; every session of the user ends."""
        await self._target(actor, name)
        check_password(password, name)
        password_hash = await self._passwords.hash_in_thread(password)
        user = await self._store.set_password_hash(name, password_hash)
        await self._changed()
        return user

    async def change_own_password(self, name: str, old_password: str, password: str) -> UserRecord:
        """A user's own change: the old password must be right (403 otherwise)."""
        user = await self.get(name)
        if not await self._passwords.verify_in_thread(user.password_hash, old_password):
            raise ForbiddenError("the old password is wrong")
        return await self.set_password(EVERY_CAMERA, name, password)

    async def _target(self, actor: CameraScope, name: str) -> UserRecord:
        user = await self.get(name)
        if not actor.covers(parse_cameras(user.cameras)):
            raise ForbiddenError(
                f"user {name!r} holds cameras outside your own scope; an admin whose scope "
                "covers them must do this"
            )
        return user


def _check_grant(actor: CameraScope, scope: CameraScope) -> None:
    if not actor.covers(scope):
        raise ForbiddenError(
            f"you may grant only cameras your own scope covers ({actor.entries() or 'none'})"
        )
