"""One supervision mechanism for every long-running component.

`Supervisor.run(name, component)` runs the component's `run()` coroutine forever: a failure
(any `Exception`, an `ExceptionGroup` from the component's own TaskGroup included) is logged
once with its traceback, marks the component unhealthy in `Health` (so `/readyz` names it with
its last error, and `vmsd_component_up{component}` is 0), is backed off with `Backoff` and
restarted. A restarted component is healthy again once it has run `settled_after_s` without
failing. Cancellation always passes through: only a stop ends a supervised component, so the
root TaskGroup never sees a component's failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from vmsd.core.backoff import Backoff
from vmsd.core.errors import describe_error
from vmsd.core.health import Health
from vmsd.core.log import get_logger

log = get_logger("vmsd.supervisor")

COMPONENT_BACKOFF = Backoff(initial_s=1.0, max_s=30.0, reset_after_s=60.0)
SETTLED_AFTER_S = 2.0

Run = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class Supervisor:
    def __init__(
        self,
        health: Health,
        *,
        backoff: Backoff = COMPONENT_BACKOFF,
        settled_after_s: float = SETTLED_AFTER_S,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._health = health
        self._backoff = backoff
        self._settled_after_s = settled_after_s
        self._sleep = sleep
        self._clock = clock
        self._running: set[str] = set()
        self._broken: str | None = None

    @property
    def health(self) -> Health:
        """Where the supervised components are reported (and may report themselves)."""
        return self._health

    def running(self) -> frozenset[str]:
        """The components being supervised right now."""
        return frozenset(self._running)

    def alive(self) -> bool:
        """False once a supervision loop itself ended in an error (a bug in this module): the
        heartbeat stops the watchdog pings so systemd restarts the daemon."""
        return self._broken is None

    async def run(self, name: str, component: Run, *, report: bool = True) -> None:
        """Runs `component()` until it returns or the caller is cancelled. `report=False`
        keeps it out of Health (a camera's loop: its camera state says how it is)."""
        if name in self._running:
            raise RuntimeError(f"component {name!r} is supervised twice")
        self._running.add(name)
        try:
            await self._loop(name, component, report)
        except asyncio.CancelledError:
            raise
        except BaseException as err:
            self._broken = f"{name}: {describe_error(err)}"
            raise
        finally:
            self._running.discard(name)
            if report:
                self._health.remove(name)

    async def _loop(self, name: str, component: Run, report: bool) -> None:
        loop = asyncio.get_running_loop()
        retries = self._backoff.series()
        restarts = 0
        if report:
            self._health.set(name, True)
        while True:
            started = self._clock()
            settle = (
                loop.call_later(self._settled_after_s, self._settled, name)
                if report and restarts
                else None
            )
            try:
                await component()
                return  # a component that finishes its work (a stop) is not restarted
            except Exception as err:
                error = describe_error(err)
                log.exception("component_failed", component=name, error=error)
                if report:
                    self._health.failed(name, error)
            finally:
                if settle is not None:
                    settle.cancel()
            delay = retries.failed(self._clock() - started)
            restarts += 1
            log.info("component_restarting", component=name, delay_s=round(delay, 2))
            await self._sleep(delay)

    def _settled(self, name: str) -> None:
        self._health.set(name, True)
        log.info("component_recovered", component=name)
