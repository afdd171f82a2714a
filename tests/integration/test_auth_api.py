"""Login, sessions, CSRF and lockout over real HTTP against the real database."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.accounts import PASSWORD, login, make_user, same_origin, session_cookie
from tests.conftest import Api
from vmsd.access.passwords import Passwords
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA
from vmsd.config.access import PasswordHashConfig
from vmsd.config.schema import Config


async def test_login_me_logout(api: Api, db_pool: asyncpg.Pool) -> None:
    await make_user(api, cameras=["gate-1", "group:yard"])
    response = await login(api)
    assert response.status == 200
    user = await response.json()
    assert user["name"] == "alice" and user["role"] == "viewer"
    assert user["cameras"] == ["gate-1", "group:yard"]
    assert user["last_login_at"] is not None
    assert not {"password", "password_hash"} & set(user)
    morsel = response.cookies["vmsd_session"]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert not morsel["secure"]  # TLS is off here
    assert len(morsel.value) >= 43  # 256 bits, URL-safe base64
    cookie = {"Cookie": f"vmsd_session={morsel.value}"}

    me = await api.session.get(f"{api.url}/api/v1/auth/me", headers=cookie)
    assert me.status == 200
    body = await me.json()
    assert body["kind"] == "user" and body["name"] == "alice" and body["session_id"]
    assert body["cameras"] == ["gate-1", "group:yard"]
    stored = await db_pool.fetchval("SELECT token_hash FROM sessions")
    assert morsel.value.encode() not in bytes(stored)

    sessions = await (
        await api.session.get(f"{api.url}/api/v1/auth/sessions", headers=cookie)
    ).json()
    assert [s["current"] for s in sessions] == [True]

    out = await api.session.post(
        f"{api.url}/api/v1/auth/logout", headers={**cookie, **same_origin(api)}
    )
    assert out.status == 204
    assert out.cookies["vmsd_session"].value == ""
    after = await api.session.get(f"{api.url}/api/v1/auth/me", headers=cookie)
    assert after.status == 401


async def test_a_bearer_token_is_a_token_and_has_no_session_to_end(api: Api) -> None:
    me = await (
        await api.session.get(f"{api.url}/api/v1/auth/me", headers=api.headers("viewer"))
    ).json()
    assert me == {
        "kind": "token",
        "id": me["id"],
        "name": "test-viewer",
        "role": "viewer",
        "cameras": ["*"],
        "session_id": None,
    }
    out = await api.session.post(f"{api.url}/api/v1/auth/logout", headers=api.headers("admin"))
    assert out.status == 409


async def test_wrong_password_and_unknown_user_get_the_same_answer(api: Api) -> None:
    await make_user(api)
    wrong = await login(api, "alice", "not the password")
    unknown = await login(api, "nobody", "not the password")
    invalid_name = await login(api, "No Such User!", "not the password")
    bodies = {await r.read() for r in (wrong, unknown, invalid_name)}
    assert {r.status for r in (wrong, unknown, invalid_name)} == {401}
    assert len(bodies) == 1, bodies
    assert "vmsd_session" not in wrong.cookies


async def test_a_disabled_user_cannot_log_in_and_loses_its_sessions(api: Api) -> None:
    await make_user(api)
    cookie = await session_cookie(api)
    await api.accounts.users.update(EVERY_CAMERA, "alice", enabled=False)
    me = await api.session.get(f"{api.url}/api/v1/auth/me", headers=cookie)
    assert me.status == 401
    again = await login(api)
    assert again.status == 401
    assert await again.read() == await (await login(api, "nobody")).read()


async def test_idle_sessions_and_old_sessions_end(api: Api, db_pool: asyncpg.Pool) -> None:
    await make_user(api)
    idle = await session_cookie(api)
    # Time passes: the session was last seen just past auth.sessions.idle_timeout (30 min).
    await db_pool.execute("UPDATE sessions SET last_seen_at = now() - interval '30 min 1 s'")
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=idle)).status == 401

    old = await session_cookie(api)
    await db_pool.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 s' WHERE revoked_at IS NULL "
        "AND last_seen_at > now() - interval '1 min'"
    )
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=old)).status == 401

    fresh = await session_cookie(api)
    await db_pool.execute("UPDATE sessions SET last_seen_at = now() - interval '29 min'")
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=fresh)).status == 200
    seen = await db_pool.fetchval(
        "SELECT max(last_seen_at) > now() - interval '1 min' FROM sessions"
    )
    assert seen  # the use was noted: idle time counts from it


async def test_sessions_are_listed_and_revoked_one_by_one(api: Api) -> None:
    await make_user(api)
    first, second = await session_cookie(api), await session_cookie(api)
    listed = await (await api.session.get(f"{api.url}/api/v1/auth/sessions", headers=first)).json()
    assert len(listed) == 2
    other = next(s["id"] for s in listed if not s["current"])
    ended = await api.session.delete(
        f"{api.url}/api/v1/auth/sessions/{other}", headers={**first, **same_origin(api)}
    )
    assert ended.status == 200
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=second)).status == 401
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=first)).status == 200
    # An admin ends a user's session.
    admin_view = await api.session.get(
        f"{api.url}/api/v1/users/alice/sessions", headers=api.headers("admin")
    )
    [remaining] = await admin_view.json()
    revoke = await api.session.delete(
        f"{api.url}/api/v1/users/alice/sessions/{remaining['id']}", headers=api.headers("admin")
    )
    assert revoke.status == 200
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=first)).status == 401
    # ...or all of them at once.
    everywhere = [await session_cookie(api) for _ in range(3)]
    ended = await api.session.delete(
        f"{api.url}/api/v1/users/alice/sessions", headers=api.headers("admin")
    )
    assert await ended.json() == {"ended": 3}
    for cookie in everywhere:
        assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=cookie)).status == 401
    # Another user's session id is not yours to end.
    await make_user(api, "bob")
    bob = await session_cookie(api, "bob")
    stranger = await api.session.delete(
        f"{api.url}/api/v1/auth/sessions/{remaining['id']}", headers={**bob, **same_origin(api)}
    )
    assert stranger.status == 404


async def test_csrf_a_cookie_change_needs_the_apis_own_origin(api: Api) -> None:
    await make_user(api, role=Role.ADMIN)
    cookie = await session_cookie(api)
    url = f"{api.url}/api/v1/users"
    new = {"name": "bob", "role": "viewer", "password": PASSWORD}
    refused = [
        {},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page"},
        {"Origin": api.url.replace("127.0.0.1", "localhost")},
        {"Origin": api.url.replace("http:", "https:")},
    ]
    for extra in refused:
        response = await api.session.post(url, json=new, headers={**cookie, **extra})
        assert response.status == 403, extra
        error = (await response.json())["error"]
        assert error["code"] == "forbidden" and "CSRF" in error["message"]
    assert (await api.session.get(f"{url}/bob", headers=api.headers("admin"))).status == 404
    # Reads need no Origin; a same-origin Referer will do without an Origin.
    assert (await api.session.get(url, headers=cookie)).status == 200
    ok = await api.session.post(url, json=new, headers={**cookie, "Referer": f"{api.url}/ui/users"})
    assert ok.status == 201
    # A bearer token is not checked: no cookie rides along with it.
    by_token = await api.session.post(
        url, json={**new, "name": "carol"}, headers=api.headers("admin")
    )
    assert by_token.status == 201


async def test_a_bearer_header_wins_over_a_cookie(api: Api) -> None:
    await make_user(api, role=Role.ADMIN)
    cookie = await session_cookie(api)
    me = await api.session.get(
        f"{api.url}/api/v1/auth/me", headers={**cookie, **api.headers("viewer")}
    )
    assert (await me.json())["kind"] == "token"


async def test_login_refuses_a_cross_origin_page(api: Api) -> None:
    await make_user(api)
    refused = await login(api, Origin="http://evil.example")
    assert refused.status == 403
    assert "vmsd_session" not in refused.cookies
    assert (await login(api, Origin=api.url)).status == 200
    assert (await login(api)).status == 200  # a script sends no Origin


async def test_lockout_answers_429_the_same_for_unknown_and_existing_users(
    api: Api, db_pool: asyncpg.Pool
) -> None:
    await make_user(api)
    limit = api.holder.current.auth.login.max_failures_per_user
    for name in ("alice", "ghost"):
        for _ in range(limit):
            assert (await login(api, name, "wrong password!")).status == 401
    locked = [await login(api, name, "wrong password!") for name in ("alice", "ghost")]
    right = await login(api, "alice", PASSWORD)  # refused before any password check
    for response in (*locked, right):
        assert response.status == 429
        assert int(response.headers["Retry-After"]) == 30
        assert (await response.json())["error"]["code"] == "too_many_requests"
    assert len({await r.read() for r in (*locked, right)}) == 1
    assert (await login(api, "bob", "wrong password!")).status == 401  # others are not locked
    events = await db_pool.fetch(
        "SELECT data FROM events WHERE type = 'login_locked_out' ORDER BY id"
    )
    assert len(events) == 2  # one per lockout, not one per refused attempt
    metrics = await (await api.session.get(f"{api.url}/metrics")).text()
    assert 'vmsd_login_attempts_total{result="locked_out"} 3.0' in metrics
    assert 'vmsd_login_lockouts_total{by="user"} 2.0' in metrics


async def test_login_rehashes_a_password_made_with_other_parameters(
    api: Api, db_pool: asyncpg.Pool
) -> None:
    await make_user(api)
    old = Passwords(PasswordHashConfig(time_cost=3, memory_kib=8192, parallelism=1))
    await db_pool.execute("UPDATE users SET password_hash = $1", old.hash(PASSWORD))
    await api.accounts.registry.refresh()
    assert (await login(api)).status == 200
    stored = await db_pool.fetchval("SELECT password_hash FROM users")
    assert "t=1" in stored and not api.accounts.registry.passwords.needs_rehash(stored)
    assert (await login(api)).status == 200


async def test_with_tls_on_the_cookie_is_secure_and_the_origin_https(
    api: Api, tmp_path: Path
) -> None:
    """The listener here is plain HTTP; what is checked is what vmsd derives from
    server.tls (a reload replaces the configuration as a whole, as here)."""
    await make_user(api)
    tls = {"cert_file": str(tmp_path / "cert.pem"), "key_file": str(tmp_path / "key.pem")}
    current = api.holder.current.model_dump(mode="json")
    api.holder.current = Config.model_validate(
        {**current, "server": {**current["server"], "tls": tls}}
    )
    https = api.url.replace("http:", "https:")
    assert (await login(api, Origin=api.url)).status == 403  # http: not this API's origin
    response = await login(api, Origin=https)
    assert response.status == 200
    morsel = response.cookies["vmsd_session"]
    assert morsel["secure"]
    cookie = {"Cookie": f"vmsd_session={morsel.value}"}
    out = await api.session.post(
        f"{api.url}/api/v1/auth/logout", headers={**cookie, "Origin": https}
    )
    assert out.status == 204
