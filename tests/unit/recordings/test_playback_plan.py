"""The playback planner: which segments a range reads, where its stream starts (the keyframe
the shell found), the gaps it skips with their reasons and their places in stream time; and
the keyframe read from FFmpeg's framecrc output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vmsd.recordings.playback import (
    PlaybackPlan,
    build_playback,
    parse_keyframe_s,
    playable,
    seek_offset_s,
    segment_end,
)
from vmsd.store.recordings import EndReason, RecordingRow

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
C, LOST, CRASH = EndReason.SEGMENT_COMPLETE, EndReason.SOURCE_LOST, EndReason.RECORDER_CRASHED


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _rows(*spans: tuple[float, float, EndReason]) -> list[RecordingRow]:
    return [
        RecordingRow(i + 1, "cam", f"/r/cam/{i}.mp4", _t(a), _t(b), b - a, 1, reason)
        for i, (a, b, reason) in enumerate(spans)
    ]


# 0-10, 10-20, (30 s lost) 50-60, 60-70, (5 s crash) 75-85, and a hole of 0.5 s: no gap.
ROWS = _rows(
    (0, 10, C), (10, 20, LOST), (50, 60, C), (60, 70, CRASH), (75, 85, C), (85.5, 95, C)
)


def _plan(start: float, end: float, keyframe_s: float) -> tuple[list[RecordingRow], PlaybackPlan]:
    rows = playable(ROWS, _t(start), _t(end))
    return rows, build_playback(rows, _t(end), keyframe_s)


def test_playable_rows_hold_some_of_the_range() -> None:
    assert [r.id for r in playable(ROWS, _t(15), _t(55))] == [2, 3]
    assert [r.id for r in playable(list(reversed(ROWS)), _t(5), _t(12))] == [1, 2]
    assert playable(ROWS, _t(20), _t(50)) == []  # inside the lost 30 s
    assert playable(ROWS, _t(95), _t(99)) == []  # a segment ending at the range's start


def test_seek_offset_inside_the_first_segment() -> None:
    assert seek_offset_s(ROWS[1], _t(13.5)) == 3.5
    assert seek_offset_s(ROWS[2], _t(30)) == 0.0  # the range starts inside a gap


def test_stream_starts_at_the_keyframe_and_skips_the_gaps() -> None:
    rows, plan = _plan(13.5, 80, keyframe_s=3.0)  # the keyframe before 13.5 is at 13
    assert [r.id for r in rows] == [2, 3, 4, 5]
    assert plan.first_frame == _t(13)
    assert plan.recorded_until == _t(80)
    assert plan.segment_ids == (2, 3, 4, 5)
    # 13-20, 50-70, 75-80: 7 + 20 + 5 s.
    assert plan.covered_s == pytest.approx(32.0)
    assert [(g.start, g.end, g.reason, g.at_s) for g in plan.gaps] == [
        (_t(20), _t(50), LOST, pytest.approx(7.0)),
        (_t(70), _t(75), CRASH, pytest.approx(27.0)),
    ]
    assert plan.script.splitlines() == [
        "ffconcat version 1.0",
        "file '/r/cam/1.mp4'",
        "inpoint 3.000000",
        "file '/r/cam/2.mp4'",
        "file '/r/cam/3.mp4'",
        "file '/r/cam/4.mp4'",
        "outpoint 5.000000",
    ]


def test_a_hole_below_a_second_is_no_gap_and_the_trailing_gap_is_no_gap() -> None:
    _, plan = _plan(80, 200, keyframe_s=4.0)
    assert plan.first_frame == _t(79)
    assert plan.gaps == ()  # 85-85.5 is merged, 95-200 is after the stream's end
    assert plan.recorded_until == _t(95)
    assert plan.covered_s == pytest.approx(6.0 + 9.5)


def test_a_range_starting_in_a_gap_starts_at_the_next_recording() -> None:
    _, plan = _plan(30, 55, keyframe_s=0.0)
    assert plan.first_frame == _t(50)
    assert plan.gaps == ()
    assert plan.covered_s == pytest.approx(5.0)


def test_a_stream_to_the_segment_end_is_followed_exactly_by_the_next() -> None:
    rows = playable(ROWS, _t(3), _t(8.2))
    end = segment_end(rows, _t(8.2))
    assert end == _t(10)  # on to the end of the segment holding 8.2
    plan = build_playback(rows, end, keyframe_s=2.0)
    assert (plan.recorded_until, plan.end_reason) == (_t(10), C)
    assert "outpoint" not in plan.script  # played out
    # The next stream, from that end, starts on the first keyframe of the next segment.
    after = playable(ROWS, plan.recorded_until, plan.recorded_until + timedelta(seconds=5))
    assert after[0].id == 2 and seek_offset_s(after[0], plan.recorded_until) == 0.0
    # Into a gap: the stream ends with the recording, and says why it stopped.
    rows = playable(ROWS, _t(13), _t(14.2))
    assert build_playback(rows, segment_end(rows, _t(14.2)), 3.0).end_reason == LOST
    # A range ending in a gap, or past what is recorded, stays where it is.
    assert segment_end(playable(ROWS, _t(15), _t(30)), _t(30)) == _t(30)
    assert segment_end(playable(ROWS, _t(90), _t(99)), _t(99)) == _t(99)


def test_the_end_reason_is_told_only_when_the_last_segment_is_played_out() -> None:
    assert _plan(13.5, 80, keyframe_s=3.0)[1].end_reason is None  # ends inside 75-85
    assert _plan(80, 200, keyframe_s=4.0)[1].end_reason == C  # 85.5-95 played out
    assert _plan(61, 72, keyframe_s=0.0)[1].end_reason == CRASH  # ends in the crash's gap


@pytest.mark.parametrize(("keyframe_s", "first"), [(-1.0, 0.0), (99.0, 10.0)])
def test_a_keyframe_outside_the_segment_is_clamped_to_it(keyframe_s: float, first: float) -> None:
    _, plan = _plan(0, 5, keyframe_s)
    assert plan.first_frame == _t(first)


FRAMECRC = """#extradata 0:       37, 0xd39d0a62
#software: Lavf59.27.100
#tb 0: 1/10240
#media_type 0: video
#codec_id 0: h264
0,      20695,      20695,     1024,    11063, 0x3c4486e4
"""


def test_the_keyframe_is_the_first_packets_pts() -> None:
    assert parse_keyframe_s(FRAMECRC) == pytest.approx(20695 / 10240)
    assert parse_keyframe_s(FRAMECRC.replace("1/10240", "1001/30000")) == pytest.approx(
        20695 * 1001 / 30000
    )


@pytest.mark.parametrize(
    "text", ["", "#tb 0: 1/10240\n", "0, 1, 2, 3, 4, 0x0\n", "#tb 0: 1/0\n0, 1, 2, 3, 4, 0\n"]
)
def test_no_packet_no_keyframe(text: str) -> None:
    assert parse_keyframe_s(text) is None
