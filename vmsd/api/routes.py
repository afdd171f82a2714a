"""Route declarations: one list per API area; the app, the auth middleware and the OpenAPI
document are all built from them, so a route cannot exist undocumented or unguarded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from vmsd.access.roles import Role
from vmsd.api.query import Params
from vmsd.config.server import OpenEndpoint

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented response. `model`: the JSON body's model (the handler builds the body
    through it); `many`: a JSON array of it; `media_types`: a body that is not JSON, in one
    of these types."""

    description: str
    model: type[BaseModel] | None = None
    many: bool = False
    media_types: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description


@dataclass(frozen=True, slots=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    summary: str
    # Minimum role. None: open to anyone (no token). `open_as`: open only while the operator
    # lists it in server.open_endpoints, otherwise `role` applies.
    role: Role | None
    open_as: OpenEndpoint | None = None
    # The audit trail's name for what the route does (`camera.create`); every route that
    # changes something has one (create_app refuses a table without), and so do downloads.
    action: str | None = None
    request_model: type[BaseModel] | None = None
    # A body that is not JSON, in one of these types (text the handler reads and bounds).
    request_media_types: tuple[str, ...] = ()
    path_params: type[Params] | None = None
    query: type[Params] | None = None
    headers: type[Params] | None = None
    # Success and route-specific errors; the errors every route can answer (401, 403, 422,
    # 503...) are added by the OpenAPI builder.
    responses: Mapping[int, Reply] = field(default_factory=dict)
    tag: str = "system"

    @property
    def mutating(self) -> bool:
        return self.method not in SAFE_METHODS

    def required_role(self, open_endpoints: tuple[OpenEndpoint, ...]) -> Role | None:
        if self.open_as is not None and self.open_as in open_endpoints:
            return None
        return self.role
