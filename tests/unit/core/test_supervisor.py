"""The Supervisor: a failing component is logged, shown in Health, backed off and restarted;
cancellation passes; the heartbeat stops the watchdog when a supervisor broke."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from vmsd.core.backoff import Backoff
from vmsd.core.errors import describe_error
from vmsd.core.health import Health
from vmsd.core.health_metrics import HealthMetrics
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.runtime.heartbeat import Heartbeat
from vmsd.runtime.systemd import SystemdNotifier


class Sleeps:
    """An injected sleep that records each delay and yields once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def _supervisor(health: Health, sleeps: Sleeps, settled_after_s: float = 0.05) -> Supervisor:
    return Supervisor(
        health,
        backoff=Backoff(initial_s=1.0, max_s=8.0, jitter=0.0, reset_after_s=60.0),
        settled_after_s=settled_after_s,
        sleep=sleeps,
    )


def _status(health: Health, name: str) -> tuple[bool, str, int]:
    status = {c.name: c for c in health.components()}[name]
    return status.ok, status.detail, status.failures


async def test_a_failing_component_is_restarted_with_backoff_and_reported() -> None:
    metrics = Metrics()
    health = Health(metrics)
    sleeps = Sleeps()
    runs = 0
    recovered = asyncio.Event()

    async def component() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise TimeoutError(f"database did not answer ({runs})")
        recovered.set()
        await asyncio.Event().wait()

    supervisor = _supervisor(health, sleeps)
    with capture_logs() as logs:
        task = asyncio.create_task(supervisor.run("exports", component))
        await asyncio.wait_for(recovered.wait(), 5)
        ok, detail, failures = _status(health, "exports")
        assert (ok, failures) == (False, 3)
        assert detail == "TimeoutError: database did not answer (3)"
        assert (
            metrics.group(HealthMetrics).component_up.labels(component="exports")._value.get() == 0
        )
        await asyncio.sleep(0.2)  # longer than settled_after_s: healthy again
        assert _status(health, "exports")[:2] == (True, "")
        assert (
            metrics.group(HealthMetrics).component_up.labels(component="exports")._value.get() == 1
        )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sleeps.delays == [1.0, 2.0, 4.0]  # exponential, from the injected policy
    failed = [e for e in logs if e["event"] == "component_failed"]
    assert len(failed) == 3 and all(e["exc_info"] for e in failed)
    assert any(e["event"] == "component_recovered" for e in logs)
    assert (
        metrics.group(HealthMetrics).component_failures.labels(component="exports")._value.get()
        == 3
    )
    assert "exports" not in {c.name for c in health.components()}  # stopped: no status
    assert supervisor.alive()


async def test_an_exception_group_is_caught_and_its_cause_named() -> None:
    health = Health(Metrics())
    sleeps = Sleeps()
    runs = 0
    again = asyncio.Event()

    async def component() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            async with asyncio.TaskGroup() as tg:  # errors inside arrive as an ExceptionGroup
                tg.create_task(_raise(OSError(28, "No space left on device")))
        again.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(_supervisor(health, sleeps).run("mediamtx_writer", component))
    await asyncio.wait_for(again.wait(), 5)
    assert _status(health, "mediamtx_writer")[1] == "OSError: [Errno 28] No space left on device"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _raise(err: Exception) -> None:
    raise err


async def test_cancellation_passes_through_at_once() -> None:
    health = Health(Metrics())
    started = asyncio.Event()
    cleaned = False

    async def component() -> None:
        nonlocal cleaned
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned = True

    task = asyncio.create_task(_supervisor(health, Sleeps()).run("retention", component))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned


async def test_a_component_that_finishes_is_not_restarted() -> None:
    health = Health(Metrics())
    runs = 0

    async def component() -> None:
        nonlocal runs
        runs += 1

    await _supervisor(health, Sleeps()).run("recorder_fleet", component)
    assert runs == 1


async def test_a_healthy_run_resets_the_backoff() -> None:
    health = Health(Metrics())
    sleeps = Sleeps()
    clock_now = [0.0]
    runs = 0
    done = asyncio.Event()

    async def component() -> None:
        nonlocal runs
        runs += 1
        clock_now[0] += 100.0 if runs == 3 else 1.0  # the third run lasted 100 s
        if runs < 5:
            raise RuntimeError("boom")
        done.set()
        await asyncio.Event().wait()

    supervisor = Supervisor(
        health,
        backoff=Backoff(initial_s=1.0, max_s=8.0, jitter=0.0, reset_after_s=60.0),
        sleep=sleeps,
        clock=lambda: clock_now[0],
    )
    task = asyncio.create_task(supervisor.run("event_bus", component))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sleeps.delays == [1.0, 2.0, 1.0, 2.0]


async def test_an_unreported_component_stays_out_of_health() -> None:
    health = Health(Metrics())
    runs = 0
    again = asyncio.Event()

    async def component() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ValueError("a bug in one camera's loop")
        again.set()

    await asyncio.wait_for(
        _supervisor(health, Sleeps()).run("recorder:cam1", component, report=False), 5
    )
    assert runs == 2 and health.components() == []


async def test_the_same_component_cannot_be_supervised_twice() -> None:
    supervisor = _supervisor(Health(Metrics()), Sleeps())
    blocker = asyncio.Event()

    async def component() -> None:
        await blocker.wait()

    first = asyncio.create_task(supervisor.run("index", component))
    await asyncio.sleep(0)
    assert supervisor.running() == {"index"}
    with pytest.raises(RuntimeError, match="supervised twice"):
        await supervisor.run("index", component)
    blocker.set()
    await first
    assert supervisor.running() == frozenset()


def test_describe_error_unwraps_groups_and_bounds_length() -> None:
    group = ExceptionGroup("unhandled errors in a TaskGroup", [KeyError("cam")])
    assert describe_error(group) == "KeyError: 'cam'"
    assert describe_error(TimeoutError()) == "TimeoutError"
    assert len(describe_error(RuntimeError("x" * 1000))) == 300


class RecordingNotifier(SystemdNotifier):
    def __init__(self) -> None:
        super().__init__({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "200000"})
        self.pings = 0

    def watchdog(self) -> None:
        self.pings += 1


async def test_heartbeat_pings_the_watchdog_and_measures_loop_lag() -> None:
    metrics = Metrics()
    notifier = RecordingNotifier()
    alive = [True]
    heartbeat = Heartbeat(metrics, notifier, lambda: alive[0])
    assert heartbeat.live() == (True, "")
    task = asyncio.create_task(heartbeat.run())
    await asyncio.sleep(0.35)  # the beat follows the watchdog: every 0.1 s here
    assert notifier.pings >= 2
    count = metrics.registry.get_sample_value("vmsd_event_loop_lag_seconds_count")
    assert count is not None and count >= 2
    alive[0] = False  # a supervisor broke: no more pings, /healthz says so
    pings = notifier.pings
    await asyncio.sleep(0.25)
    assert notifier.pings == pings
    assert heartbeat.live() == (False, "a supervisor failed")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_stopped_heartbeat_makes_liveness_fail() -> None:
    heartbeat = Heartbeat(Metrics(), RecordingNotifier(), lambda: True, stale_after_s=0.1)
    heartbeat.beat(asyncio.get_running_loop().time())
    assert heartbeat.live() == (True, "")
    await asyncio.sleep(0.15)
    live, why = heartbeat.live()
    assert not live and why.startswith("no heartbeat for")


async def test_no_watchdog_no_pings() -> None:
    class Counting(SystemdNotifier):
        def __init__(self) -> None:
            super().__init__({"NOTIFY_SOCKET": "/nonexistent"})  # no WATCHDOG_USEC
            self.pings = 0

        def watchdog(self) -> None:
            self.pings += 1

    notifier = Counting()
    heartbeat = Heartbeat(Metrics(), notifier, lambda: True)
    loop = asyncio.get_running_loop()
    for i in range(5):
        heartbeat.beat(loop.time() + i)
    assert notifier.pings == 0 and heartbeat.live() == (True, "")
