"""The retention planner. Pure: candidate segments + usage + rules -> what to delete, and the
rule that chose each. Oldest first, always; a segment goes when any rule says so.

Rules:
- `max_age`: a camera's segments that ended before now - max_age;
- `max_bytes`: a camera's oldest segments until what is left fits in max_bytes;
- `min_free`: on a storage root below its low watermark, the oldest segments across every camera
  on that root until free space reaches the high watermark (so it does not run per segment).

Candidates are each camera's oldest segments (a bounded batch per pass, with the camera's
total bytes); a pass that uses a whole batch is followed by another. Pinned segments (an
export reading them) are never chosen.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Rule(StrEnum):
    MAX_AGE = "max_age"
    MAX_BYTES = "max_bytes"
    MIN_FREE = "min_free"


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    camera: str
    root: str
    start: datetime
    end: datetime
    bytes: int


@dataclass(frozen=True, slots=True)
class CameraRules:
    max_age_s: float | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class CameraSegments:
    """A camera's oldest segments (oldest first), and the total bytes of all its segments."""

    oldest: Sequence[Candidate]
    total_bytes: int
    complete: bool  # `oldest` holds every segment of the camera


@dataclass(frozen=True, slots=True)
class RootUsage:
    total_bytes: int
    free_bytes: int
    low_free_bytes: int  # below this, delete...
    target_free_bytes: int  # ...until this much is free


@dataclass(frozen=True, slots=True)
class Deletion:
    segment: Candidate
    rule: Rule


@dataclass(frozen=True, slots=True)
class Plan:
    deletions: Sequence[Deletion]
    # More may be due than the candidates showed (a batch used up): run again at once.
    more: bool


def watermarks(
    total_bytes: int,
    min_free_percent: float | None,
    min_free_bytes: int | None,
    target_free_percent: float | None,
) -> tuple[int, int]:
    """(low, target) free-space watermarks in bytes for one filesystem; 0 means no rule."""
    low = max(
        int(total_bytes * (min_free_percent or 0) / 100),
        min_free_bytes or 0,
    )
    target = max(low, int(total_bytes * (target_free_percent or 0) / 100))
    return low, target


def plan_retention(
    cameras: Mapping[str, CameraSegments],
    rules: Mapping[str, CameraRules],
    roots: Mapping[str, RootUsage],
    now: datetime,
    pinned: frozenset[int] = frozenset(),
) -> Plan:
    chosen: dict[int, Deletion] = {}
    more = False
    for camera, segments in cameras.items():
        rule = rules.get(camera, CameraRules())
        more |= _by_age(segments, rule, now, pinned, chosen)
        more |= _by_bytes(camera, segments, rule, pinned, chosen)
    freed_on: dict[str, int] = {}
    for deletion in chosen.values():
        root = deletion.segment.root
        freed_on[root] = freed_on.get(root, 0) + deletion.segment.bytes
    for root, usage in roots.items():
        more |= _by_free_space(root, usage, cameras, pinned, chosen, freed_on.get(root, 0))
    ordered = sorted(chosen.values(), key=lambda d: (d.segment.start, d.segment.id))
    return Plan(ordered, more)


def _by_age(
    segments: CameraSegments,
    rule: CameraRules,
    now: datetime,
    pinned: frozenset[int],
    chosen: dict[int, Deletion],
) -> bool:
    if rule.max_age_s is None:
        return False
    if rule.max_age_s >= (now - datetime.min.replace(tzinfo=now.tzinfo)).total_seconds():
        return False  # older than the calendar (max_age: 10000y): nothing is ever that old
    cutoff = now - timedelta(seconds=rule.max_age_s)
    for segment in segments.oldest:
        if segment.end >= cutoff:
            return False
        if segment.id not in pinned:
            chosen.setdefault(segment.id, Deletion(segment, Rule.MAX_AGE))
    return not segments.complete  # every candidate was old enough: there may be more


def _by_bytes(
    camera: str,
    segments: CameraSegments,
    rule: CameraRules,
    pinned: frozenset[int],
    chosen: dict[int, Deletion],
) -> bool:
    if rule.max_bytes is None:
        return False
    remaining = segments.total_bytes - sum(
        d.segment.bytes for d in chosen.values() if d.segment.camera == camera
    )
    for segment in segments.oldest:
        if remaining <= rule.max_bytes:
            return False
        if segment.id in pinned or segment.id in chosen:
            continue
        chosen[segment.id] = Deletion(segment, Rule.MAX_BYTES)
        remaining -= segment.bytes
    return remaining > rule.max_bytes and not segments.complete


def _by_free_space(
    root: str,
    usage: RootUsage,
    cameras: Mapping[str, CameraSegments],
    pinned: frozenset[int],
    chosen: dict[int, Deletion],
    already_freed: int,
) -> bool:
    free = usage.free_bytes + already_freed
    if usage.low_free_bytes <= 0 or free >= usage.low_free_bytes:
        return False
    # Oldest first across every camera on this root: a merge of the cameras' oldest lists. A
    # camera whose batch was cut short may have older segments than the rest of the merge past
    # its last candidate: the merge stops there, and the next pass goes on.
    streams = [[s for s in c.oldest if s.root == root] for c in cameras.values()]
    horizon = min(
        (
            (stream[-1].start, stream[-1].id)
            for c, stream in zip(cameras.values(), streams, strict=True)
            if stream and not c.complete
        ),
        default=None,
    )
    for segment in heapq.merge(*streams, key=lambda s: (s.start, s.id)):
        if free >= usage.target_free_bytes:
            return False
        if horizon is not None and (segment.start, segment.id) > horizon:
            return True
        if segment.id in pinned or segment.id in chosen:
            continue
        chosen[segment.id] = Deletion(segment, Rule.MIN_FREE)
        free += segment.bytes
    return free < usage.target_free_bytes and horizon is not None
