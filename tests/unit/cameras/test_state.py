"""CameraStates: the live state machine, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vmsd.cameras.model import Camera, camera_from_config
from vmsd.cameras.state import (
    CameraError,
    CameraState,
    CameraStates,
    KnownState,
    LiveState,
    Transition,
)
from vmsd.config.cameras import CameraConfig

UNKNOWN, ONLINE, OFFLINE, DISABLED = (
    CameraState.UNKNOWN,
    CameraState.ONLINE,
    CameraState.OFFLINE,
    CameraState.DISABLED,
)
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def camera(name: str, *, enabled: bool = True) -> Camera:
    config = CameraConfig(name=name, source="rtsp://10.0.0.5/stream", enabled=enabled)
    return camera_from_config(config, "config")


def registry(*cameras: Camera) -> dict[str, Camera]:
    return {c.name: c for c in cameras}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def states(clock: FakeClock) -> CameraStates:
    return CameraStates(clock=clock)


# --- sync ----------------------------------------------------------------------------------


def test_new_cameras_start_unknown_without_a_transition(states: CameraStates) -> None:
    assert states.sync(registry(camera("a"), camera("b"))) == []
    assert states.all() == {"a": LiveState(UNKNOWN, T0), "b": LiveState(UNKNOWN, T0)}


def test_new_disabled_camera_is_a_transition(states: CameraStates) -> None:
    assert states.sync(registry(camera("a", enabled=False))) == [
        Transition("a", UNKNOWN, DISABLED, "disabled")
    ]
    assert states.get("a") == LiveState(DISABLED, T0, "disabled")


@pytest.mark.parametrize("before", [UNKNOWN, ONLINE, OFFLINE])
def test_disabling(states: CameraStates, clock: FakeClock, before: CameraState) -> None:
    states.sync(registry(camera("a")))
    if before is not UNKNOWN:
        states.report("a", before is ONLINE, "hook")
    later = clock.advance(30)
    assert states.sync(registry(camera("a", enabled=False))) == [
        Transition("a", before, DISABLED, "disabled")
    ]
    assert states.get("a") == LiveState(DISABLED, later, "disabled")
    assert states.sync(registry(camera("a", enabled=False))) == []  # still disabled: no-op
    assert states.get("a").since == later


def test_re_enabling(states: CameraStates, clock: FakeClock) -> None:
    states.sync(registry(camera("a", enabled=False)))
    later = clock.advance(60)
    assert states.sync(registry(camera("a"))) == [Transition("a", DISABLED, UNKNOWN, "enabled")]
    assert states.get("a") == LiveState(UNKNOWN, later, "enabled")
    assert states.sync(registry(camera("a"))) == []


def test_resync_keeps_live_state(states: CameraStates, clock: FakeClock) -> None:
    states.sync(registry(camera("a")))
    states.report("a", True, "hook_available")
    clock.advance(10)
    assert states.sync(registry(camera("a"))) == []
    assert states.get("a") == LiveState(ONLINE, T0, "hook_available")


@pytest.mark.parametrize(
    ("enabled", "report", "old"),
    [(True, None, UNKNOWN), (True, True, ONLINE), (True, False, OFFLINE), (False, None, DISABLED)],
)
def test_removed_cameras_are_forgotten(
    states: CameraStates, enabled: bool, report: bool | None, old: CameraState
) -> None:
    states.sync(registry(camera("a", enabled=enabled), camera("b")))
    if report is not None:
        states.report("a", report, "hook")
    assert states.sync(registry(camera("b"))) == [Transition("a", old, DISABLED, "removed")]
    assert set(states.all()) == {"b"}
    assert states.sync(registry(camera("b"))) == []
    # Reports for it are ignored from now on, and it comes back as new.
    assert states.report("a", True, "hook") == []
    assert states.sync(registry(camera("a"), camera("b"))) == []
    assert states.get("a").state is UNKNOWN


def test_sync_with_many_changes_at_once(states: CameraStates) -> None:
    states.sync(
        registry(camera("keep"), camera("off"), camera("gone"), camera("back", enabled=False))
    )
    transitions = states.sync(
        registry(camera("keep"), camera("off", enabled=False), camera("back"), camera("new"))
    )
    assert sorted(transitions, key=lambda t: t.camera) == [
        Transition("back", DISABLED, UNKNOWN, "enabled"),
        Transition("gone", UNKNOWN, DISABLED, "removed"),
        Transition("off", UNKNOWN, DISABLED, "disabled"),
    ]
    assert {n: s.state for n, s in states.all().items()} == {
        "keep": UNKNOWN,
        "off": DISABLED,
        "back": UNKNOWN,
        "new": UNKNOWN,
    }


# --- report --------------------------------------------------------------------------------

# (reports as (available, reason), expected transitions as (old, new, reason) per report)
REPORT_SEQUENCES = [
    pytest.param([(True, "hook_available")], [[(UNKNOWN, ONLINE, "hook_available")]], id="up"),
    pytest.param([(False, "poll")], [[(UNKNOWN, OFFLINE, "poll")]], id="down-first"),
    pytest.param(
        [(True, "hook_available"), (True, "poll"), (True, "hook_available")],
        [[(UNKNOWN, ONLINE, "hook_available")], [], []],
        id="repeated-up-is-idempotent",
    ),
    pytest.param(
        [(True, "a"), (False, "b"), (False, "c"), (True, "d")],
        [[(UNKNOWN, ONLINE, "a")], [(ONLINE, OFFLINE, "b")], [], [(OFFLINE, ONLINE, "d")]],
        id="flap",
    ),
]


@pytest.mark.parametrize(("reports", "expected"), REPORT_SEQUENCES)
def test_report_transitions(
    states: CameraStates,
    clock: FakeClock,
    reports: list[tuple[bool, str]],
    expected: list[list[tuple[CameraState, CameraState, str]]],
) -> None:
    states.sync(registry(camera("a")))
    since, reason = T0, ""
    for (available, why), want in zip(reports, expected, strict=True):
        now = clock.advance(5)
        got = states.report("a", available, why)
        assert got == [Transition("a", old, new, r) for old, new, r in want]
        if want:
            since, reason = now, why
        # A repeated report changes neither `since` nor `reason`.
        assert states.get("a") == LiveState(ONLINE if available else OFFLINE, since, reason)


def test_reports_for_unknown_cameras_are_ignored(states: CameraStates) -> None:
    states.sync(registry(camera("a")))
    assert states.report("ghost", True, "hook_available") == []
    assert states.report("ghost", False, "hook_unavailable") == []
    assert set(states.all()) == {"a"}


@pytest.mark.parametrize("available", [True, False])
def test_reports_for_disabled_cameras_are_ignored(states: CameraStates, available: bool) -> None:
    states.sync(registry(camera("a", enabled=False)))
    assert states.report("a", available, "hook") == []
    assert states.get("a") == LiveState(DISABLED, T0, "disabled")


def test_reports_before_sync_are_ignored(states: CameraStates) -> None:
    assert states.report("a", True, "hook_available") == []
    assert states.all() == {}


def test_other_cameras_unaffected(states: CameraStates) -> None:
    states.sync(registry(camera("a"), camera("b")))
    states.report("a", True, "hook_available")
    assert states.get("b") == LiveState(UNKNOWN, T0)


# --- get, all, update_stats ----------------------------------------------------------------


def test_get_unknown_name_is_unknown_now(states: CameraStates, clock: FakeClock) -> None:
    now = clock.advance(42)
    assert states.get("nobody") == LiveState(UNKNOWN, now)
    assert states.all() == {}  # and it is not remembered


def test_all_is_a_snapshot(states: CameraStates) -> None:
    states.sync(registry(camera("a")))
    snapshot = states.all()
    states.report("a", True, "hook_available")
    assert snapshot["a"].state is UNKNOWN


def test_update_stats(states: CameraStates, clock: FakeClock) -> None:
    states.sync(registry(camera("a")))
    states.report("a", True, "hook_available")
    clock.advance(5)
    states.update_stats("a", 3, 123_456)
    assert states.get("a") == LiveState(ONLINE, T0, "hook_available", 3, 123_456)
    states.update_stats("a", 0, 200_000)
    assert states.get("a") == LiveState(ONLINE, T0, "hook_available", 0, 200_000)


def test_update_stats_for_unknown_camera_is_ignored(states: CameraStates) -> None:
    states.update_stats("ghost", 1, 2)
    assert states.all() == {}


def test_idempotent_report_keeps_stats(states: CameraStates) -> None:
    states.sync(registry(camera("a")))
    states.report("a", True, "hook_available")
    states.update_stats("a", 2, 10)
    states.report("a", True, "poll")
    assert (states.get("a").readers, states.get("a").inbound_bytes) == (2, 10)


def test_clock_is_only_the_injected_one() -> None:
    """`since` comes from the injected clock, never from the wall clock."""
    fixed = datetime(2001, 1, 1, tzinfo=UTC)
    states = CameraStates(clock=lambda: fixed)
    states.sync(registry(camera("a"), camera("b", enabled=False)))
    states.report("a", False, "poll")
    assert {s.since for s in states.all().values()} == {fixed}


# --- failures and restated states ------------------------------------------------------------


def _error(failure: str, repeats: int = 1) -> CameraError:
    return CameraError(failure, f"{failure} line", T0, repeats)


def test_a_camera_failure_is_offline_with_its_class_and_a_new_class_replaces_it(
    states: CameraStates, clock: FakeClock
) -> None:
    states.sync(registry(camera("a")))
    assert states.report_error("a", _error("refused"), offline=True) == [
        Transition("a", UNKNOWN, OFFLINE, "refused")
    ]
    clock.advance(30)
    # Same state, another class: the reason and the error change, no transition, same since.
    assert states.report_error("a", _error("unauthorized", 1), offline=True) == []
    live = states.get("a")
    assert (live.state, live.reason, live.since) == (OFFLINE, "unauthorized", T0)
    assert live.last_error == _error("unauthorized", 1)


def test_recovery_keeps_the_last_error(states: CameraStates) -> None:
    states.sync(registry(camera("a")))
    states.report_error("a", _error("timeout"), offline=True)
    states.report("a", True, "recording")
    live = states.get("a")
    assert (live.state, live.reason, live.last_error) == (ONLINE, "recording", _error("timeout"))


def test_a_failure_not_of_the_camera_leaves_its_state(states: CameraStates) -> None:
    states.sync(registry(camera("a")))
    states.report("a", True, "recording")
    assert states.report_error("a", _error("disk_full"), offline=False) == []
    live = states.get("a")
    assert (live.state, live.reason, live.last_error) == (ONLINE, "recording", _error("disk_full"))


def test_failures_of_disabled_or_unknown_cameras_are_ignored(states: CameraStates) -> None:
    states.sync(registry(camera("off", enabled=False)))
    assert states.report_error("off", _error("refused"), offline=True) == []
    assert states.report_error("ghost", _error("refused"), offline=True) == []
    assert states.get("off").last_error is None


def test_the_state_a_previous_run_left_is_restated_with_its_since(
    states: CameraStates, clock: FakeClock
) -> None:
    before = T0 - timedelta(days=2)
    states.restore({"dead": KnownState(OFFLINE, before), "off": KnownState(DISABLED, before)})
    clock.advance(5)
    [disabled] = states.sync(registry(camera("dead"), camera("off", enabled=False)))
    assert disabled == Transition("off", UNKNOWN, DISABLED, "disabled", restated=True)
    [offline] = states.report_error("dead", _error("refused"), offline=True)
    assert offline.restated and states.get("dead").since == before
    # Only the first transition restates: what follows is news.
    [online] = states.report("dead", True, "recording")
    assert not online.restated and states.get("dead").since == clock.now


def test_a_different_state_than_the_previous_run_left_is_news(
    states: CameraStates, clock: FakeClock
) -> None:
    states.restore({"a": KnownState(OFFLINE, T0 - timedelta(hours=1))})
    states.sync(registry(camera("a")))
    [online] = states.report("a", True, "recording")
    assert not online.restated and states.get("a").since == T0
