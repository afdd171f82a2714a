"""The plan of a playback: which segments a range reads, where in the first one the stream
starts (a keyframe), the gaps it skips with what caused them, and where each gap falls in the
stream's own time. The concat script and the gaps come from the export planner
(vmsd.exports.plan.build_concat): a playback is an export streamed. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from vmsd.exports.plan import build_concat
from vmsd.store.recordings import EndReason, RecordingRow


@dataclass(frozen=True, slots=True)
class PlaybackGap:
    """A hole the stream skips: no jump in its timestamps, so the player adds `seconds` to
    its wall clock when its own time reaches `at_s`."""

    start: datetime
    end: datetime
    reason: EndReason  # what ended the segment before it, as on the timeline
    at_s: float  # stream time at which the gap is skipped


@dataclass(frozen=True, slots=True)
class PlaybackPlan:
    script: str  # FFmpeg concat-demuxer script; its first inpoint is the keyframe
    first_frame: datetime  # wall clock of the stream's time 0
    recorded_until: datetime  # wall clock of the stream's end (at most the range's end)
    gaps: tuple[PlaybackGap, ...]
    covered_s: float  # the stream's length
    segment_ids: tuple[int, ...]  # what it reads, in order
    # What ended its last segment when the stream plays that one to its end (a stream that
    # goes on from here may start after a gap of this reason); None when the range ends first.
    end_reason: EndReason | None


def playable(rows: Sequence[RecordingRow], start: datetime, end: datetime) -> list[RecordingRow]:
    """The rows a range reads: those holding some time of [start, end), in start order."""
    return sorted(
        (r for r in rows if r.start < end and start < r.start + timedelta(seconds=r.duration_s)),
        key=lambda r: (r.start, r.id),
    )


def seek_offset_s(first: RecordingRow, start: datetime) -> float:
    """Where `start` falls in the first segment (0 when it starts later)."""
    return max(0.0, (start - first.start).total_seconds())


def segment_end(rows: Sequence[RecordingRow], end: datetime) -> datetime:
    """`end` moved on to the end of the segment that holds it: a stream cut there is followed
    seamlessly by one that starts there, since the next segment starts with a keyframe."""
    return max([end, *(r.end for r in rows)])


def build_playback(
    rows: Sequence[RecordingRow], end: datetime, keyframe_s: float
) -> PlaybackPlan:
    """The plan for `rows` (playable, non-empty) up to `end`, the stream starting at the
    keyframe `keyframe_s` seconds into the first row (found by reading it)."""
    first, last = rows[0], max(rows, key=lambda r: (r.end, r.id))
    # Up to the next microsecond: the concat demuxer seeks to the keyframe at or before its
    # inpoint, and one rounded below the keyframe's time would land on the keyframe before.
    keyframe_s = min(max(math.ceil(keyframe_s * 1e6) / 1e6, 0.0), first.duration_s)
    first_frame = first.start + timedelta(seconds=keyframe_s)
    concat = build_concat(rows, first_frame, end)
    recorded_until = min(end, max(r.end for r in rows))
    gaps = []
    for gap in concat.gaps:
        if gap.end >= end:  # the range reaches past the recording: the stream just ends
            continue
        # A gap inside the stream starts where some row ends (build_concat's recorded_until).
        before = [r for r in rows if r.end <= gap.start]
        at_s = sum(_covered_s(r, first_frame, end) for r in before)
        reason = max(before, key=lambda r: r.end).end_reason
        gaps.append(PlaybackGap(gap.start, gap.end, reason, at_s))
    return PlaybackPlan(
        script=concat.script,
        first_frame=first_frame,
        recorded_until=recorded_until,
        gaps=tuple(gaps),
        covered_s=concat.covered_s,
        segment_ids=tuple(r.id for r in rows),
        end_reason=last.end_reason if last.end <= end else None,
    )


def _covered_s(row: RecordingRow, start: datetime, end: datetime) -> float:
    """What of the row the stream holds (as build_concat cuts it)."""
    inpoint = max(0.0, (start - row.start).total_seconds())
    outpoint = min(row.duration_s, (end - row.start).total_seconds())
    return max(0.0, outpoint - inpoint)


# FFmpeg's framecrc muxer: `#tb 0: 1/10240` then `0, dts, pts, duration, size, crc`.
_TIME_BASE = re.compile(r"^#tb 0: (\d+)/(\d+)$", re.MULTILINE)
_PACKET = re.compile(r"^0,\s*(-?\d+),\s*(-?\d+),", re.MULTILINE)


def parse_keyframe_s(framecrc: str) -> float | None:
    """The first packet's pts in seconds from FFmpeg's framecrc output (the keyframe an input
    seek with -copyts lands on); None when there is none."""
    base, packet = _TIME_BASE.search(framecrc), _PACKET.search(framecrc)
    if base is None or packet is None or int(base.group(2)) == 0:
        return None
    return int(packet.group(2)) * int(base.group(1)) / int(base.group(2))
