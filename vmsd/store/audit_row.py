"""The audit trail's row, described once: its content (AuditEntry) and the row that seals it
into the chain (AuditRow). Plain data, no I/O: the SQL (store/audit.py), the pure chain
(access/audit.py) and the API (api/audit.py) take the row's fields from here.

A new field is added here and in a migration; two places then say on purpose what they do
with it, and tests hold them to it: the chain's canonical form, frozen at version 1 (a field
in it would change the hash of every row written before it), and the API's documented
schema (api/audit.py, AuditRowOut: its descriptions are the contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

Json = str | int | bool | None | list["Json"] | dict[str, "Json"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited act. Build it with vmsd.access.audit.audit_entry (which cleans the
    fields); the store keeps every field as given, so the canonical form of a row read back
    is the one hashed."""

    time: datetime  # aware; vmsd's clock when the act ended
    principal: str  # `user:alice`, `token:ci`, `cli:root`, `system`, `anonymous`
    client_ip: str
    action: str  # `camera.create`, `auth.login`, `config.reload`
    target: str  # `camera:gate-1`, `recording:42`, "" when none
    result: str  # `ok`, `403 forbidden`, `failed`
    request_id: str
    details: Mapping[str, Json]


# The content's fields in the table's order: the columns besides id, prev_hash and hash.
ENTRY_FIELDS = tuple(field.name for field in fields(AuditEntry))


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A stored row, a link of the chain: its id, content and the two hashes it was stored
    with (`hash = SHA-256(prev_hash || canonical(entry))`, vmsd.access.audit)."""

    id: int
    entry: AuditEntry
    prev_hash: bytes
    hash: bytes


def entry_values(entry: AuditEntry) -> dict[str, Any]:
    """The content by field name, in ENTRY_FIELDS order (shallow: details is not copied)."""
    return {name: getattr(entry, name) for name in ENTRY_FIELDS}


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """Where the stored chain begins (table audit_anchor, migration 0010): the last row
    pruned by retention, by id and hash (the first remaining row's prev_hash), the rows
    pruned in all, and the last prune's time and cutoff. last_id 0 (with the genesis hash):
    nothing was pruned."""

    last_id: int
    last_hash: bytes
    pruned_rows: int
    pruned_at: datetime | None
    cutoff: datetime | None
