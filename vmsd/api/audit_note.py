"""What a handler tells the audit trail about its request beyond what the route table knows:
the target it acted on when the path does not name it (a created camera's name), the
principal a failed login tried to be, a few facts worth keeping. The audit middleware reads it
after the handler, success or failure."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web


@dataclass(slots=True)
class AuditNote:
    target: str | None = None  # e.g. "camera:gate-1"; default: from the path's parameters
    principal: str | None = None  # e.g. "user:alice" for a login; default: the request's
    details: dict[str, object] = field(default_factory=dict)


AUDIT_NOTE = web.RequestKey("audit_note", AuditNote)


def audit_note(request: web.Request) -> AuditNote:
    """The request's note, created on first use."""
    note = request.get(AUDIT_NOTE)
    if note is None:
        note = AuditNote()
        request[AUDIT_NOTE] = note
    return note
