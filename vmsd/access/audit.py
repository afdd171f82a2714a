"""The audit trail's rows and their chain. Pure.

Each row (vmsd.store.audit_row.AuditRow) is an AuditEntry (what was done, by whom, with what
result) sealed into a chain:
`hash = SHA-256(prev_hash || canonical(entry))`, where `prev_hash` is the previous row's hash
(GENESIS for the first row). Editing a row's content, removing a row or moving one breaks the
chain at that row, and `verify` names the first such row.

The canonical form (version 1) is the UTF-8 of one JSON object with sorted keys, no spaces,
non-ASCII escaped (`\\uXXXX`): `{"action", "client_ip", "details", "principal",
"request_id", "result", "target", "time", "v": 1}`, `time` in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` (always six fraction digits). It is computed from what the
database stores and gives back unchanged: text without NUL or lone surrogates, details of
strings, integers, booleans, null, lists and objects only (a float would come back from
jsonb in another spelling and break its own row). Details are redacted first
(vmsd.core.redact): a secret key's value or a URL's credentials never reach the trail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from vmsd.core.redact import redact_value
from vmsd.store.audit_row import ENTRY_FIELDS, AuditAnchor, AuditEntry, AuditRow, Json

GENESIS = bytes(32)  # the first row's prev_hash
# The row a prune of the oldest rows writes (vmsd.access.audit_retention); the database
# refuses a prune without it (migration 0010).
PRUNE_ACTION = "audit.prune"
# Principals that are not a user, a token or a link.
SYSTEM = "system"  # the daemon itself (a SIGHUP reload, a retention prune)
ANONYMOUS = "anonymous"  # a request without credentials
CANONICAL_VERSION = 1
HASH_BYTES = 32
TEXT_MAX = 200  # characters kept of one text field (a target from a hostile path...)
DETAIL_TEXT_MAX = 500
DETAIL_ITEMS_MAX = 50  # items kept of one list or object in the details
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def cli_principal(unix_user: str) -> str:
    """A command run on the box (`vmsd token create`): `cli:<unix user name>`."""
    return f"cli:{unix_user}"


def clean_text(value: str, limit: int = TEXT_MAX) -> str:
    """What PostgreSQL's text keeps as it was given: no NUL (U+FFFD instead), no lone
    surrogate (`?`), at most `limit` characters."""
    text = value[:limit].replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def clean_details(value: object, depth: int = 0) -> Json:
    """`value` as jsonb gives it back: other scalars (floats, times, paths) become their
    text; lists and objects are cut at DETAIL_ITEMS_MAX items and four levels."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_text(value, DETAIL_TEXT_MAX)
    if depth < 4 and isinstance(value, Mapping):
        items = list(value.items())[:DETAIL_ITEMS_MAX]
        return {clean_text(str(k)): clean_details(v, depth + 1) for k, v in items}
    if depth < 4 and isinstance(value, list | tuple | set | frozenset):
        return [clean_details(v, depth + 1) for v in list(value)[:DETAIL_ITEMS_MAX]]
    return clean_text(str(value), DETAIL_TEXT_MAX)


def audit_entry(
    time: datetime,
    principal: str,
    action: str,
    result: str,
    *,
    client_ip: str = "",
    target: str = "",
    request_id: str = "",
    details: Mapping[str, object] | None = None,
) -> AuditEntry:
    if time.tzinfo is None:
        raise ValueError("an audit entry's time must be aware")
    cleaned = clean_details(redact_value(dict(details or {})))
    assert isinstance(cleaned, dict)
    return AuditEntry(
        time=time.astimezone(UTC),
        principal=clean_text(principal),
        client_ip=clean_text(client_ip),
        action=clean_text(action),
        target=clean_text(target),
        result=clean_text(result),
        request_id=clean_text(request_id),
        details=cleaned,
    )


def format_time(time: datetime) -> str:
    return time.astimezone(UTC).strftime(_TIME_FORMAT)


def canonical(entry: AuditEntry) -> bytes:
    """Version 1, frozen: its fields are named here, not taken from ENTRY_FIELDS, because
    every stored row's hash depends on exactly them. A field added to the row later is not
    in it; hashing one would take a version 2 that the verifier reads besides this one."""
    document = {
        "v": CANONICAL_VERSION,
        "time": format_time(entry.time),
        "principal": entry.principal,
        "client_ip": entry.client_ip,
        "action": entry.action,
        "target": entry.target,
        "result": entry.result,
        "request_id": entry.request_id,
        "details": entry.details,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def chain_hash(prev_hash: bytes, entry: AuditEntry) -> bytes:
    return hashlib.sha256(prev_hash + canonical(entry)).digest()


class BreakReason(StrEnum):
    # The content is not what was hashed: a field was changed after the row was written.
    CONTENT_EDITED = "content edited"
    # prev_hash is not the previous row's hash: a row before it was removed, or rows were
    # inserted or moved.
    CHAIN_BROKEN = "chain broken"
    # The content is what the next row's prev_hash committed to, but the row's own hash
    # field was changed.
    HASH_WRONG = "hash wrong"
    # Rows were pruned (the anchor says up to which), and the prune's own audit.prune row,
    # written in the same transaction after them, is gone: rows were removed from the end.
    PRUNE_ROW_MISSING = "the prune's audit.prune row is not in the table: rows were removed"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    id: int
    time: datetime
    reason: BreakReason

    def describe(self) -> str:
        if self.reason is BreakReason.PRUNE_ROW_MISSING:
            when = format_time(self.time)
            return f"rows up to {self.id} were pruned on {when}, and {self.reason.value}"
        return f"row {self.id} ({format_time(self.time)}): {self.reason.value}"


class ChainVerifier:
    """Checks rows fed in id order, one at a time (bounded memory for any length). A row
    whose hash does not match its content is decided on the next row: if that row's
    prev_hash is the recomputed hash, the hash field was changed, else the content was.

    `start`: the first row's prev_hash; None takes the first row's own (a copy of a part of
    the chain, from some row on)."""

    def __init__(self, start: bytes | None = GENESIS) -> None:
        self.rows = 0
        self._last_hash = start
        self._suspect: tuple[AuditRow, bytes] | None = None  # (row, recomputed hash)
        self.broken: ChainBreak | None = None

    def feed(self, row: AuditRow) -> ChainBreak | None:
        """The first break, once known (then stop feeding)."""
        if self.broken is not None:
            return self.broken
        self.rows += 1
        if self._suspect is not None:
            suspect, recomputed = self._suspect
            reason = (
                BreakReason.HASH_WRONG
                if row.prev_hash == recomputed
                else BreakReason.CONTENT_EDITED
            )
            self.broken = ChainBreak(suspect.id, suspect.entry.time, reason)
            return self.broken
        if self._last_hash is not None and row.prev_hash != self._last_hash:
            self.broken = ChainBreak(row.id, row.entry.time, BreakReason.CHAIN_BROKEN)
            return self.broken
        recomputed = chain_hash(row.prev_hash, row.entry)
        if recomputed != row.hash:
            self._suspect = (row, recomputed)
        self._last_hash = row.hash
        return None

    def finish(self) -> ChainBreak | None:
        """After the last row: a last row whose hash is wrong counts as edited."""
        if self.broken is None and self._suspect is not None:
            suspect, _ = self._suspect
            self.broken = ChainBreak(suspect.id, suspect.entry.time, BreakReason.CONTENT_EDITED)
        return self.broken


def prunes_up_to(row: AuditRow) -> int | None:
    """The id a prune's own row says it pruned up to; None for any other row."""
    up_to = row.entry.details.get("up_to_id")
    if row.entry.action != PRUNE_ACTION or not isinstance(up_to, int):
        return None
    return up_to


class TrailVerifier:
    """The stored trail, from its anchor (what retention pruned): the first row must follow
    the anchor's hash (the genesis value when nothing was pruned), so rows removed from the
    start without a prune show as a broken chain there; and when rows were pruned, the last
    prune's own row (written after them, in the same transaction) must be in the table."""

    def __init__(self, anchor: AuditAnchor) -> None:
        self.anchor = anchor
        self._chain = ChainVerifier(start=anchor.last_hash)
        self._prune_row_seen = anchor.last_id == 0

    @property
    def rows(self) -> int:
        return self._chain.rows

    def feed(self, row: AuditRow) -> ChainBreak | None:
        if row.id > self.anchor.last_id and prunes_up_to(row) == self.anchor.last_id:
            self._prune_row_seen = True
        return self._chain.feed(row)

    def finish(self) -> ChainBreak | None:
        broken = self._chain.finish()
        if broken is None and not self._prune_row_seen:
            when = self.anchor.pruned_at or datetime.min.replace(tzinfo=UTC)
            broken = ChainBreak(self.anchor.last_id, when, BreakReason.PRUNE_ROW_MISSING)
        return broken


def row_from_json(data: Mapping[str, object]) -> AuditRow:
    """A row of a JSON Lines export (GET /api/v1/audit?format=jsonl) as the row it copies;
    ValueError if it is not one."""
    try:
        fields = {k: data[k] for k in _EXPORTED}
        texts = {k: fields[k] for k in _EXPORTED_TEXT}
        details, row_id = fields["details"], fields["id"]
        if not all(isinstance(t, str) for t in texts.values()) or not isinstance(details, dict):
            raise ValueError("a field has the wrong type")
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError("id is not an integer")
        time = datetime.fromisoformat(str(fields["time"]))
        if time.tzinfo is None:
            raise ValueError("time has no offset")
        prev_hash = bytes.fromhex(str(fields["prev_hash"]))
        hash_ = bytes.fromhex(str(fields["hash"]))
    except (KeyError, TypeError) as err:
        raise ValueError(f"not an audit row: {err}") from None
    entry = AuditEntry(time=time, details=details, **{k: str(t) for k, t in texts.items()})
    return AuditRow(row_id, entry, prev_hash, hash_)


# What the export writes (api/audit.py, row_out): every content field but time and details
# is text.
_EXPORTED_TEXT = tuple(name for name in ENTRY_FIELDS if name not in ("time", "details"))
_EXPORTED = ("id", *ENTRY_FIELDS, "prev_hash", "hash")


def verify(rows: Iterable[AuditRow], anchor: AuditAnchor | None = None) -> ChainBreak | None:
    """The first broken row of a chain given in id order, or None if it holds; from
    `anchor` when rows were pruned (TrailVerifier)."""
    verifier: ChainVerifier | TrailVerifier = (
        ChainVerifier() if anchor is None else TrailVerifier(anchor)
    )
    for row in rows:
        if verifier.feed(row) is not None:
            break
    return verifier.finish()
