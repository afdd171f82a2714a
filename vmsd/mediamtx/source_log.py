"""MediaMTX's log about each path's source (pathlog.py), handed to the cameras' live state: a
failed source makes the camera offline with the failure's class as its reason and its
last_error; a ready one makes it online (reason `source_ready`).

MediaMTX's log reader must never wait (an unread pipe stalls MediaMTX, every path with it),
and applying a report may (an events row, a state write, each bounded but not instant). So
`put` only keeps the latest report per path and wakes `run`, which applies them; a class that
repeats is counted as the lines come (MediaMTX retries a failed source every 5 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from vmsd.cameras.state import CameraError
from vmsd.mediamtx.pathlog import SourceReport
from vmsd.recorder.failures import FailureClass

SOURCE_READY = "source_ready"


class LiveStates(Protocol):
    """What is told (LiveCameras): reports for names that are no camera are ignored there."""

    async def report(self, name: str, available: bool, reason: str) -> None: ...

    async def report_error(self, name: str, error: CameraError, offline: bool) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SourceReports:
    def __init__(self, live: LiveStates, clock: Callable[[], datetime] = _utc_now) -> None:
        self._live = live
        self._clock = clock
        self._pending: dict[str, CameraError | None] = {}  # None: the source is ready
        self._streaks: dict[str, tuple[FailureClass, int]] = {}
        self._changed = asyncio.Event()

    def put(self, report: SourceReport) -> None:
        """From the log reader: never blocks, never awaits."""
        self._pending.pop(report.path, None)  # re-inserted last: paths apply in line order
        if report.failure is None:
            self._streaks.pop(report.path, None)
            self._pending[report.path] = None
        else:
            previous, repeats = self._streaks.get(report.path, (None, 0))
            repeats = repeats + 1 if previous is report.failure else 1
            self._streaks[report.path] = (report.failure, repeats)
            self._pending[report.path] = CameraError(
                report.failure.value, report.message, self._clock(), repeats
            )
        self._changed.set()

    async def run(self) -> None:
        """Applies what is pending first: restarted after a failure, it catches up."""
        while True:
            await self.apply_pending()
            self._changed.clear()  # nothing pending, and no await since the last check
            await self._changed.wait()

    async def apply_pending(self) -> None:
        """Each path's latest report, oldest first. One that fails is dropped (the next line
        or the poll tells again), and the failure raised for the supervisor to log."""
        while self._pending:
            path = next(iter(self._pending))
            error = self._pending.pop(path)
            if error is None:
                await self._live.report(path, True, SOURCE_READY)
            else:
                await self._live.report_error(path, error, offline=True)
