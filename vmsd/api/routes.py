"""Route declarations: one list per API area; the app, the auth middleware and the OpenAPI
document are all built from them, so a route cannot exist undocumented or unguarded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from vmsd.access.roles import Role
from vmsd.config.schema import OpenEndpoint

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    request_model: type[BaseModel] | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    responses: Mapping[int, str] = field(default_factory=lambda: {200: "OK"})
    tag: str = "system"

    def required_role(self, open_endpoints: tuple[OpenEndpoint, ...]) -> Role | None:
        if self.open_as is not None and self.open_as in open_endpoints:
            return None
        return self.role
