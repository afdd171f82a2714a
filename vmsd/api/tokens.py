"""/api/v1/tokens: API tokens (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from vmsd.access.roles import Role
from vmsd.access.scope import MAX_SCOPE_ENTRIES, SCOPE_ENTRY_PATTERN
from vmsd.access.tokens import parse_scope
from vmsd.api.audit_note import audit_note
from vmsd.api.body import read_json
from vmsd.api.middleware import PRINCIPAL
from vmsd.api.query import IdPath, Params, QueryBool, read_params
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import services
from vmsd.core.names import LABEL_MAX, LABEL_PATTERN
from vmsd.store.tokens import ApiToken

ScopeEntry = Annotated[str, Field(pattern=SCOPE_ENTRY_PATTERN)]
# A camera scope as a request gives it: `*`, camera names, `group:<name>` (vmsd.access.scope).
ScopeEntries = Annotated[
    list[ScopeEntry],
    Field(min_length=1, max_length=MAX_SCOPE_ENTRIES),
]


class TokenOut(Out):
    id: int
    name: str
    role: Role
    cameras: list[str] = Field(description="its camera scope: '*', names, 'group:<name>'")
    created_at: datetime
    revoked_at: datetime | None


class CreatedTokenOut(TokenOut):
    token: str = Field(description="the secret: in this response only, stored as a hash")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=LABEL_MAX, pattern=LABEL_PATTERN)
    role: Role
    cameras: ScopeEntries = Field(
        default=["*"],
        description="the cameras it opens: '*' (every camera), names, 'group:<name>'; within "
        "the caller's own scope",
    )


class TokensQuery(Params):
    include_revoked: QueryBool = Field(default=False, description="true: list revoked tokens too")


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        role=Role(token.role),
        cameras=list(token.cameras),
        created_at=token.created_at,
        revoked_at=token.revoked_at,
    )


async def list_tokens(request: web.Request) -> web.Response:
    q = read_params(TokensQuery, request.query)
    tokens = await services(request).tokens.list(q.include_revoked, actor=request[PRINCIPAL])
    return body([token_out(t) for t in tokens])


async def create_token(request: web.Request) -> web.Response:
    req = await read_json(request, TokenCreate)
    note = audit_note(request)
    note.details.update(name=req.name, role=req.role.value, cameras=req.cameras)
    scope = parse_scope(req.cameras)
    token, secret = await services(request).tokens.create(
        req.name, req.role, scope, grantor=request[PRINCIPAL]
    )
    note.target = f"token:{token.id}"
    # The secret is in this response only; it is stored as a hash.
    created = CreatedTokenOut(**token_out(token).model_dump(), token=secret)
    return body(created, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    token_id = read_params(IdPath, request.match_info).id
    token = await services(request).tokens.revoke(token_id, actor=request[PRINCIPAL])
    return body(token_out(token))


ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/tokens",
        list_tokens,
        "List API tokens (never their secrets): those whose cameras the caller's scope covers",
        role=Role.ADMIN,
        tag="tokens",
        query=TokensQuery,
        responses={200: Reply("the tokens", TokenOut, many=True)},
    ),
    ApiRoute(
        "POST",
        "/api/v1/tokens",
        create_token,
        "Create a token; the secret is returned once, in this response",
        role=Role.ADMIN,
        action="token.create",
        tag="tokens",
        request_model=TokenCreate,
        responses={
            201: Reply("created", CreatedTokenOut),
            403: Reply("cameras outside the caller's own scope"),
            409: Reply("an active token has that name"),
        },
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/tokens/{id}",
        revoke_token,
        "Revoke a token (it stops working at once)",
        role=Role.ADMIN,
        action="token.revoke",
        tag="tokens",
        path_params=IdPath,
        responses={
            200: Reply("revoked", TokenOut),
            404: Reply("no such token, or one whose cameras the caller's scope does not cover"),
        },
    ),
]
