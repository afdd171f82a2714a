"""Which audit rows retention prunes. Pure.

Rows go oldest first, by id (the chain's order), and only as a prefix: a prune stops at the
first row not older than the cutoff, even if rows after it are older (times are each box's
clock when its act ended, so they need not rise with the id), and never takes the chain's
last row, from whose hash appends go on. The database holds a prune to the same rule
(migration 0010)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from vmsd.access.audit import format_time
from vmsd.store.audit import RowHead


def retention_cutoff(now: datetime, retention_days: int | None) -> datetime | None:
    """Rows older than this are pruned; None (retention_days null): every row is kept."""
    if retention_days is None:
        return None
    return now - timedelta(days=retention_days)


def select_prune(heads: Sequence[RowHead], cutoff: datetime, last_id: int) -> RowHead | None:
    """The last row to prune of `heads` (the oldest rows, in id order): the end of their
    longest prefix older than `cutoff`, short of the chain's last row (`last_id`). None:
    nothing to prune."""
    chosen = None
    for head in heads:
        if head.time >= cutoff or head.id >= last_id:
            break
        chosen = head
    return chosen


def prune_details(rows: int, up_to_id: int, cutoff: datetime) -> dict[str, object]:
    """The details of a prune's own row. `up_to_id` is what the database checks it by."""
    return {"rows": rows, "up_to_id": up_to_id, "cutoff": format_time(cutoff)}
