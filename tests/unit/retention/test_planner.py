"""The retention planner: pure, table-driven, every input built by hand around a fixed `now`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from vmsd.retention.planner import (
    CameraRules,
    CameraSegments,
    Candidate,
    Plan,
    RootUsage,
    Rule,
    plan_retention,
    watermarks,
)

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
HOUR = 3600.0
R1, R2 = "/srv/rec1", "/srv/rec2"


def seg(
    id_: int,
    camera: str = "a",
    *,
    start_h: float,
    length_h: float = 1.0,
    size: int = 100,
    root: str = R1,
) -> Candidate:
    """A segment that started `start_h` hours before NOW and lasted `length_h` hours."""
    start = NOW - timedelta(hours=start_h)
    return Candidate(id_, camera, root, start, start + timedelta(hours=length_h), size)


def cam(*segments: Candidate, total: int | None = None, complete: bool = True) -> CameraSegments:
    return CameraSegments(
        list(segments),
        sum(s.bytes for s in segments) if total is None else total,
        complete,
    )


def usage(free: int, low: int, target: int, total: int = 10_000) -> RootUsage:
    return RootUsage(total, free, low, target)


def chosen(plan: Plan) -> list[tuple[int, Rule]]:
    return [(d.segment.id, d.rule) for d in plan.deletions]


def ids(plan: Plan) -> list[int]:
    return [d.segment.id for d in plan.deletions]


def series(
    camera: str, first_id: int, starts_h: Sequence[float], *, root: str = R1
) -> list[Candidate]:
    """Consecutive ids, one-hour segments of 100 bytes; `starts_h` oldest first."""
    return [seg(first_id + i, camera, start_h=h, root=root) for i, h in enumerate(starts_h)]


# --- max_age -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_age_h", "complete", "expected", "more"),
    [
        # Segments end 9 h, 4 h, 2 h and 0 h before NOW.
        (3.0, True, [1, 2], False),
        (0.5, True, [1, 2, 3], False),
        (10.0, True, [], False),
        (4.0, True, [1], False),  # ended exactly at the cutoff: not *before* it, kept
        # Every candidate of an incomplete batch was old enough: there may be more.
        (0.0, False, [1, 2, 3], True),
        (3.0, False, [1, 2], False),  # a young one seen: nothing older is hidden
    ],
)
def test_max_age(max_age_h: float, complete: bool, expected: list[int], more: bool) -> None:
    segments = [seg(1, start_h=10), seg(2, start_h=5), seg(3, start_h=3), seg(4, start_h=1)]
    if not complete:
        segments = segments[:3]
    plan = plan_retention(
        {"a": cam(*segments, complete=complete)},
        {"a": CameraRules(max_age_s=max_age_h * HOUR)},
        {},
        NOW,
    )
    assert chosen(plan) == [(i, Rule.MAX_AGE) for i in expected]
    assert plan.more is more


@pytest.mark.parametrize("years", [2_100, 10_000, 10**9])
def test_a_max_age_beyond_the_calendar_deletes_nothing(years: int) -> None:
    """The config takes such ages (a 9-digit duration): the pass must not overflow."""
    plan = plan_retention(
        {"a": cam(*series("a", 1, [10, 5]))},
        {"a": CameraRules(max_age_s=years * 365 * 24 * HOUR)},
        {},
        NOW,
    )
    assert chosen(plan) == []


def test_max_age_is_per_camera() -> None:
    plan = plan_retention(
        {
            "a": cam(*series("a", 1, [10, 5])),
            "b": cam(*series("b", 11, [10, 5])),
        },
        {"a": CameraRules(max_age_s=3 * HOUR), "b": CameraRules(max_age_s=6 * HOUR)},
        {},
        NOW,
    )
    assert chosen(plan) == [(1, Rule.MAX_AGE), (11, Rule.MAX_AGE), (2, Rule.MAX_AGE)]


# --- max_bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_bytes", "total", "complete", "expected", "more"),
    [
        (750, None, True, [1, 2, 3], False),  # 1000 -> 700
        (700, None, True, [1, 2, 3], False),  # exactly at the limit is within it
        (699, None, True, [1, 2, 3, 4], False),
        (1000, None, True, [], False),
        (0, None, True, list(range(1, 11)), False),  # all of it; nothing more exists
        # The camera holds 5000 bytes, the batch shows 1000 of them.
        # The whole batch went and 4000 bytes are still over 3000: another batch is due.
        (3000, 5000, False, list(range(1, 11)), True),
        (4500, 5000, False, [1, 2, 3, 4, 5], False),  # reached inside the batch
    ],
)
def test_max_bytes(
    max_bytes: int, total: int | None, complete: bool, expected: list[int], more: bool
) -> None:
    segments = series("a", 1, [20 - i for i in range(10)])
    plan = plan_retention(
        {"a": cam(*segments, total=total, complete=complete)},
        {"a": CameraRules(max_bytes=max_bytes)},
        {},
        NOW,
    )
    assert chosen(plan) == [(i, Rule.MAX_BYTES) for i in expected]
    assert plan.more is more


def test_max_bytes_counts_what_age_already_chose() -> None:
    segments = series("a", 1, [10, 9, 8, 1.5])
    plan = plan_retention(
        {"a": cam(*segments)},  # 400 bytes
        {"a": CameraRules(max_age_s=7.5 * HOUR, max_bytes=150)},
        {},
        NOW,
    )
    # Age takes 1 and 2 (they ended 9 h and 8 h ago; 3 ended 7 h ago); bytes then sees
    # 200 left and takes 3 to get down to 100.
    assert chosen(plan) == [(1, Rule.MAX_AGE), (2, Rule.MAX_AGE), (3, Rule.MAX_BYTES)]


# --- min_free (watermarks) -----------------------------------------------------------------


def _two_roots() -> dict[str, CameraSegments]:
    # a and b share R1 with interleaved times; c is alone on R2 and has the oldest footage.
    return {
        "a": cam(*series("a", 1, [9, 7, 5, 3])),
        "b": cam(*series("b", 11, [8, 6, 4, 2])),
        "c": cam(*series("c", 21, [50, 40, 30], root=R2)),
    }


@pytest.mark.parametrize(
    ("free", "low", "target", "expected"),
    [
        (100, 200, 350, [1, 11, 2]),  # 100 -> 400 >= 350: oldest first across a and b
        (100, 200, 400, [1, 11, 2]),  # reaching the target exactly is enough
        (100, 200, 401, [1, 11, 2, 12]),
        (199, 200, 400, [1, 11, 2]),  # just below low: delete up to the target
        (200, 200, 400, []),  # at the low watermark: not below it
        (5000, 200, 400, []),
        (0, 0, 400, []),  # no low watermark: no rule, however full
        (100, 200, 200, [1]),  # target == low: per segment
        (0, 10_000, 10_000, [1, 11, 2, 12, 3, 13, 4, 14]),  # everything, still short
    ],
)
def test_min_free_on_one_root(free: int, low: int, target: int, expected: list[int]) -> None:
    plan = plan_retention(
        _two_roots(),
        {},
        {R1: usage(free, low, target), R2: usage(5000, 200, 400)},
        NOW,
    )
    assert chosen(plan) == [(i, Rule.MIN_FREE) for i in expected]
    assert plan.more is False  # every camera's list is complete


def test_min_free_each_root_on_its_own() -> None:
    plan = plan_retention(
        _two_roots(),
        {},
        {R1: usage(150, 200, 300), R2: usage(50, 200, 300)},
        NOW,
    )
    assert sorted(ids(plan)) == [1, 11, 21, 22, 23]  # R2: 50 -> 350; R1: 150 -> 350


def test_min_free_leaves_roots_without_usage_alone() -> None:
    # R2 not measured (not mounted): its segments are never chosen for free space.
    plan = plan_retention(_two_roots(), {}, {R1: usage(150, 200, 300)}, NOW)
    assert ids(plan) == [1, 11]


def test_min_free_only_takes_a_cameras_segments_on_that_root() -> None:
    # A camera moved between roots: its old segments on R2 do not free space on R1.
    cameras = {"a": cam(seg(1, start_h=9, root=R2), seg(2, start_h=8), seg(3, start_h=7))}
    plan = plan_retention(cameras, {}, {R1: usage(0, 100, 100), R2: usage(5000, 100, 100)}, NOW)
    assert chosen(plan) == [(2, Rule.MIN_FREE)]


# --- all rules together --------------------------------------------------------------------


def test_each_deletion_is_attributed_to_the_first_rule_that_chose_it() -> None:
    cameras = {
        # a: 6 segments of 100; 1 and 2 are over 7.5 h old.
        "a": cam(*series("a", 1, [10, 9, 7, 6, 4, 2])),
        # b: no rules of its own, interleaved with a on R1.
        "b": cam(*series("b", 11, [9.5, 6.5, 3.5])),
    }
    rules = {"a": CameraRules(max_age_s=7.5 * HOUR, max_bytes=300)}
    # R1 has 50 free, low 400, target 600. Age takes 1 and 2, bytes then 3 (600 -> 300):
    # 300 freed on R1 -> 350, still below low -> min_free goes on, oldest first across a and
    # b, skipping what is already chosen: 11 (450), 12 (550), 4 (650 >= 600).
    plan = plan_retention(cameras, rules, {R1: usage(50, 400, 600)}, NOW)
    assert chosen(plan) == [
        (1, Rule.MAX_AGE),
        (11, Rule.MIN_FREE),
        (2, Rule.MAX_AGE),
        (3, Rule.MAX_BYTES),
        (12, Rule.MIN_FREE),
        (4, Rule.MIN_FREE),
    ]
    # In deletion order: oldest first.
    starts = [d.segment.start for d in plan.deletions]
    assert starts == sorted(starts)
    assert plan.more is False


def test_min_free_counts_bytes_age_and_bytes_already_freed_on_that_root() -> None:
    cameras = {"a": cam(*series("a", 1, [10, 9, 2, 1.5]))}
    rules = {"a": CameraRules(max_age_s=5 * HOUR)}
    # Free 150 < low 200, but age frees 200 on R1: 350 >= low, no free-space deletion.
    plan = plan_retention(cameras, rules, {R1: usage(150, 200, 400)}, NOW)
    assert chosen(plan) == [(1, Rule.MAX_AGE), (2, Rule.MAX_AGE)]


def test_min_free_does_not_count_bytes_freed_on_another_root() -> None:
    cameras = {
        "a": cam(*series("a", 1, [10, 9], root=R2)),
        "b": cam(*series("b", 11, [8, 2])),
    }
    rules = {"a": CameraRules(max_age_s=5 * HOUR)}
    plan = plan_retention(
        cameras, rules, {R1: usage(150, 200, 250), R2: usage(5000, 200, 250)}, NOW
    )
    assert chosen(plan) == [(1, Rule.MAX_AGE), (2, Rule.MAX_AGE), (11, Rule.MIN_FREE)]


# --- pinned --------------------------------------------------------------------------------


def test_pinned_segments_are_never_chosen_by_age() -> None:
    plan = plan_retention(
        {"a": cam(*series("a", 1, [10, 9, 8, 1]))},
        {"a": CameraRules(max_age_s=5 * HOUR)},
        {},
        NOW,
        pinned=frozenset({2}),
    )
    assert ids(plan) == [1, 3]


def test_pinned_segments_are_skipped_and_the_next_one_taken_by_bytes() -> None:
    plan = plan_retention(
        {"a": cam(*series("a", 1, [10, 9, 8, 7, 6]))},
        {"a": CameraRules(max_bytes=300)},
        {},
        NOW,
        pinned=frozenset({1}),
    )
    # 500 -> 300 needs two segments; 1 is pinned (its bytes stay), so 2 and 3 go.
    assert chosen(plan) == [(2, Rule.MAX_BYTES), (3, Rule.MAX_BYTES)]


def test_pinned_segments_are_skipped_and_the_next_one_taken_for_free_space() -> None:
    plan = plan_retention(
        _two_roots(),
        {},
        {R1: usage(100, 200, 300)},
        NOW,
        pinned=frozenset({1, 2}),
    )
    assert chosen(plan) == [(11, Rule.MIN_FREE), (12, Rule.MIN_FREE)]


def test_everything_pinned_chooses_nothing() -> None:
    cameras = {"a": cam(*series("a", 1, [10, 9]))}
    plan = plan_retention(
        cameras,
        {"a": CameraRules(max_age_s=HOUR, max_bytes=0)},
        {R1: usage(0, 500, 500)},
        NOW,
        pinned=frozenset({1, 2}),
    )
    assert plan.deletions == []
    assert plan.more is False


# --- cameras without rules, ties -----------------------------------------------------------


def test_a_camera_without_rules_loses_nothing_to_age_or_bytes() -> None:
    cameras = {
        "a": cam(*series("a", 1, [100, 90])),
        "b": cam(*series("b", 11, [100, 90])),
        "gone": cam(*series("gone", 21, [100, 90])),  # a deleted camera: no rules entry
    }
    plan = plan_retention(
        cameras,
        {"a": CameraRules(max_age_s=HOUR, max_bytes=0), "b": CameraRules()},
        {R1: usage(5000, 200, 300)},
        NOW,
    )
    assert ids(plan) == [1, 2]


def test_a_camera_without_rules_still_gives_way_to_free_space() -> None:
    cameras = {"gone": cam(*series("gone", 21, [100, 90]))}
    plan = plan_retention(cameras, {}, {R1: usage(0, 100, 100)}, NOW)
    assert chosen(plan) == [(21, Rule.MIN_FREE)]


def test_ties_in_start_time_are_broken_by_id() -> None:
    same = 5.0
    cameras = {
        "a": cam(seg(7, "a", start_h=same), seg(8, "a", start_h=1)),
        "b": cam(seg(4, "b", start_h=same), seg(9, "b", start_h=1)),
        "c": cam(seg(5, "c", start_h=same)),
    }
    plan = plan_retention(cameras, {}, {R1: usage(0, 100, 200)}, NOW)
    assert ids(plan) == [4, 5]  # of 7, 4 and 5 (same start) the two lowest ids
    everything = plan_retention(cameras, {}, {R1: usage(0, 10_000, 10_000)}, NOW)
    assert ids(everything) == [4, 5, 7, 8, 9]


def test_plan_is_ordered_oldest_first_then_by_id() -> None:
    cameras = {
        "a": cam(seg(30, "a", start_h=3), seg(31, "a", start_h=2)),
        "b": cam(seg(40, "b", start_h=4), seg(3, "b", start_h=3)),
    }
    plan = plan_retention(
        cameras,
        {"a": CameraRules(max_age_s=0), "b": CameraRules(max_age_s=0)},
        {},
        NOW,
    )
    assert ids(plan) == [40, 3, 30, 31]


# --- more ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cameras", "rules", "roots", "more"),
    [
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9]), complete=False)},
            {"a": CameraRules(max_age_s=HOUR)},
            {},
            True,
            id="age-used-up-the-batch",
        ),
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9]), complete=True)},
            {"a": CameraRules(max_age_s=HOUR)},
            {},
            False,
            id="age-took-everything-there-is",
        ),
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9]), total=1000, complete=False)},
            {"a": CameraRules(max_bytes=500)},
            {},
            True,
            id="bytes-still-over-after-the-batch",
        ),
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9]), total=600, complete=False)},
            {"a": CameraRules(max_bytes=400)},
            {},
            False,
            id="bytes-within-the-limit-inside-the-batch",
        ),
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9]), complete=False)},
            {},
            {R1: usage(0, 500, 500)},
            True,
            id="free-space-short-after-the-batch",
        ),
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9]), complete=True)},
            {},
            {R1: usage(0, 500, 500)},
            False,
            id="free-space-short-but-nothing-left",
        ),
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9, 8]), complete=False)},
            {},
            {R1: usage(0, 200, 200)},
            False,
            id="free-space-reached-inside-the-batch",
        ),
        pytest.param(
            {"a": cam(*series("a", 1, [10, 9]), complete=False)},
            {"a": CameraRules(max_age_s=100 * HOUR, max_bytes=10**9)},
            {R1: usage(5000, 500, 500)},
            False,
            id="nothing-due",
        ),
    ],
)
def test_more(
    cameras: dict[str, CameraSegments],
    rules: dict[str, CameraRules],
    roots: dict[str, RootUsage],
    more: bool,
) -> None:
    assert plan_retention(cameras, rules, roots, NOW).more is more


def test_min_free_stops_where_an_incomplete_batch_runs_out() -> None:
    """Oldest first, always: camera a's batch shows one segment (10 h old) of many; its next,
    unseen segments may be older than anything of b's. The merge is exact only up to the end
    of a's batch: the pass must stop there and ask for another (more=True), not take b's newer
    segments instead."""
    cameras = {
        "a": cam(seg(1, "a", start_h=10), total=10_000, complete=False),
        "b": cam(*series("b", 11, [5, 4, 3])),
    }
    plan = plan_retention(cameras, {}, {R1: usage(0, 300, 300)}, NOW)
    assert ids(plan) == [1]
    assert plan.more is True


# --- watermarks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "min_pct", "min_bytes", "target_pct", "expected"),
    [
        (1000, 5.0, None, 8.0, (50, 80)),
        (1000, 5.0, 100, 8.0, (100, 100)),  # bytes above the percent; target never below low
        (1000, 5.0, 10, 8.0, (50, 80)),  # the larger of percent and bytes
        (1000, None, 100, None, (100, 100)),
        (1000, None, 100, 20.0, (100, 200)),
        (1000, 10.0, None, 5.0, (100, 100)),  # a target below low is raised to low
        (1000, 10.0, None, None, (100, 100)),
        (1000, None, None, None, (0, 0)),  # no rule
        (1000, 0.0, 0, 0.0, (0, 0)),
        (1000, None, None, 8.0, (0, 80)),  # low 0: no rule, whatever the target
        (1001, 33.3, None, 66.6, (333, 666)),  # truncated to whole bytes
        (40 * 2**20, 30.0, None, 40.0, (12_582_912, 16_777_216)),
    ],
)
def test_watermarks(
    total: int,
    min_pct: float | None,
    min_bytes: int | None,
    target_pct: float | None,
    expected: tuple[int, int],
) -> None:
    assert watermarks(total, min_pct, min_bytes, target_pct) == expected


def test_no_low_watermark_means_no_free_space_rule() -> None:
    low, target = watermarks(1000, None, None, 8.0)
    plan = plan_retention(
        {"a": cam(*series("a", 1, [10, 9]))}, {}, {R1: usage(0, low, target, 1000)}, NOW
    )
    assert plan.deletions == []
