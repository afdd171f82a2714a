"""/api/v1/audit: the audit trail (admin), a page of JSON or every matching row as CSV or
JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field

from vmsd.access.audit import TEXT_MAX
from vmsd.access.roles import Role
from vmsd.api.audit_trail import current_request_id
from vmsd.api.query import DEFAULT_LIMIT, Cursor, Limit, Params, Time, read_params
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import services
from vmsd.core.errors import StoreError, ValidationError
from vmsd.core.log import get_logger
from vmsd.core.names import TEXT_PATTERN
from vmsd.store.audit import AuditFilter
from vmsd.store.audit_row import AuditRow, entry_values

log = get_logger("vmsd.api.audit")

_PRINCIPAL = "`user:<name>`, `token:<name>`, `cli:<unix user>`, `system` or `anonymous`"
_RESULT = "`ok`, else the status and the error code (`403 forbidden`); `failed` outside HTTP"


class AuditRowOut(Out):
    """One audit row as stored; `prev_hash` and `hash` let a copy be checked by itself."""

    id: int
    time: datetime = Field(description="vmsd's clock when the act ended (UTC)")
    principal: str = Field(description=_PRINCIPAL)
    client_ip: str
    action: str = Field(description="what was done: `camera.create`, `auth.login`, ...")
    target: str = Field(description="what to: `camera:gate-1`, `recording:42`; empty: nothing")
    result: str = Field(description=_RESULT)
    request_id: str
    details: dict[str, Any]
    prev_hash: str = Field(description="hex SHA-256: the previous row's hash")
    hash: str = Field(description="hex SHA-256(prev_hash || this row's canonical form)")


class AuditPage(Out):
    items: list[AuditRowOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


Exact = Annotated[str, Field(min_length=1, max_length=TEXT_MAX, pattern=TEXT_PATTERN)]
_TIME = "RFC 3339 time with an offset (a `+` sent unencoded, as a space, is read as `+`)"
CSV_TYPE = "text/csv"
JSONL_TYPE = "application/x-ndjson"
CSV_COLUMNS = tuple(AuditRowOut.model_fields)
WRITE_BATCH_ROWS = 200  # rows per write: few syscalls, bounded memory
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AuditQuery(Params):
    principal: Exact | None = Field(default=None, description="exactly: `user:alice`, `token:ci`")
    action: Exact | None = Field(default=None, description="exactly: `camera.delete`")
    target: Exact | None = Field(default=None, description="exactly: `camera:gate-1`")
    start: Time | None = Field(default=None, description=f"{_TIME}: rows at or after it")
    end: Time | None = Field(default=None, description=f"{_TIME}: rows before it (after start)")
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None
    format: Literal["json", "csv", "jsonl"] = Field(
        default="json",
        description="json: one page, newest first; csv or jsonl: every matching row, oldest "
        "first (the chain's order), as a download (limit and cursor do not apply)",
    )

    def where(self) -> AuditFilter:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValidationError(
                "invalid range", [{"field": "end", "message": "must be after start"}]
            )
        return AuditFilter(self.principal, self.action, self.target, self.start, self.end)


def row_out(row: AuditRow) -> AuditRowOut:
    return AuditRowOut(
        id=row.id,
        **entry_values(row.entry),
        prev_hash=row.prev_hash.hex(),
        hash=row.hash.hex(),
    )


async def list_audit(request: web.Request) -> web.StreamResponse:
    q = read_params(AuditQuery, request.query)
    where = q.where()
    audit = services(request).audit
    if q.format == "json":
        rows, cursor = await audit.page(where, q.limit, q.cursor)
        return body(AuditPage(items=[row_out(r) for r in rows], next_cursor=cursor))
    encode = _csv_lines if q.format == "csv" else _jsonl_lines
    return await _download(request, audit.rows(where), q.format, encode)


def _jsonl_lines(rows: list[AuditRow], _first: bool) -> str:
    return "".join(
        json.dumps(row_out(r).model_dump(mode="json"), separators=(",", ":")) + "\n"
        for r in rows
    )


def _cell(value: object) -> str:
    """A spreadsheet runs a cell that starts like a formula: such text gets a leading `'`
    (OWASP's advice for CSV injection). The JSON Lines export is the verbatim copy."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_lines(rows: list[AuditRow], first: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if first:
        writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row_out(row).model_dump(mode="json")
        writer.writerow([_cell(data[c]) for c in CSV_COLUMNS])
    return out.getvalue()


async def _download(
    request: web.Request,
    rows: AsyncIterator[AuditRow],
    fmt: str,
    encode: Callable[[list[AuditRow], bool], str],
) -> web.StreamResponse:
    """Streamed in batches. The first batch is read before the status line, so a database
    that is away is a clean 503; a failure after it can only cut the connection (a chunked
    body without its last chunk: the client knows the file is incomplete)."""
    batch = [row async for row in _take(rows, WRITE_BATCH_ROWS)]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{CSV_TYPE if fmt == 'csv' else JSONL_TYPE}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="vmsd-audit-{stamp}.{fmt}"',
            "X-Request-ID": current_request_id(),
        }
    )
    await response.prepare(request)
    first = True
    try:
        while True:
            await response.write(encode(batch, first).encode())
            first = False
            if len(batch) < WRITE_BATCH_ROWS:
                break
            batch = [row async for row in _take(rows, WRITE_BATCH_ROWS)]
    except StoreError as err:
        log.error("audit_export_failed", error=err.message, details=err.internal_details)
        if request.transport is not None:
            request.transport.close()
        return response
    except ConnectionResetError:
        return response  # the client went away
    await response.write_eof()
    return response


async def _take(rows: AsyncIterator[AuditRow], count: int) -> AsyncIterator[AuditRow]:
    for _ in range(count):
        try:
            yield await anext(rows)
        except StopAsyncIteration:
            return


ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/audit",
        list_audit,
        "The audit trail, filtered: a page of rows (newest first, keyset pagination), or with "
        "format csv or jsonl every matching row as a download (Content-Disposition: "
        'attachment; filename="vmsd-audit-<UTC time>.<format>")',
        role=Role.ADMIN,
        tag="audit",
        query=AuditQuery,
        responses={
            200: Reply(
                "a page (json), or the rows (csv, jsonl)",
                AuditPage,
                media_types=("application/json", CSV_TYPE, JSONL_TYPE),
            )
        },
    ),
]
