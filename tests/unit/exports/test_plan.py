"""The export planner: what the concat script joins, which gaps it reports (the range's
leading and trailing missing time included) and how much recorded time it covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vmsd.exports.plan import Gap, build_concat
from vmsd.store.recordings import EndReason, RecordingRow

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _rows(*spans: tuple[float, float]) -> list[RecordingRow]:
    return [
        RecordingRow(
            i + 1, "cam", f"/r/cam/{i}.mp4", _t(a), _t(b), b - a, 1, EndReason.SEGMENT_COMPLETE
        )
        for i, (a, b) in enumerate(spans)
    ]


def _overlapping(rows: list[RecordingRow], start: float, end: float) -> list[RecordingRow]:
    """What the export reads: the rows overlapping [start, end), as the query returns them."""
    return [r for r in rows if r.start < _t(end) and r.end > _t(start)]


# Segments 0-10, 10-20, then (after a 30 s hole) 50-60.
SEGMENTS = ((0, 10), (10, 20), (50, 60))


@pytest.mark.parametrize(
    ("segments", "start", "end", "gaps", "covered"),
    [
        (SEGMENTS, 2, 18, [], 16),  # inside the recording
        (SEGMENTS, 5, 55, [(20, 50)], 20),  # across the hole
        (SEGMENTS, -100, 15, [(-100, 0)], 15),  # starts before the first segment
        (SEGMENTS, 55, 7255, [(60, 7255)], 5),  # a two-hour request past the last one
        (SEGMENTS, -60, 120, [(-60, 0), (20, 50), (60, 120)], 30),  # all three
        ((), 0, 60, [(0, 60)], 0),  # nothing recorded: the whole range is the gap
        (((0, 10), (10.5, 20)), 0, 20, [], 19.5),  # a hole of at most 1 s is no gap
        (SEGMENTS, -0.8, 20.9, [], 20),  # nor are edges within 1 s
    ],
    ids=[
        "inside",
        "across-a-hole",
        "leading",
        "trailing",
        "leading-hole-trailing",
        "nothing",
        "sub-second-hole",
        "sub-second-edges",
    ],
)
def test_gaps_and_coverage(
    segments: tuple[tuple[float, float], ...],
    start: float,
    end: float,
    gaps: list[tuple[float, float]],
    covered: float,
) -> None:
    plan = build_concat(_overlapping(_rows(*segments), start, end), _t(start), _t(end))
    assert plan.gaps == tuple(Gap(_t(a), _t(b)) for a, b in gaps)
    assert plan.covered_s == pytest.approx(covered)
    assert plan.empty is (covered == 0)
    requested = end - start
    # What is not covered is in the gaps, but for holes of a second or less.
    assert requested - covered - sum(g.seconds for g in plan.gaps) == pytest.approx(
        0, abs=2.0
    )


def test_the_script_trims_the_edges_and_quotes_paths() -> None:
    rows = _rows((0, 10), (30, 40))
    rows[0] = RecordingRow(1, "cam", "/r/cam/a'b.mp4", _t(0), _t(10), 10.0, 1, rows[0].end_reason)
    plan = build_concat(rows, _t(2), _t(35))
    assert plan.script.splitlines() == [
        "ffconcat version 1.0",
        "file '/r/cam/a'\\''b.mp4'",
        "inpoint 2.000000",
        "file '/r/cam/1.mp4'",
        "outpoint 5.000000",
    ]


def test_a_gap_as_stored_and_shown() -> None:
    assert Gap(_t(60), _t(7255)).as_json() == {
        "start": "2026-12-01T10:01:00+00:00",
        "end": "2026-12-01T12:00:55+00:00",
        "seconds": 7195.0,
    }
