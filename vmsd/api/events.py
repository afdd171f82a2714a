"""/api/v1/events: the history with filters and cursors, and the live Server-Sent Events
stream that resumes from the history with Last-Event-ID."""

from __future__ import annotations

import json

from aiohttp import web

from vmsd.access.roles import Role
from vmsd.api.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    camera_query,
    choice_query,
    limit_query,
    time_query,
)
from vmsd.api.routes import ApiRoute
from vmsd.api.services import services
from vmsd.core.errors import StoreError, ValidationError
from vmsd.core.event_types import EVENT_TYPES
from vmsd.core.log import get_logger
from vmsd.events.bus import Event
from vmsd.store.events import EventFilter

log = get_logger("vmsd.api.events")

# How long an EventSource waits before reconnecting after the stream ends.
RECONNECT_MS = 2000


def _filter(request: web.Request, with_times: bool) -> EventFilter:
    where = EventFilter(
        cameras=tuple(camera_query(request)),
        types=tuple(choice_query(request, "type", EVENT_TYPES)),
    )
    if not with_times:
        return where
    since, until = time_query(request, "since", False), time_query(request, "until", False)
    if since is not None and until is not None and until <= since:
        raise ValidationError(
            "invalid range", [{"field": "until", "message": "must be after since"}]
        )
    return EventFilter(where.cameras, where.types, since, until)


def _newest_first(request: web.Request) -> bool:
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ValidationError(
            "invalid order", [{"field": "order", "message": "asc (oldest first) or desc"}]
        )
    return order == "desc"


async def list_events(request: web.Request) -> web.Response:
    where = _filter(request, with_times=True)
    events, cursor = await services(request).events.search(
        where, limit_query(request), request.query.get("cursor"), _newest_first(request)
    )
    return web.json_response({"items": [e.as_json() for e in events], "next_cursor": cursor})


def _last_event_id(request: web.Request) -> int | None:
    """EventSource sends Last-Event-ID on reconnect; `last_event_id` is for clients that
    cannot set headers."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19:
        raise ValidationError(
            "invalid Last-Event-ID",
            [{"field": "Last-Event-ID", "message": "an event id from this stream"}],
        )
    return int(raw)


def sse_frame(event: Event | None) -> bytes:
    if event is None:
        return b": heartbeat\n\n"
    head = f"id: {event.id}\n" if event.id is not None else ""
    data = json.dumps(event.as_json(), separators=(",", ":"))
    return f"{head}data: {data}\n\n".encode()


async def stream_events(request: web.Request) -> web.StreamResponse:
    svc = services(request)
    where = _filter(request, with_times=False)
    last_id = _last_event_id(request)
    start_id = await svc.events.start_id(last_id)  # before the 200: a dead DB is a clean 503
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RECONNECT_MS}\n\n".encode())
    heartbeat_s = svc.config.current.events.stream_heartbeat_seconds
    try:
        async for event in svc.events.stream(where, start_id, heartbeat_s):
            await response.write(sse_frame(event))
    except StoreError as err:
        # Mid-stream the status is sent: end it; the client reconnects with its last id.
        log.warning("event_stream_ended", reason=err.message)
    except ConnectionResetError:
        pass  # the client went away
    return response


_FILTER_QUERY = {
    "camera": "camera name; repeat for several (default: all)",
    "type": "event type; repeat for several (default: all)",
}
ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/events",
        list_events,
        "Events, newest first by default, with keyset pagination",
        role=Role.VIEWER,
        tag="events",
        query={
            **_FILTER_QUERY,
            "since": "RFC 3339 time with an offset: events at or after it",
            "until": "RFC 3339 time with an offset: events before it",
            "order": "desc (newest first, default) or asc",
            "limit": f"1-{MAX_LIMIT} (default {DEFAULT_LIMIT})",
            "cursor": "next_cursor of the previous page",
        },
        responses={200: "OK", 422: "invalid query"},
    ),
    ApiRoute(
        "GET",
        "/api/v1/events/stream",
        stream_events,
        "Server-Sent Events: new events as they happen, resumed after Last-Event-ID from the "
        "history; heartbeat comments while idle",
        role=Role.VIEWER,
        tag="events",
        query={**_FILTER_QUERY, "last_event_id": "instead of the Last-Event-ID header"},
        responses={200: "text/event-stream", 422: "invalid query", 503: "database unreachable"},
    ),
]
