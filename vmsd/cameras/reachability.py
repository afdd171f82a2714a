"""Live state for cameras nothing reads: with MediaMTX off, an enabled camera with
`record: false` has no recorder to report on it, and would stay `unknown` forever. Every
REACHABILITY_INTERVAL_S, and at once when the registry changes, its source's host and port
get one TCP connect (no RTSP, no credentials: a login attempt would count against the
camera's lockout): `online` with reason `reachable`, else `offline` with the failure's class
(refused, unreachable, timeout) and a last_error. A source without a TCP port to try
(udp+mpegts, srt, test://) stays `unknown` with reason `not_checked`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from vmsd.cameras.live import LiveCameras
from vmsd.cameras.model import Camera
from vmsd.cameras.state import CameraError
from vmsd.core.wait import wait_event
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.waits import tcp_target

REACHABILITY_INTERVAL_S = 30.0
CONNECT_TIMEOUT_S = 5.0  # as FFmpeg's own socket timeout for a camera (recorder/ffmpeg.py)
NOT_CHECKED = "not_checked"
REACHABLE = "reachable"
_UNREACHABLE_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL})


async def probe_tcp(host: str, port: int, timeout_s: float) -> tuple[FailureClass, str] | None:
    """None when `host:port` accepts a connection; else the failure's class and what the
    connect said."""
    where = f"connect to {host}:{port}"
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return FailureClass.TIMEOUT, f"{where}: no answer within {timeout_s:g} s"
    except socket.gaierror as err:
        return FailureClass.UNREACHABLE, f"{where}: {err.strerror or err}"
    except ConnectionRefusedError:
        return FailureClass.REFUSED, f"{where}: {os.strerror(errno.ECONNREFUSED)}"
    except OSError as err:
        # asyncio words it "Connect call failed (...)": the errno's own text says more.
        text = os.strerror(err.errno) if err.errno else str(err)
        failure = FailureClass.UNREACHABLE if err.errno in _UNREACHABLE_ERRNOS else None
        return failure or FailureClass.CRASHED, f"{where}: {text}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


class Cameras(Protocol):
    """What the checker reads of the registry."""

    @property
    def cameras(self) -> Mapping[str, Camera]: ...

    def subscribe(self) -> asyncio.Event: ...


class ReachabilityChecker:
    def __init__(
        self,
        registry: Cameras,
        live: LiveCameras,
        *,
        interval_s: float = REACHABILITY_INTERVAL_S,
        timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self._registry = registry
        self._live = live
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._repeats: dict[str, tuple[FailureClass, int]] = {}

    async def run(self) -> None:
        """A pass every interval, and at once when the registry changes (a new camera)."""
        changed = self._registry.subscribe()
        while True:
            await self.run_once()
            await wait_event(changed, self._interval_s)
            changed.clear()

    async def run_once(self) -> None:
        """One connect per unread camera, all at once (each bounded by the timeout)."""
        cameras = [c for c in self._registry.cameras.values() if c.enabled and not c.record]
        names = {c.name for c in cameras}
        self._repeats = {n: r for n, r in self._repeats.items() if n in names}
        await asyncio.gather(*(self._check(camera) for camera in cameras))

    async def _check(self, camera: Camera) -> None:
        target = tcp_target(camera.source)
        if target is None:
            self._live.note_unknown(camera.name, NOT_CHECKED)
            return
        result = await probe_tcp(*target, self._timeout_s)
        if result is None:
            self._repeats.pop(camera.name, None)
            await self._live.report(camera.name, True, REACHABLE)
            return
        failure, message = result
        previous, repeats = self._repeats.get(camera.name, (None, 0))
        repeats = repeats + 1 if previous is failure else 1
        self._repeats[camera.name] = (failure, repeats)
        error = CameraError(failure.value, message, datetime.now(UTC), repeats)
        await self._live.report_error(camera.name, error, offline=True)
