"""The audit middleware: one audit row for every request to a route that declares an
`action`, whatever its method and whatever its answer (a refusal, a 422 and a 500 too).

It runs inside request_context (the request id is bound) and outside errors, so it sees the
final status and error code of every answer. A row that cannot be written is logged and
counted by the audit log; the answer stays what it was, since the act has happened."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import structlog
from aiohttp import web

from vmsd.access.audit import ANONYMOUS
from vmsd.api.audit_note import AUDIT_NOTE
from vmsd.api.middleware import PRINCIPAL, ROUTES
from vmsd.api.routes import ApiRoute, Handler
from vmsd.api.services import services

_PARAM_RE = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?\}")


def current_request_id() -> str:
    """The id request_context bound for this request ("" outside a request)."""
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))


def path_target(route: ApiRoute, match_info: Mapping[str, str]) -> str:
    """What the path names: each parameter as `<kind>:<value>`, the kind being the path
    segment before it without its plural `s` (`/cameras/{name}/restart` -> `camera:gate-1`,
    `/recordings/{id}` -> `recording:42`); several are joined by `/`."""
    parts = []
    segments = route.path.strip("/").split("/")
    for index, segment in enumerate(segments):
        param = _PARAM_RE.fullmatch(segment)
        if param is None or index == 0:
            continue
        kind = segments[index - 1].removesuffix("s")
        parts.append(f"{kind}:{match_info.get(param.group(1), '')}")
    return "/".join(parts)


def result_of(response: web.StreamResponse) -> str:
    """`ok` for 2xx; else the status and the error body's code (`403 forbidden`), or the
    status alone for an answer without one."""
    if 200 <= response.status < 300:
        return "ok"
    code = ""
    if isinstance(response, web.Response) and response.content_type == "application/json":
        try:
            data = json.loads(response.body or b"{}")  # type: ignore[arg-type]
            code = str(data["error"]["code"])
        except (ValueError, TypeError, KeyError):
            code = ""
    return f"{response.status} {code}".strip()


def _details(route: ApiRoute, request: web.Request) -> dict[str, object]:
    """A mutating request's query parameters, those its route declares (a bulk delete's
    range). Bodies are never kept: they can hold passwords and camera credentials."""
    if not route.mutating or route.query is None:
        return {}
    declared = {info.alias or name for name, info in route.query.model_fields.items()}
    query = {k: request.query.getall(k) for k in request.query if k in declared}
    return {"query": {k: v[0] if len(v) == 1 else v for k, v in query.items()}} if query else {}


@web.middleware
async def audit_trail(request: web.Request, handler: Handler) -> web.StreamResponse:
    route: ApiRoute | None = request.app[ROUTES].get(request.match_info.route)
    if route is None or route.action is None:
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as err:  # a redirect or an error the errors middleware let by
        await _record(request, route, f"{err.status}")
        raise
    await _record(request, route, result_of(response))
    return response


async def _record(request: web.Request, route: ApiRoute, result: str) -> None:
    assert route.action is not None
    note = request.get(AUDIT_NOTE)
    principal = request.get(PRINCIPAL)
    who = note.principal if note is not None and note.principal else None
    if who is None:
        who = principal.label if principal is not None else ANONYMOUS
    target = note.target if note is not None and note.target is not None else None
    details = _details(route, request)
    if note is not None:
        details.update(note.details)
    await services(request).audit.record(
        who,
        route.action,
        result,
        client_ip=request.remote or "",
        target=target if target is not None else path_target(route, request.match_info),
        request_id=current_request_id(),
        details=details,
    )
