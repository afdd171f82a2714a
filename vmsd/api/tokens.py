"""/api/v1/tokens: API tokens (admin)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from vmsd.access.roles import Role
from vmsd.api.body import bool_query, int_param, read_json
from vmsd.api.routes import ApiRoute
from vmsd.api.services import services
from vmsd.store.tokens import ApiToken


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    role: Role


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "created_at": token.created_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


async def list_tokens(request: web.Request) -> web.Response:
    include_revoked = bool_query(request, "include_revoked")
    tokens = await services(request).tokens.list(include_revoked)
    return web.json_response([token_json(t) for t in tokens])


async def create_token(request: web.Request) -> web.Response:
    body = await read_json(request, TokenCreate)
    token, secret = await services(request).tokens.create(body.name, body.role)
    # The secret is in this response only; it is stored as a hash.
    return web.json_response({**token_json(token), "token": secret}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    token = await services(request).tokens.revoke(int_param(request, "id"))
    return web.json_response(token_json(token))


ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/tokens",
        list_tokens,
        "List API tokens (never their secrets)",
        role=Role.ADMIN,
        tag="tokens",
        query={"include_revoked": "true to list revoked tokens"},
    ),
    ApiRoute(
        "POST",
        "/api/v1/tokens",
        create_token,
        "Create a token; the secret is returned once, in this response",
        role=Role.ADMIN,
        tag="tokens",
        request_model=TokenCreate,
        responses={201: "created", 409: "an active token has that name", 422: "invalid input"},
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/tokens/{id}",
        revoke_token,
        "Revoke a token (it stops working at once)",
        role=Role.ADMIN,
        tag="tokens",
        responses={200: "revoked", 404: "no such token"},
    ),
]
