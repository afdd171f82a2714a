"""The plan of a clip export: the FFmpeg concat script that joins a range's segments by
stream copy, the gaps it skips (before the first segment and after the last one too), and
the recorded time it covers. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vmsd.recordings.service import SPAN_MERGE_GAP_S
from vmsd.store.recordings import RecordingRow


@dataclass(frozen=True, slots=True)
class Gap:
    """Time inside the requested range with no recording."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class ExportPlan:
    script: str  # FFmpeg concat-demuxer script; no `file` line when nothing is recorded
    gaps: tuple[Gap, ...]
    covered_s: float  # recorded time inside the range: what the file holds, before keyframes

    @property
    def empty(self) -> bool:
        return self.covered_s <= 0


def build_concat(rows: Sequence[RecordingRow], start: datetime, end: datetime) -> ExportPlan:
    """The plan for the segments overlapping [start, end), in start order. Cuts fall on
    keyframes (stream copy). Holes of at most SPAN_MERGE_GAP_S are no gap, as on the
    timeline; the range's edges count: a range reaching past the recording has a leading or
    trailing gap, and one with no recording is one gap."""
    lines = ["ffconcat version 1.0"]
    gaps: list[Gap] = []
    covered = 0.0
    recorded_until = start  # the end of what the rows so far cover
    for row in rows:
        if (row.start - recorded_until).total_seconds() > SPAN_MERGE_GAP_S:
            gaps.append(Gap(recorded_until, row.start))
        recorded_until = max(recorded_until, row.end)
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
        covered += outpoint - inpoint
    script = "\n".join(lines) + "\n"
    if covered <= 0:
        return ExportPlan(script, (Gap(start, end),), 0.0)
    if (end - recorded_until).total_seconds() > SPAN_MERGE_GAP_S:
        gaps.append(Gap(recorded_until, end))
    return ExportPlan(script, tuple(gaps), covered)
