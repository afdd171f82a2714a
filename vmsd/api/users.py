"""/api/v1/users: user accounts (admin), and a user's own password change."""

from __future__ import annotations

from aiohttp import web

from vmsd.access.principal import PrincipalKind
from vmsd.access.roles import Role
from vmsd.api.audit_note import audit_note
from vmsd.api.auth import principal_of, session_out, user_out
from vmsd.api.body import read_json
from vmsd.api.query import IdPath, read_params
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import body
from vmsd.api.services import services
from vmsd.api.user_schemas import (
    PasswordIn,
    SessionOut,
    SessionsEndedOut,
    UserCreate,
    UserOut,
    UserPatch,
    UserPath,
    UserSessionPath,
)
from vmsd.core.errors import ForbiddenError, ValidationError
from vmsd.store.users import UserRecord


def _name(request: web.Request) -> str:
    """A name no user can have is no user: 404 from the service, as for an unknown one."""
    return request.match_info["name"]


async def list_users(request: web.Request) -> web.Response:
    return body([user_out(u) for u in await services(request).accounts.users.list_users()])


async def create_user(request: web.Request) -> web.Response:
    req = await read_json(request, UserCreate)
    audit_note(request).target = f"user:{req.name}"  # the path does not name it
    user = await services(request).accounts.users.create(
        principal_of(request).scope,
        req.name,
        req.role,
        req.password,
        cameras=req.cameras,
        enabled=req.enabled,
    )
    return body(user_out(user), status=201)


async def get_user(request: web.Request) -> web.Response:
    return body(user_out(await services(request).accounts.users.get(_name(request))))


async def update_user(request: web.Request) -> web.Response:
    req = await read_json(request, UserPatch)
    user = await services(request).accounts.users.update(
        principal_of(request).scope,
        _name(request),
        role=req.role,
        cameras=req.cameras,
        enabled=req.enabled,
    )
    return body(user_out(user))


async def delete_user(request: web.Request) -> web.Response:
    user = await services(request).accounts.users.delete(
        principal_of(request).scope, _name(request)
    )
    return body(user_out(user))


async def set_password(request: web.Request) -> web.Response:
    """An admin sets anyone's it covers; a user changes its own with the old one. Who may is
    decided before the body is read: another user's password is a 403 whatever is sent."""
    name, principal = _name(request), principal_of(request)
    own = principal.kind is PrincipalKind.USER and principal.name == name
    if not (own or principal.role.allows(Role.ADMIN)):
        raise ForbiddenError("only an admin may set another user's password")
    req = await read_json(request, PasswordIn)
    users = services(request).accounts.users
    user: UserRecord
    if own and (req.old_password is not None or not principal.role.allows(Role.ADMIN)):
        if req.old_password is None:
            raise ValidationError(
                "changing your own password needs the old one",
                [{"field": "old_password", "message": "required"}],
            )
        user = await users.change_own_password(name, req.old_password, req.password)
    else:
        user = await users.set_password(principal.scope, name, req.password)
    return body(user_out(user))


async def _user_id(request: web.Request, name: str) -> int:
    svc = services(request).accounts.users
    return (await svc.get(name)).id


async def user_sessions(request: web.Request) -> web.Response:
    user_id = await _user_id(request, _name(request))
    sessions = await services(request).accounts.sessions.list_live(user_id)
    return body([session_out(s, principal_of(request).session_id) for s in sessions])


async def end_user_session(request: web.Request) -> web.Response:
    session_id = read_params(IdPath, request.match_info).id
    user_id = await _user_id(request, _name(request))
    session = await services(request).accounts.sessions.revoke(user_id, session_id)
    return body(session_out(session, principal_of(request).session_id))


async def end_user_sessions(request: web.Request) -> web.Response:
    user_id = await _user_id(request, _name(request))
    ended = await services(request).accounts.sessions.revoke_all(user_id)
    return body(SessionsEndedOut(ended=ended))


_NO_USER = Reply("no such user")
_OUT_OF_SCOPE = Reply("the user, or the cameras granted, are outside your own camera scope")
_LAST_ADMIN = Reply(
    "`last_admin`: the user is the last enabled admin with every camera, and the change would "
    "leave none (make another first; on the box, `vmsd user create --role admin`)"
)

ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/users",
        list_users,
        "List users (never their password hashes)",
        role=Role.ADMIN,
        tag="users",
        responses={200: Reply("the users", UserOut, many=True)},
    ),
    ApiRoute(
        "POST",
        "/api/v1/users",
        create_user,
        "Create a user",
        role=Role.ADMIN,
        action="user.create",
        tag="users",
        request_model=UserCreate,
        responses={
            201: Reply("created", UserOut),
            403: _OUT_OF_SCOPE,
            409: Reply("a user has that name"),
        },
    ),
    ApiRoute(
        "GET",
        "/api/v1/users/{name}",
        get_user,
        "One user",
        role=Role.ADMIN,
        tag="users",
        path_params=UserPath,
        responses={200: Reply("the user", UserOut), 404: _NO_USER},
    ),
    ApiRoute(
        "PATCH",
        "/api/v1/users/{name}",
        update_user,
        "Change a user's role, cameras or enabled; disabling ends its sessions; never the "
        "last enabled admin with every camera away",
        role=Role.ADMIN,
        action="user.update",
        tag="users",
        path_params=UserPath,
        request_model=UserPatch,
        responses={
            200: Reply("changed", UserOut),
            403: _OUT_OF_SCOPE,
            404: _NO_USER,
            409: _LAST_ADMIN,
        },
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/users/{name}",
        delete_user,
        "Delete a user and its sessions (not the last enabled admin with every camera)",
        role=Role.ADMIN,
        action="user.delete",
        tag="users",
        path_params=UserPath,
        responses={
            200: Reply("deleted", UserOut),
            403: _OUT_OF_SCOPE,
            404: _NO_USER,
            409: _LAST_ADMIN,
        },
    ),
    ApiRoute(
        "POST",
        "/api/v1/users/{name}/password",
        set_password,
        "Set a password (admin), or change your own with `old_password`; the user's sessions end",
        role=Role.VIEWER,
        action="user.password",
        tag="users",
        path_params=UserPath,
        request_model=PasswordIn,
        responses={
            200: Reply("changed", UserOut),
            403: Reply("not yours and not an admin, or the old password is wrong"),
            404: _NO_USER,
        },
    ),
    ApiRoute(
        "GET",
        "/api/v1/users/{name}/sessions",
        user_sessions,
        "A user's live sessions",
        role=Role.ADMIN,
        tag="users",
        path_params=UserPath,
        responses={200: Reply("the sessions", SessionOut, many=True), 404: _NO_USER},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/users/{name}/sessions",
        end_user_sessions,
        "End every session of a user (log it out everywhere)",
        role=Role.ADMIN,
        action="user.sessions_revoke",
        tag="users",
        path_params=UserPath,
        responses={200: Reply("ended", SessionsEndedOut), 404: _NO_USER},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/users/{name}/sessions/{id}",
        end_user_session,
        "End one of a user's sessions",
        role=Role.ADMIN,
        action="user.session_revoke",
        tag="users",
        path_params=UserSessionPath,
        responses={200: Reply("ended", SessionOut), 404: Reply("no such user or session")},
    ),
]
