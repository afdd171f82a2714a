"""/api/v1/users over real HTTP: CRUD, scopes an admin may grant, password changes."""

from __future__ import annotations

import asyncpg

from tests.accounts import PASSWORD, login, make_user, same_origin, session_cookie
from tests.conftest import Api
from vmsd.access.roles import Role

NEW_PASSWORD = "another long passphrase"


async def test_user_crud(api: Api, db_pool: asyncpg.Pool) -> None:
    url, admin = f"{api.url}/api/v1/users", api.headers("admin")
    created = await api.session.post(
        url, json={"name": "alice", "role": "viewer", "password": PASSWORD}, headers=admin
    )
    assert created.status == 201
    user = await created.json()
    assert user["cameras"] == [] and user["enabled"] is True and user["last_login_at"] is None
    assert "password" not in str(user).replace("password_changed_at", "")
    taken = await api.session.post(
        url, json={"name": "alice", "role": "admin", "password": PASSWORD}, headers=admin
    )
    assert taken.status == 409
    boss = await api.session.post(
        url, json={"name": "boss", "role": "admin", "password": PASSWORD}, headers=admin
    )
    assert (await boss.json())["cameras"] == ["*"]  # an admin's default

    assert [u["name"] for u in await (await api.session.get(url, headers=admin)).json()] == [
        "alice",
        "boss",
    ]
    patched = await api.session.patch(
        f"{url}/alice",
        json={"role": "operator", "cameras": ["gate-1", "group:yard"]},
        headers=admin,
    )
    assert patched.status == 200
    body = await patched.json()
    assert body["role"] == "operator" and body["cameras"] == ["gate-1", "group:yard"]
    assert (await (await api.session.get(f"{url}/alice", headers=admin)).json()) == body
    for missing in ("nobody", "vmsd-internal", "Not%20A%20Name"):
        assert (await api.session.get(f"{url}/{missing}", headers=admin)).status == 404
        assert (await api.session.delete(f"{url}/{missing}", headers=admin)).status == 404
    deleted = await api.session.delete(f"{url}/alice", headers=admin)
    assert deleted.status == 200
    assert (await api.session.get(f"{url}/alice", headers=admin)).status == 404
    assert await db_pool.fetchval("SELECT count(*) FROM users") == 1


async def test_bad_input_is_a_clear_422(api: Api) -> None:
    url, admin = f"{api.url}/api/v1/users", api.headers("admin")
    cases = [
        ({"name": "vmsd-reader-x", "role": "viewer", "password": PASSWORD}, "name"),
        ({"name": "Alice", "role": "viewer", "password": PASSWORD}, "name"),
        ({"name": "alice", "role": "root", "password": PASSWORD}, "role"),
        ({"name": "alice", "role": "viewer", "password": "short"}, "password"),
        ({"name": "alice", "role": "viewer", "password": "alice and more"}, "password"),
        ({"name": "alice", "role": "viewer", "password": "qwertyuiop"}, "password"),
        ({"name": "alice", "role": "viewer", "password": PASSWORD, "cameras": ["Gate"]}, "cameras"),
        ({"name": "alice", "role": "viewer", "password": PASSWORD, "extra": 1}, "extra"),
    ]
    for payload, field in cases:
        response = await api.session.post(url, json=payload, headers=admin)
        assert response.status == 422, payload
        details = (await response.json())["error"]["details"]
        assert any(d["field"] and d["field"].startswith(field) for d in details), details


async def test_only_admins_manage_users(api: Api) -> None:
    url = f"{api.url}/api/v1/users"
    for who, status in (("none", 401), ("viewer", 403), ("operator", 403)):
        assert (await api.session.get(url, headers=api.headers(who))).status == status


async def test_a_scoped_admin_grants_only_what_it_holds(api: Api) -> None:
    await make_user(api, "lead", Role.ADMIN, cameras=["gate-1", "group:yard"])
    await make_user(api, "root", Role.ADMIN)  # every camera
    cookie = {**(await session_cookie(api, "lead")), **same_origin(api)}
    url = f"{api.url}/api/v1/users"

    async def create(name: str, cameras: list[str]) -> int:
        payload = {"name": name, "role": "viewer", "password": PASSWORD, "cameras": cameras}
        return (await api.session.post(url, json=payload, headers=cookie)).status

    assert await create("guard", ["gate-1"]) == 201
    assert await create("guard2", ["group:yard", "gate-1"]) == 201
    assert await create("nosy", ["office"]) == 403
    assert await create("greedy", ["*"]) == 403
    assert await create("groupie", ["group:office"]) == 403
    # Nor may it take over a user holding more than it does.
    takeover = await api.session.post(
        f"{url}/root/password", json={"password": NEW_PASSWORD}, headers=cookie
    )
    assert takeover.status == 403
    assert (await api.session.delete(f"{url}/root", headers=cookie)).status == 403
    widen = await api.session.patch(f"{url}/guard", json={"cameras": ["*"]}, headers=cookie)
    assert widen.status == 403


async def test_password_changes(api: Api) -> None:
    await make_user(api)
    await make_user(api, "bob")
    alice = {**(await session_cookie(api)), **same_origin(api)}
    url = f"{api.url}/api/v1/users"

    no_old = await api.session.post(
        f"{url}/alice/password", json={"password": NEW_PASSWORD}, headers=alice
    )
    assert no_old.status == 422
    wrong_old = await api.session.post(
        f"{url}/alice/password",
        json={"password": NEW_PASSWORD, "old_password": "not it at all"},
        headers=alice,
    )
    assert wrong_old.status == 403
    not_mine = await api.session.post(
        f"{url}/bob/password",
        json={"password": NEW_PASSWORD, "old_password": PASSWORD},
        headers=alice,
    )
    assert not_mine.status == 403
    weak = await api.session.post(
        f"{url}/alice/password", json={"password": "short", "old_password": PASSWORD}, headers=alice
    )
    assert weak.status == 422
    changed = await api.session.post(
        f"{url}/alice/password",
        json={"password": NEW_PASSWORD, "old_password": PASSWORD},
        headers=alice,
    )
    assert changed.status == 200
    # Every session of hers ended, the old password is gone, the new one works.
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=alice)).status == 401
    assert (await login(api, "alice", PASSWORD)).status == 401
    assert (await login(api, "alice", NEW_PASSWORD)).status == 200
    # An admin needs no old password; a non-admin token may not.
    by_admin = await api.session.post(
        f"{url}/bob/password", json={"password": NEW_PASSWORD}, headers=api.headers("admin")
    )
    assert by_admin.status == 200
    by_token = await api.session.post(
        f"{url}/bob/password", json={"password": PASSWORD}, headers=api.headers("operator")
    )
    assert by_token.status == 403
    assert (await login(api, "bob", NEW_PASSWORD)).status == 200


async def test_the_last_full_admin_cannot_be_taken_away(api: Api) -> None:
    url, admin = f"{api.url}/api/v1/users", api.headers("admin")
    await make_user(api, "root", Role.ADMIN)  # cameras `*`
    await make_user(api, "lead", Role.ADMIN, cameras=["gate-1"])  # scoped: does not count
    for change in ({"enabled": False}, {"role": "operator"}, {"cameras": ["gate-1"]}):
        refused = await api.session.patch(f"{url}/root", json=change, headers=admin)
        assert refused.status == 409, change
        error = (await refused.json())["error"]
        assert error["code"] == "last_admin" and "root" in error["message"], error
    refused = await api.session.delete(f"{url}/root", headers=admin)
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "last_admin"
    # Nothing changed, and the admin still signs in.
    root = await (await api.session.get(f"{url}/root", headers=admin)).json()
    assert root["enabled"] and root["role"] == "admin" and root["cameras"] == ["*"]
    assert (await login(api, "root")).status == 200
    # Changes that leave it an admin with every camera are fine.
    same = await api.session.patch(f"{url}/root", json={"enabled": True}, headers=admin)
    assert same.status == 200

    # With a second one, either may go; then the other is the last again.
    await make_user(api, "boss", Role.ADMIN)
    assert (await api.session.patch(f"{url}/root", json={"enabled": False}, headers=admin)).ok
    assert (await api.session.delete(f"{url}/boss", headers=admin)).status == 409
    assert (await api.session.patch(f"{url}/root", json={"enabled": True}, headers=admin)).ok
    assert (await api.session.delete(f"{url}/boss", headers=admin)).status == 200
    # Other users stay free to change, the scoped admin included.
    assert (await api.session.delete(f"{url}/lead", headers=admin)).status == 200


async def test_an_admin_may_not_lock_itself_out_either(api: Api) -> None:
    await make_user(api, "root", Role.ADMIN)
    root = {**(await session_cookie(api, "root")), **same_origin(api)}
    url = f"{api.url}/api/v1/users/root"
    refused = await api.session.patch(url, json={"enabled": False}, headers=root)
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "last_admin"
    assert (await api.session.get(f"{api.url}/api/v1/auth/me", headers=root)).status == 200
