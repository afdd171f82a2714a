"""The plan of a clip export: the FFmpeg concat script that joins a range's segments by
stream copy, the gaps it skips, and the media time it covers. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vmsd.recordings.service import SPAN_MERGE_GAP_S
from vmsd.store.recordings import RecordingRow


def build_concat(
    rows: Sequence[RecordingRow], start: datetime, end: datetime
) -> tuple[str, list[dict[str, Any]], float]:
    """Pure: FFmpeg concat-demuxer script for the segments overlapping [start, end), the gaps
    it skips, and the media duration it covers. Cuts fall on keyframes (stream copy)."""
    lines = ["ffconcat version 1.0"]
    gaps: list[dict[str, Any]] = []
    total = 0.0
    for i, row in enumerate(rows):
        if i and (row.start - rows[i - 1].end).total_seconds() > SPAN_MERGE_GAP_S:
            gaps.append(
                {
                    "start": rows[i - 1].end.isoformat(),
                    "end": row.start.isoformat(),
                    "seconds": (row.start - rows[i - 1].end).total_seconds(),
                }
            )
        inpoint = max(0.0, (start - row.start).total_seconds())
        outpoint = min(row.duration_s, (end - row.start).total_seconds())
        if outpoint <= inpoint:
            continue
        escaped = row.path.replace("'", "'\\''")
        # No `duration` line: FFmpeg then offsets the next file by what it actually read
        # between inpoint and outpoint, so cut files join without a hole.
        lines.append(f"file '{escaped}'")
        if inpoint > 0:
            lines.append(f"inpoint {inpoint:.6f}")
        if outpoint < row.duration_s:
            lines.append(f"outpoint {outpoint:.6f}")
        total += outpoint - inpoint
    return "\n".join(lines) + "\n", gaps, total
