"""User accounts over the API for tests: a user made directly, a login, its cookie."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import Api
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA

PASSWORD = "correct horse battery"


async def make_user(api: Api, name: str = "alice", role: Role = Role.VIEWER, **kw: Any) -> None:
    await api.accounts.users.create(EVERY_CAMERA, name, role, PASSWORD, **kw)


async def login(
    api: Api, name: str = "alice", password: str = PASSWORD, **headers: str
) -> aiohttp.ClientResponse:
    return await api.session.post(
        f"{api.url}/api/v1/auth/login",
        json={"username": name, "password": password},
        headers=headers,
    )


async def session_cookie(api: Api, name: str = "alice") -> dict[str, str]:
    response = await login(api, name)
    assert response.status == 200, await response.text()
    return {"Cookie": f"vmsd_session={response.cookies['vmsd_session'].value}"}


def same_origin(api: Api) -> dict[str, str]:
    return {"Origin": api.url}
