"""Passwords: argon2id hashing (argon2-cffi's reference implementation, PHC strings with the
parameters inside, so a change of `auth.password_hash` shows as `needs_rehash`) and the rules
a new password must meet. Pure but for argon2's CPU time: callers on the event loop run
the `*_in_thread` forms."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vmsd.config.access import PasswordHashConfig
from vmsd.core.errors import ValidationError

MIN_PASSWORD_CHARS = 10
# argon2 takes any length, but a megabyte "password" is a cheap way to make a login expensive.
MAX_PASSWORD_CHARS = 1024
# argon2 runs at most this many at once (each uses `parallelism` threads and `memory_kib`):
# a burst of logins or of MediaMTX credentials queues rather than starving the box.
ARGON2_AT_ONCE = 2
T = TypeVar("T")

# Passwords of at least MIN_PASSWORD_CHARS characters that lead the public breach lists
# (SecLists' most common, NCSC's top 100k) and that the length rule would let through.
COMMON_PASSWORDS = frozenset(
    [
        "1234567890",
        "0123456789",
        "12345678910",
        "1234567891",
        "0987654321",
        "9876543210",
        "1111111111",
        "0000000000",
        "1122334455",
        "1234512345",
        "1234554321",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "q1w2e3r4t5",
        "q1w2e3r4t5y6",
        "qwertyuiop",
        "qwertyuiop123",
        "qwerty1234",
        "qwerty12345",
        "qwerty123456",
        "qwertyqwerty",
        "asdfghjkl1",
        "asdfghjkl;",
        "zxcvbnm123",
        "zaq12wsxcde",
        "1qazxsw23edc",
        "!qaz2wsx#edc",
        "password12",
        "password123",
        "password1234",
        "password12345",
        "password123!",
        "passw0rd123",
        "p@ssw0rd123",
        "p@ssword123",
        "password01",
        "mypassword",
        "mypassword1",
        "mypassword123",
        "iloveyou12",
        "iloveyou123",
        "iloveyou1234",
        "football123",
        "baseball123",
        "basketball",
        "basketball1",
        "superman123",
        "batman1234",
        "princess12",
        "princess123",
        "sunshine12",
        "sunshine123",
        "welcome123",
        "welcome1234",
        "welcome2024",
        "welcome2025",
        "welcome2026",
        "letmein123",
        "letmein1234",
        "trustno1234",
        "monkey1234",
        "dragon1234",
        "master1234",
        "shadow1234",
        "michael123",
        "jennifer123",
        "jordan2323",
        "administrator",
        "admin12345",
        "admin123456",
        "adminadmin",
        "administrator1",
        "root123456",
        "changeme123",
        "changeme1234",
        "default123",
        "secret1234",
        "secret12345",
        "computer123",
        "internet123",
        "whatever123",
        "starwars123",
        "pokemon123",
        "minecraft123",
        "liverpool1",
        "chelsea123",
        "arsenal123",
        "charlie123",
        "abcdefghij",
        "abcd123456",
        "abc1234567",
        "abcdef1234",
        "aaaaaaaaaa",
        "a123456789",
        "qazwsxedc1",
        "qazwsxedcrfv",
        "1234qwerasdf",
        "qwerasdfzxcv",
        "summer2024",
        "summer2025",
        "winter2024",
        "winter2025",
        "spring2025",
        "autumn2025",
        "password2024",
        "password2025",
        "password2026",
        "camera12345",
        "security123",
        "hikvision123",
        "dahua12345",
        "admin123admin",
    ]
)


def build_hasher(config: PasswordHashConfig) -> PasswordHasher:
    return PasswordHasher(
        time_cost=config.time_cost,
        memory_cost=config.memory_kib,
        parallelism=config.parallelism,
        type=Type.ID,
    )


class Passwords:
    """Hash and verify with the configured argon2id cost. `verify_unknown` spends the same
    time on a name no user has, so a login's cost does not say whether the user exists."""

    def __init__(self, config: PasswordHashConfig) -> None:
        self._hasher = build_hasher(config)
        # A hash of a random secret nobody knows, made with the same parameters.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(32))
        self._slots = asyncio.Semaphore(ARGON2_AT_ONCE)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_unknown(self, password: str) -> bool:
        """Always False, at the cost of a real verification."""
        self.verify(self._dummy, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def _in_thread(self, call: Callable[..., T], *args: str) -> T:
        async with self._slots:
            return await asyncio.to_thread(call, *args)

    async def hash_in_thread(self, password: str) -> str:
        return await self._in_thread(self.hash, password)

    async def verify_in_thread(self, password_hash: str, password: str) -> bool:
        return await self._in_thread(self.verify, password_hash, password)

    async def verify_unknown_in_thread(self, password: str) -> bool:
        return await self._in_thread(self.verify_unknown, password)


def password_problems(password: str, user_name: str) -> list[str]:
    """What is wrong with `password` as `user_name`'s new password (empty: nothing)."""
    if len(password) > MAX_PASSWORD_CHARS:
        return [f"must be at most {MAX_PASSWORD_CHARS} characters"]
    problems = []
    if len(password) < MIN_PASSWORD_CHARS:
        problems.append(f"must be at least {MIN_PASSWORD_CHARS} characters")
    if "\x00" in password:
        problems.append("must not contain a NUL character")
    folded = password.casefold()
    name = user_name.casefold()
    if name and name in folded:
        problems.append("must not contain the user name")
    if folded in COMMON_PASSWORDS:
        problems.append("is one of the most common passwords; choose another")
    return problems


def check_password(password: str, user_name: str) -> None:
    """ValidationError (field `password`, one detail per problem) unless the rules hold."""
    problems = password_problems(password, user_name)
    if problems:
        raise ValidationError(
            "the password does not meet the rules",
            [{"field": "password", "message": p} for p in problems],
        )
