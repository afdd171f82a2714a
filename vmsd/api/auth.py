"""/api/v1/auth: login, logout, who am I, my sessions."""

from __future__ import annotations

from aiohttp import web

from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.api.audit_note import audit_note
from vmsd.api.authn import SESSION_COOKIE, check_same_origin
from vmsd.api.body import read_json
from vmsd.api.middleware import PRINCIPAL
from vmsd.api.query import IdPath, read_params
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import body
from vmsd.api.services import services
from vmsd.api.user_schemas import LoginIn, MeOut, SessionOut, UserOut
from vmsd.core.errors import ConflictError
from vmsd.store.sessions import SessionRecord
from vmsd.store.users import UserRecord

_COOKIE_HEADER = (
    f"`{SESSION_COOKIE}=<value>; HttpOnly; SameSite=Strict; Path=/` (and `Secure` with TLS)"
)


def user_out(user: UserRecord) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        role=Role(user.role),
        cameras=list(user.cameras),
        enabled=user.enabled,
        created_at=user.created_at,
        updated_at=user.updated_at,
        password_changed_at=user.password_changed_at,
        last_login_at=user.last_login_at,
    )


def session_out(session: SessionRecord, current: int | None) -> SessionOut:
    return SessionOut(
        id=session.id,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expires_at,
        client_ip=session.client_ip,
        user_agent=session.user_agent,
        current=session.id == current,
    )


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def login(request: web.Request) -> web.Response:
    check_same_origin(request, required=False)  # login CSRF: a foreign page logging you in
    req = await read_json(request, LoginIn)
    note = audit_note(request)
    note.principal = note.target = f"user:{req.username[:64]}"
    svc = services(request)
    result = await svc.accounts.logins.login(
        req.username, req.password, request.remote or "", request.headers.get("User-Agent", "")
    )
    response = body(user_out(result.user))
    config = svc.config.current
    response.set_cookie(
        SESSION_COOKIE,
        result.cookie,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=config.server.tls.enabled,
        max_age=int(config.auth.sessions.lifetime),
    )
    return response


async def logout(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal.session_id is None:
        raise ConflictError("a bearer token has no session to end (revoke the token instead)")
    await services(request).accounts.sessions.revoke(principal.id, principal.session_id)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    p = principal_of(request)
    return body(
        MeOut(
            kind=p.kind,
            id=p.id,
            name=p.name,
            role=p.role,
            cameras=p.scope.entries(),
            session_id=p.session_id,
        )
    )


async def my_sessions(request: web.Request) -> web.Response:
    p = principal_of(request)
    if p.kind is not PrincipalKind.USER:
        return body([])  # a token has no sessions
    sessions = await services(request).accounts.sessions.list_live(p.id)
    return body([session_out(s, p.session_id) for s in sessions])


async def end_my_session(request: web.Request) -> web.Response:
    p = principal_of(request)
    session_id = read_params(IdPath, request.match_info).id
    if p.kind is not PrincipalKind.USER:
        raise ConflictError(
            "a bearer token has no sessions (an admin ends a user's at "
            "/api/v1/users/{name}/sessions/{id})"
        )
    session = await services(request).accounts.sessions.revoke(p.id, session_id)
    return body(session_out(session, p.session_id))


ROUTES = [
    ApiRoute(
        "POST",
        "/api/v1/auth/login",
        login,
        "Log in with a user name and password: a session cookie and the user",
        role=None,
        action="auth.login",
        tag="auth",
        request_model=LoginIn,
        responses={
            200: Reply("logged in", UserOut, headers={"Set-Cookie": _COOKIE_HEADER}),
            401: Reply("wrong user name or password (the same answer for an unknown user)"),
            403: Reply("a cross-origin Origin or Referer"),
            429: Reply(
                "too many failed logins for this user name or address",
                headers={"Retry-After": "seconds until a login may be tried again"},
            ),
        },
    ),
    ApiRoute(
        "POST",
        "/api/v1/auth/logout",
        logout,
        "End this request's session and clear its cookie",
        role=Role.VIEWER,
        action="auth.logout",
        tag="auth",
        responses={204: Reply("logged out"), 409: Reply("a bearer token has no session")},
    ),
    ApiRoute(
        "GET",
        "/api/v1/auth/me",
        me,
        "Who this request is: a user (by its session) or a token, its role and cameras",
        role=Role.VIEWER,
        tag="auth",
        responses={200: Reply("the principal", MeOut)},
    ),
    ApiRoute(
        "GET",
        "/api/v1/auth/sessions",
        my_sessions,
        "Your live sessions (a token has none)",
        role=Role.VIEWER,
        tag="auth",
        responses={200: Reply("the sessions", SessionOut, many=True)},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/auth/sessions/{id}",
        end_my_session,
        "End one of your sessions",
        role=Role.VIEWER,
        action="auth.session_revoke",
        tag="auth",
        path_params=IdPath,
        responses={
            200: Reply("ended", SessionOut),
            404: Reply("no such session of yours"),
            409: Reply("a bearer token has no sessions"),
        },
    ),
]
