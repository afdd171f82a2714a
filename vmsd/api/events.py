"""/api/v1/events: the history with filters and cursors, and the live Server-Sent Events
stream that resumes from the history with Last-Event-ID."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, Field

from vmsd.access.roles import Role
from vmsd.api.query import (
    ASCII_INT,
    DEFAULT_LIMIT,
    CameraName,
    Cursor,
    Limit,
    Params,
    Time,
    read_params,
)
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import services
from vmsd.api.visibility import camera_filter
from vmsd.core.errors import StoreError, ValidationError
from vmsd.core.event_types import EVENT_TYPES
from vmsd.core.ints import BIGINT_MAX
from vmsd.core.log import get_logger
from vmsd.events.bus import Event
from vmsd.store.events import EventFilter

log = get_logger("vmsd.api.events")

# How long an EventSource waits before reconnecting after the stream ends.
RECONNECT_MS = 2000
EventId = Annotated[int, Field(ge=0, le=BIGINT_MAX), ASCII_INT]


def _known_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"not an event type (got {value[:40]!r})")
    return value


# Literal[...] of a runtime list is no type to mypy: a checked str, its enum in the schema.
EventType = Annotated[
    str, AfterValidator(_known_event_type), Field(json_schema_extra={"enum": sorted(EVENT_TYPES)})
]


class EventOut(Out):
    id: int | None = Field(description="null: the database could not take it (stream only)")
    time: datetime
    type: EventType
    camera: str | None
    data: dict[str, Any]


class EventPage(Out):
    items: list[EventOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class FilterQuery(Params):
    camera: list[CameraName] = Field(
        default_factory=list, description="camera name; repeat for several (default: all)"
    )
    type: list[EventType] = Field(
        default_factory=list, description="event type; repeat for several (default: all)"
    )

    def where(self, request: web.Request) -> EventFilter:
        return EventFilter(cameras=_cameras(request, self.camera), types=tuple(self.type))


class EventsQuery(FilterQuery):
    since: Time | None = Field(default=None, description="events at or after this time")
    until: Time | None = Field(default=None, description="events before this time")
    order: Literal["desc", "asc"] = Field(default="desc", description="desc: newest first")
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None

    def where(self, request: web.Request) -> EventFilter:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValidationError(
                "invalid range", [{"field": "until", "message": "must be after since"}]
            )
        cameras = _cameras(request, self.camera)
        return EventFilter(cameras, tuple(self.type), self.since, self.until)


def _cameras(request: web.Request, asked: list[str]) -> tuple[str, ...] | None:
    """The principal's cameras among those asked for. A scope other than `*` lists its
    cameras, which also leaves out the events of no camera (daemon, MediaMTX, config)."""
    cameras = camera_filter(request, asked)
    return tuple(cameras) if cameras is not None else None


class StreamQuery(FilterQuery):
    last_event_id: EventId | None = Field(
        default=None, description="instead of the Last-Event-ID header"
    )


class StreamHeaders(Params):
    last_event_id: EventId | None = Field(
        default=None,
        alias="Last-Event-ID",
        description="EventSource sends it on reconnect: the stream resumes after it",
    )


async def list_events(request: web.Request) -> web.Response:
    q = read_params(EventsQuery, request.query)
    events, cursor = await services(request).events.search(
        q.where(request), q.limit, q.cursor, q.order == "desc"
    )
    return body(EventPage(items=[event_out(e) for e in events], next_cursor=cursor))


def event_out(event: Event) -> EventOut:
    return EventOut.model_validate(event.as_json())


def _last_event_id(request: web.Request) -> int | None:
    """EventSource sends Last-Event-ID on reconnect; `last_event_id` is for clients that
    cannot set headers. The header wins."""
    header = read_params(StreamHeaders, request.headers).last_event_id
    return header if header is not None else read_params(StreamQuery, request.query).last_event_id


def sse_frame(event: Event | None) -> bytes:
    if event is None:
        return b": heartbeat\n\n"
    head = f"id: {event.id}\n" if event.id is not None else ""
    data = json.dumps(event_out(event).model_dump(mode="json"), separators=(",", ":"))
    return f"{head}data: {data}\n\n".encode()


async def stream_events(request: web.Request) -> web.StreamResponse:
    svc = services(request)
    # The scope's cameras as they are now; a camera joining one of its groups later shows in
    # the stream from the client's next connection on.
    where = read_params(StreamQuery, request.query).where(request)
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


ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/events",
        list_events,
        "Events, newest first by default, with keyset pagination",
        role=Role.VIEWER,
        tag="events",
        query=EventsQuery,
        responses={200: Reply("one page", EventPage)},
    ),
    ApiRoute(
        "GET",
        "/api/v1/events/stream",
        stream_events,
        "Server-Sent Events: new events as they happen, resumed after Last-Event-ID from the "
        "history; heartbeat comments while idle",
        role=Role.VIEWER,
        tag="events",
        query=StreamQuery,
        headers=StreamHeaders,
        responses={200: Reply("the stream", EventOut, media_types=("text/event-stream",))},
    ),
]
