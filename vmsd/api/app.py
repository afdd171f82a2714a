"""create_app(services): the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from vmsd.api import (
    audit,
    auth,
    cameras,
    console,
    events,
    exports,
    links,
    playback,
    recordings,
    system,
    tokens,
    users,
    whep,
)
from vmsd.api.audit_trail import audit_trail
from vmsd.api.middleware import (
    ROUTES,
    authorization,
    errors,
    request_context,
    strict_transport,
)
from vmsd.api.openapi import build_openapi
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.services import SERVICES, ApiServices, services


async def openapi_document(request: web.Request) -> web.Response:
    routes = list(request.app[ROUTES].values())
    open_endpoints = services(request).config.current.server.open_endpoints
    return web.json_response(build_openapi(routes, open_endpoints))


OPENAPI_ROUTE = ApiRoute(
    "GET",
    "/api/v1/openapi.json",
    openapi_document,
    "This document: every endpoint, its parameters and the role it needs",
    role=None,
    responses={200: Reply("OpenAPI 3.1", media_types=("application/json",))},
)


def all_routes() -> list[ApiRoute]:
    return [
        *system.ROUTES,
        *tokens.ROUTES,
        *auth.ROUTES,
        *users.ROUTES,
        *cameras.ROUTES,
        *recordings.ROUTES,
        *playback.ROUTES,
        *exports.ROUTES,
        *events.ROUTES,
        *audit.ROUTES,
        *links.ROUTES,
        *whep.ROUTES,
        OPENAPI_ROUTE,
        *console.ROUTES,
    ]


def create_app(svc: ApiServices) -> web.Application:
    app = web.Application(
        # audit_trail between the two: the request id is bound, and every error is an answer.
        middlewares=[request_context, audit_trail, errors, authorization],
        client_max_size=svc.config.current.server.max_body_bytes,
    )
    app[SERVICES] = svc
    table = {}
    routes = all_routes()
    unaudited = [f"{r.method} {r.path}" for r in routes if r.mutating and r.action is None]
    if unaudited:
        raise RuntimeError(f"routes that change something need an audit action: {unaudited}")
    for route in routes:
        resource = app.router.add_resource(route.path)
        table[resource.add_route(route.method, route.handler)] = route
    app[ROUTES] = table
    app.on_response_prepare.append(strict_transport)
    app.on_shutdown.append(_end_event_streams)
    app.on_shutdown.append(_end_playbacks)
    return app


async def _end_event_streams(app: web.Application) -> None:
    """Open event streams would hold the HTTP stop for its whole timeout."""
    app[SERVICES].events.close()


async def _end_playbacks(app: web.Application) -> None:
    """Playbacks, likewise: each ends as its FFmpeg is killed."""
    app[SERVICES].playback.close()
