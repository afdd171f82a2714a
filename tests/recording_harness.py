"""The recorder fleet in-process over a real database, real FFmpeg and real RTSP sources."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.fernet import Fernet

from tests.conftest import direct_inputs, ffmpeg_binary, reader_input
from vmsd.access.secrets import CredentialCipher
from vmsd.cameras.live import LiveCameras
from vmsd.config.cameras import CameraConfig
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.health import Health
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.recorder.fleet import RecorderFleet
from vmsd.recordings.deletion import SegmentDeleter
from vmsd.recordings.index import SegmentIndex
from vmsd.runtime.wiring import build_cameras, build_recording, start_cameras
from vmsd.store.recordings import RecordingStore, SegmentRecord


@dataclass
class Recording:
    fleet: RecorderFleet
    index: SegmentIndex
    store: RecordingStore
    live: LiveCameras
    metrics: Metrics
    root: Path
    deleter: SegmentDeleter
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [d for _, n, d in self.events if n == name]

    def all_files(self) -> set[str]:
        return {str(p) for p in self.root.glob("*/*/*.mp4")}

    def event_names(self, camera: str | None = None) -> list[str]:
        return [n for _, n, d in self.events if camera is None or d.get("camera") == camera]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> float:
        """Seconds until `predicate` held; fails the test on timeout."""
        started = time.monotonic()
        while not predicate():
            assert time.monotonic() - started < timeout, "condition not reached in time"
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def wait_event(
        self, name: str, camera: str, after: float = 0.0, timeout: float = 30.0
    ) -> float:
        """Monotonic time of the first `name` event for `camera` at or after `after`."""

        def found() -> bool:
            return any(
                n == name and d.get("camera") == camera and t >= after for t, n, d in self.events
            )

        await self.wait_for(found, timeout)
        return min(
            t for t, n, d in self.events if n == name and d.get("camera") == camera and t >= after
        )

    async def rows(self, camera: str) -> list[SegmentRecord]:
        return await self.store.for_camera(camera)

    def files(self, camera: str) -> list[Path]:
        return sorted((self.root / camera).glob("*/*.mp4"))


@asynccontextmanager
async def recording(
    pool: asyncpg.Pool,
    tmp_path: Path,
    cameras: list[CameraConfig],
    *,
    segment_seconds: int = 2,
    stall_seconds: float = 5.0,
    retry_max_seconds: float = 30.0,
    via_mediamtx: bool = False,
    root: Path | None = None,
    roots: list[Path] | None = None,
    retention: dict[str, Any] | None = None,
) -> AsyncIterator[Recording]:
    """`via_mediamtx`: the recorders follow availability reports (MediaMTX's hooks); the test
    then makes those reports itself through `live.report`. `retention`: that section of the
    config, and the retention job runs beside the recorders as in the daemon (interrupted
    deletions finished first, kicked by a recorder whose disk is full or below low). `roots`:
    several storage paths (the cameras spread over them; `Recording.root` is the first)."""
    roots = roots or [root or tmp_path / "recordings"]
    root = roots[0]
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "storage": {"paths": [str(r) for r in roots]},
            "cameras": cameras,
            "recording": {
                "segment_seconds": segment_seconds,
                "stall_seconds": stall_seconds,
                "retry_max_seconds": retry_max_seconds,
            },
            "retention": retention or {},
        }
    )
    (tmp_path / "state").mkdir(exist_ok=True)
    events: list[tuple[float, str, dict[str, Any]]] = []

    async def record(type_: str, **data: Any) -> None:
        events.append((time.monotonic(), type_, data))

    metrics = Metrics()
    cams = build_cameras(pool, CredentialCipher(Fernet.generate_key()), metrics, record)
    await start_cameras(cams, config)
    holder = ConfigHolder(config, Path("unused.yml"))
    rec = build_recording(
        holder,
        pool,
        cams,
        metrics,
        record,
        Supervisor(Health(metrics)),
        ffmpeg=ffmpeg_binary(),
        input_for=reader_input,
        inputs=direct_inputs(tmp_path / "state"),
        via_mediamtx=via_mediamtx,
    )
    fleet, index, store, live, deleter = rec.fleet, rec.index, rec.store, cams.live, rec.deleter
    await index.start()
    await deleter.finish_interrupted()
    state = Recording(fleet, index, store, live, metrics, root, deleter, events)
    async with asyncio.TaskGroup() as tg:
        index_task = tg.create_task(index.run())
        fleet_task = tg.create_task(fleet.run())
        if retention is not None:
            background = [index_task, tg.create_task(rec.retention.run())]
        else:
            background = [index_task]
        try:
            yield state
        finally:
            # The daemon's order: recorders finalise, the index takes everything, then the
            # rest (retention among it) is cancelled, possibly in the middle of a deletion.
            await asyncio.wait_for(fleet.stop(), 30)
            await asyncio.wait_for(index.wait_idle(), 30)
            for task in background:
                task.cancel()
            await fleet_task
