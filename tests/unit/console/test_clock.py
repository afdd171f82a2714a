"""vmsd/console/clock.js, the player's map from a stream's time to the wall clock, run in Node
(the module is plain ES, as the browser loads it): the plan of the API in, milliseconds out."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from typing import Any

from tests.paths import REPO_ROOT
from tests.streams.sources import require

CLOCK = REPO_ROOT / "vmsd" / "console" / "clock.js"

# A stream from 10:00:00.4 (its keyframe): 60 s recorded, a 5 s gap (recorder_stopped) skipped
# at stream time 60, 30 s more, a 120.5 s gap (source_lost) at 90, then 10 s to the end.
PLAN = {
    "camera": "cam",
    "start": "2026-12-01T10:00:00.400000Z",
    "end": "2026-12-01T10:03:45.900000Z",
    "duration_seconds": 100,
    "end_reason": "segment_complete",
    "segments": 50,
    "gaps": [
        {"start": "2026-12-01T10:01:00.400000Z", "end": "2026-12-01T10:01:05.400000Z",
         "seconds": 5, "reason": "recorder_stopped", "at_seconds": 60},
        {"start": "2026-12-01T10:01:35.400000Z", "end": "2026-12-01T10:03:35.900000Z",
         "seconds": 120.5, "reason": "source_lost", "at_seconds": 90},
    ],
}  # fmt: skip


def run(expression: str) -> Any:
    """The JSON of `expression`, evaluated in Node with clock.js imported as `c`."""
    script = (
        f"import * as c from {json.dumps(CLOCK.as_uri())};\n"
        f"const plan = c.readPlan({json.dumps(PLAN)});\n"
        f"console.log(JSON.stringify({expression}));\n"
    )
    done = subprocess.run(
        [require("node"), "--input-type=module", "-e", script],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).astimezone(UTC).timestamp() * 1000)


def test_the_wall_clock_adds_every_gap_already_skipped() -> None:
    times = [0, 30, 59.9, 60, 75, 89.99, 90, 100]
    got = run(f"{json.dumps(times)}.map((t) => c.wallClock(plan, t))")
    start = ms(PLAN["start"])
    assert got == [
        start,
        start + 30_000,
        start + 59_900,
        ms("2026-12-01T10:01:05.400000Z"),  # at the gap: straight to its end
        start + 80_000,
        start + 94_990,
        ms("2026-12-01T10:03:35.900000Z"),
        ms(PLAN["end"]),  # the stream's end is the plan's end, not start + its length
    ]


def test_the_gaps_skipped_by_a_time_and_the_plan_in_milliseconds() -> None:
    got = run("[0, 60, 95].map((t) => c.skippedBy(plan, t).map((g) => g.reason))")
    assert got == [[], ["recorder_stopped"], ["recorder_stopped", "source_lost"]]
    gap = run("plan.gaps[1]")
    assert gap == {
        "start": ms("2026-12-01T10:01:35.400000Z"),
        "end": ms("2026-12-01T10:03:35.900000Z"),
        "seconds": 120.5,
        "reason": "source_lost",
        "at": 90,
    }
    assert run("[c.readPlan({...plan, gaps: []}).gaps, plan.start, plan.end]") == [
        [], ms(PLAN["start"]), ms(PLAN["end"]),
    ]  # fmt: skip


def test_a_stream_is_played_out_only_near_its_length() -> None:
    assert run("[0, 98.9, 99.1, 100].map((t) => c.playedOut(plan, t))") == [
        False, False, True, True,
    ]  # fmt: skip


def test_the_gap_between_a_stream_and_the_next() -> None:
    # The next one starts where this one ended (to the microsecond, as the API wrote it), or a
    # hole of at most a second later: they join. Later still: a gap, of this one's end reason.
    assert run("plan.endText") == PLAN["end"]
    end = ms(PLAN["end"])
    got = run(f"[0, 1000, 1001, 7500].map((d) => c.gapBetween(plan, {{ start: {end} + d }}))")
    assert got[:2] == [None, None]
    assert got[2:] == [
        {"start": end, "end": end + 1001, "seconds": 1.001, "reason": "segment_complete"},
        {"start": end, "end": end + 7500, "seconds": 7.5, "reason": "segment_complete"},
    ]
    unknown = run(f"c.gapBetween({{ ...plan, endReason: null }}, {{ start: {end} + 5000 }})")
    assert unknown["reason"] == "unknown"


def test_hms() -> None:
    assert run("[0, 5, 5.4, 59.6, 3725.4, 360000, -1].map(c.hms)") == [
        "00:00:00", "00:00:05", "00:00:05", "00:01:00", "01:02:05", "100:00:00", "00:00:00",
    ]  # fmt: skip
