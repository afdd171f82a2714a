"""Liveness that tells the truth: a heartbeat task that proves the event loop runs and the
supervisors are alive. `/healthz` answers from it, and the systemd watchdog is pinged from it
only, so a wedged loop (or a broken supervisor) stops the pings and systemd restarts vmsd.

Each beat also measures how late the loop woke it: `vmsd_event_loop_lag_seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.runtime.metrics import RuntimeMetrics
from vmsd.runtime.systemd import SystemdNotifier

log = get_logger("vmsd.heartbeat")

BEAT_INTERVAL_S = 1.0
# /healthz says "not live" once the last beat is this old: a loop that answers HTTP but runs
# no timer for this long (or a dead heartbeat) is as good as wedged.
STALE_AFTER_S = 10.0
LAG_WARNING_S = 1.0


class Heartbeat:
    def __init__(
        self,
        metrics: Metrics,
        notifier: SystemdNotifier,
        supervisors_alive: Callable[[], bool],
        *,
        interval_s: float = BEAT_INTERVAL_S,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self._runtime_metrics = metrics.group(RuntimeMetrics)
        self._notifier = notifier
        self._supervisors_alive = supervisors_alive
        # Pings at half of WATCHDOG_USEC (sd_watchdog_enabled(3)); none without a watchdog.
        self._watchdog_s = notifier.watchdog_interval_s
        self._interval_s = min(interval_s, self._watchdog_s) if self._watchdog_s else interval_s
        self._stale_after_s = stale_after_s
        self._last_beat: float | None = None
        self._last_ping: float | None = None

    def live(self) -> tuple[bool, str]:
        """(live, why not). Called by /healthz, on the loop."""
        if not self._supervisors_alive():
            return False, "a supervisor failed"
        if self._last_beat is None:
            return True, ""  # starting: the first beat is due within one interval
        age = asyncio.get_running_loop().time() - self._last_beat
        if age > self._stale_after_s:
            return False, f"no heartbeat for {age:.1f} s"
        return True, ""

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            now = loop.time()
            lag = max(0.0, now - due)
            self._runtime_metrics.event_loop_lag.observe(lag)
            if lag > LAG_WARNING_S:
                log.warning("event_loop_lag", lag_s=round(lag, 3))
            self.beat(now)

    def beat(self, now: float) -> None:
        self._last_beat = now
        if self._watchdog_s is None or not self._supervisors_alive():
            return
        if self._last_ping is None or now - self._last_ping >= self._watchdog_s * 0.9:
            self._last_ping = now
            self._notifier.watchdog()
