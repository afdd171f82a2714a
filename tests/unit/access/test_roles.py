from __future__ import annotations

from vmsd.access.roles import Role, generate_token, hash_token, looks_like_token


def test_tokens_are_random_and_hashed() -> None:
    a, b = generate_token(), generate_token()
    assert a != b
    assert looks_like_token(a)
    assert len(a) == len("vmsd_") + 43  # 32 bytes, URL-safe base64 without padding
    assert hash_token(a) != hash_token(b)
    assert len(hash_token(a)) == 32
    assert a.encode() not in hash_token(a)


def test_role_order() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert Role.VIEWER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)
