"""The stop's stages: each one's budget, and the runner that holds a stage to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from vmsd.core.log import get_logger
from vmsd.runtime.sites import HTTP_STOP_S

log = get_logger("vmsd.daemon")  # a step of the daemon's stop: its events keep that logger

# Each stop stage's budget, in the order they run. Their sum (with the cancellation of the
# supervised components, bounded by their own stop code) stays below TimeoutStopSec=90 of
# systemd/vmsd.service; tests/integration/test_systemd_units.py checks it. Recorders:
# FFmpeg's quit grace (10 s) + SIGTERM grace (3 s) + the final segment's indexing window (3 s).
STOP_BUDGET_S = {
    "recorders": 20.0,
    "index": 5.0,
    "components": 10.0,
    "daemon_stopped": 3.0,
    "http": HTTP_STOP_S + 1.0,
    "hooks": 3.0,
    "events": 5.0,
    "webhooks": 5.0,
    "database": 20.0,
}


async def stop_stage(name: str, stop: Callable[[], Awaitable[None]]) -> None:
    """Runs one stage of the stop within its budget: a stage that overruns or fails is
    logged, and the stop goes on with the next one."""
    started = time.monotonic()
    budget = STOP_BUDGET_S[name]
    try:
        await asyncio.wait_for(stop(), budget)
    except TimeoutError:
        log.error("stop_stage_timeout", stage=name, timeout_s=budget)
    except Exception as err:  # a failing stage must not skip the stages after it
        log.exception("stop_stage_failed", stage=name, error=str(err))
    log.info("stop_stage_done", stage=name, duration_s=round(time.monotonic() - started, 3))
