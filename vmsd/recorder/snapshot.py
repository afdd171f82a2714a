"""Snapshots: one JPEG of a camera's live picture, grabbed by FFmpeg from MediaMTX (or the
source itself without MediaMTX). At most one grab per camera at a time; a fresh result is
served from a short cache, so a dashboard polling every camera costs one FFmpeg per camera."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from vmsd.cameras.model import Camera
from vmsd.core.errors import ConflictError, VmsdError
from vmsd.core.proc import spawn_child, stop_process
from vmsd.recorder.failures import FailureClass, camera_unavailable, failure_detail
from vmsd.recorder.ffmpeg import RecorderInput, build_snapshot_argv
from vmsd.recorder.inputs import ReaderInputs

MAX_JPEG_BYTES = 20 * 1024 * 1024


class SnapshotTimeoutError(VmsdError):
    code = "snapshot_timeout"
    http_status = 504


@dataclass(frozen=True, slots=True)
class Snapshot:
    jpeg: bytes
    taken_monotonic: float


class Snapshots:
    def __init__(
        self,
        ffmpeg: str,
        input_for: Callable[[Camera], RecorderInput],
        inputs: ReaderInputs,
        *,
        cache_s: float,
        timeout_s: float,
    ) -> None:
        self._ffmpeg = ffmpeg
        self._input_for = input_for
        self._inputs = inputs
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self._cache: dict[str, Snapshot] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def grab(self, camera: Camera) -> bytes:
        if not camera.enabled:
            raise ConflictError(f"camera {camera.name!r} is disabled")
        lock = self._locks.setdefault(camera.name, asyncio.Lock())
        async with lock:  # a second caller waits for the grab in flight, then hits the cache
            cached = self._cache.get(camera.name)
            if cached is not None and time.monotonic() - cached.taken_monotonic < self._cache_s:
                return cached.jpeg
            jpeg = await self._run(camera)
            self._cache[camera.name] = Snapshot(jpeg, time.monotonic())
            return jpeg

    async def _run(self, camera: Camera) -> bytes:
        source = self._input_for(camera)
        async with self._inputs.opened(source, f"{camera.name}.snapshot") as description:
            return await self._grab(camera, build_snapshot_argv(self._ffmpeg, source, description))

    async def _grab(self, camera: Camera, argv: list[str]) -> bytes:
        proc = await spawn_child(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self._timeout_s)
        except TimeoutError as exc:
            raise SnapshotTimeoutError(
                f"no picture from camera {camera.name!r} within {self._timeout_s:g} s",
                [failure_detail(FailureClass.TIMEOUT)],
            ) from exc
        finally:
            if proc.returncode is None:
                await stop_process(proc, first_signal=signal.SIGKILL, grace_s=1.0)
        if proc.returncode != 0 or not out.startswith(b"\xff\xd8") or len(out) > MAX_JPEG_BYTES:
            # Viewers see the failure's class; FFmpeg's stderr (hosts, ports, paths) goes to
            # operators only (the API's error middleware decides by role).
            stderr = err.decode(errors="replace").strip().splitlines()
            raise camera_unavailable(f"no picture from camera {camera.name!r}", stderr)
        return out
