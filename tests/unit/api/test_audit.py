"""/api/v1/audit's row: every field of the stored row (store/audit_row.py), in its order
(the CSV export's columns), and the hashes as hex."""

from __future__ import annotations

from datetime import UTC, datetime

from vmsd.access.audit import audit_entry
from vmsd.api.audit import AuditRowOut, row_out
from vmsd.store.audit_row import ENTRY_FIELDS, AuditRow


def test_the_documented_row_has_the_stored_rows_fields_in_order() -> None:
    """AuditRowOut is declared by hand (its descriptions are the API's contract); row_out
    fills it from the row's fields, so the two must agree (and its order is the CSV's)."""
    assert tuple(AuditRowOut.model_fields) == ("id", *ENTRY_FIELDS, "prev_hash", "hash")


def test_a_row_goes_out_as_stored_with_its_hashes_in_hex() -> None:
    entry = audit_entry(
        datetime(2026, 12, 1, 10, 0, 0, 7, tzinfo=UTC),
        "user:alice",
        "camera.update",
        "ok",
        client_ip="10.0.0.7",
        target="camera:gate-1",
        request_id="req-1",
        details={"changed": ["record"], "n": 2},
    )
    out = row_out(AuditRow(42, entry, bytes(32), bytes(range(32))))
    assert out.model_dump(mode="json") == {
        "id": 42,
        "time": "2026-12-01T10:00:00.000007Z",
        "principal": "user:alice",
        "client_ip": "10.0.0.7",
        "action": "camera.update",
        "target": "camera:gate-1",
        "result": "ok",
        "request_id": "req-1",
        "details": {"changed": ["record"], "n": 2},
        "prev_hash": "00" * 32,
        "hash": bytes(range(32)).hex(),
    }
