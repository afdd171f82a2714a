"""Password rules and argon2id hashing (with the cheapest parameters: the rules and the PHC
round trip do not depend on the cost)."""

from __future__ import annotations

import pytest

from vmsd.access.passwords import (
    COMMON_PASSWORDS,
    MAX_PASSWORD_CHARS,
    Passwords,
    check_password,
    password_problems,
)
from vmsd.config.access import PasswordHashConfig
from vmsd.core.errors import ValidationError

CHEAP = PasswordHashConfig(time_cost=1, memory_kib=8192, parallelism=1)


@pytest.mark.parametrize(
    ("password", "name", "problem"),
    [
        ("short1!", "alice", "at least 10 characters"),
        ("alice-rocks-2026", "alice", "must not contain the user name"),
        ("my ALICE password", "alice", "must not contain the user name"),
        ("qwertyuiop", "bob", "most common passwords"),
        ("Password123", "bob", "most common passwords"),
        ("x" * (MAX_PASSWORD_CHARS + 1), "bob", f"at most {MAX_PASSWORD_CHARS}"),
        ("correct\x00horse battery", "bob", "NUL"),
    ],
)
def test_a_bad_password_is_refused_with_a_reason(password: str, name: str, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        check_password(password, name)
    details = raised.value.details
    assert all(d["field"] == "password" for d in details)
    assert any(problem in d["message"] for d in details), details


def test_every_problem_is_named_at_once() -> None:
    assert len(password_problems("alice", "alice")) == 2  # too short, and the name


@pytest.mark.parametrize(
    ("password", "name"),
    [("correct horse battery", "alice"), ("x" * MAX_PASSWORD_CHARS, "bob"), ("ünïcødé-pass", "al")],
)
def test_a_good_password_passes(password: str, name: str) -> None:
    check_password(password, name)


def test_the_common_list_holds_only_what_the_length_rule_lets_through() -> None:
    assert len(COMMON_PASSWORDS) >= 100
    assert all(len(p) >= 10 and p == p.casefold() for p in COMMON_PASSWORDS)


def test_hash_is_argon2id_and_verifies_only_its_password() -> None:
    passwords = Passwords(CHEAP)
    stored = passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "correct horse batterY")
    assert not passwords.verify("not a hash", "correct horse battery")
    assert not passwords.verify_unknown("correct horse battery")


def test_a_hash_made_with_other_parameters_needs_rehash() -> None:
    old = Passwords(CHEAP)
    new = Passwords(PasswordHashConfig(time_cost=2, memory_kib=8192, parallelism=1))
    stored = old.hash("correct horse battery")
    assert not old.needs_rehash(stored)
    assert new.needs_rehash(stored)
    assert new.verify(stored, "correct horse battery")  # still verifies: PHC carries its cost
    assert new.needs_rehash("garbage")


async def test_the_thread_forms_agree() -> None:
    passwords = Passwords(CHEAP)
    stored = await passwords.hash_in_thread("correct horse battery")
    assert await passwords.verify_in_thread(stored, "correct horse battery")
    assert not await passwords.verify_unknown_in_thread("correct horse battery")
