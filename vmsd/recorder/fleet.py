"""The recorder fleet: the desired recorders (enabled, recording cameras) against the running
ones. Each camera has one slot task, owned by the fleet's TaskGroup, that runs the camera's
recorder and replaces it when its plan changes, so start, stop and restart never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import zlib
from collections.abc import Callable
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from vmsd.cameras.live import LiveCameras
from vmsd.cameras.model import Camera
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.state import CameraState, Transition
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.backoff import Backoff
from vmsd.core.errors import ConflictError, NotFoundError
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import RecordEvent
from vmsd.recorder.camera import CameraRecorder
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.ffmpeg import RecorderInput, SegmentSpec
from vmsd.recorder.inputs import ReaderInputs
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.model import RecorderPlan, RecorderState, RecorderStatus
from vmsd.recorder.reasons import RESTART_REASONS
from vmsd.recorder.storage import ensure_roots
from vmsd.recordings.index import SegmentIndex

log = get_logger("vmsd.recorder.fleet")

PID_DIR_NAME = "recorders"
RECONCILE_COMPONENT = "recorder_reconcile"
InputFor = Callable[[Camera], RecorderInput]


def storage_root(roots: tuple[Path, ...], camera: str) -> Path:
    """A stable root per camera, spreading cameras over the configured roots."""
    return roots[zlib.crc32(camera.encode()) % len(roots)]


def forget_recorder_series(root: Metrics, camera: str) -> None:
    """A deleted camera's recorder series go with it (a disabled one keeps `stopped`)."""
    metrics = root.group(RecorderMetrics)
    per_camera = (
        metrics.recorder_up,
        metrics.segments,
        metrics.recorded_bytes,
        metrics.recorder_fps,
        metrics.recorder_bitrate,
        metrics.last_segment_timestamp,
        metrics.recorder_segment_seconds,
    )
    labels: list[tuple[MetricWrapperBase, tuple[str, ...]]] = [
        (family, (camera,)) for family in per_camera
    ]
    labels += [(metrics.recorder_state, (camera, state.value)) for state in RecorderState]
    labels += [(metrics.recorder_restarts, (camera, reason)) for reason in RESTART_REASONS]
    labels += [(metrics.recorder_failures, (camera, failure.value)) for failure in FailureClass]
    for family, values in labels:
        with contextlib.suppress(KeyError):  # a series that was never set
            family.remove(*values)


def build_plan(
    config: Config, camera: Camera, source: RecorderInput, via_mediamtx: bool
) -> RecorderPlan:
    defaults, own = config.recording, camera.recording
    return RecorderPlan(
        camera=camera.name,
        source=source,
        segments=SegmentSpec(
            directory=storage_root(config.storage.paths, camera.name) / camera.name,
            segment_seconds=own.segment_seconds or defaults.segment_seconds,
            format=own.format or defaults.format,
            audio=defaults.audio if own.audio is None else own.audio,
        ),
        stall_s=own.stall_seconds or defaults.stall_seconds,
        via_mediamtx=via_mediamtx,
    )


class RecorderFleet:
    def __init__(
        self,
        holder: ConfigHolder,
        registry: CameraRegistry,
        live: LiveCameras,
        index: SegmentIndex,
        metrics: Metrics,
        record_event: RecordEvent,
        *,
        ffmpeg: str,
        input_for: InputFor,
        inputs: ReaderInputs,
        via_mediamtx: bool,
        supervisor: Supervisor,
    ) -> None:
        self._holder = holder
        self._registry = registry
        self._live = live
        self._index = index
        self._metrics = metrics
        self._record_event = record_event
        self._ffmpeg = ffmpeg
        self._input_for = input_for
        self._inputs = inputs
        self._via_mediamtx = via_mediamtx
        self._supervisor = supervisor
        self._pid_dir = holder.current.state_dir / PID_DIR_NAME
        self._desired: dict[str, RecorderPlan] = {}
        self._recorders: dict[str, CameraRecorder] = {}
        self._slots: set[str] = set()
        self._changed = registry.subscribe()
        self._stopping = False
        self._stop_asked = asyncio.Event()
        self._done = asyncio.Event()
        self._roots_made: tuple[Path, ...] = ()
        self._no_space: Callable[[], None] = lambda: None
        self._disk_space: Callable[[int, int], None] = lambda _total, _free: None
        live.add_listener(self._on_transition)

    @property
    def pid_dir(self) -> Path:
        return self._pid_dir

    def status(self, camera: str) -> RecorderStatus | None:
        recorder = self._recorders.get(camera)
        return recorder.status() if recorder is not None else None

    async def restart(self, camera: str, requested_by: str) -> None:
        """`requested_by`: who asked (an API token's name), kept in the event."""
        recorder = self._recorders.get(camera)
        if recorder is None:
            if camera in self._registry.cameras:
                raise ConflictError(
                    f"camera {camera!r} is not recording (disabled, or record is off)"
                )
            raise NotFoundError(f"no camera named {camera!r}")
        log.info("recorder_restart_requested", camera=camera, requested_by=requested_by)
        recorder.request_restart()
        await self._record_event("recorder_restart_requested", camera=camera, by=requested_by)

    def on_no_space(self, callback: Callable[[], None]) -> None:
        """Called when a recorder's FFmpeg found its disk full (retention runs at once)."""
        self._no_space = callback

    def on_disk_space(self, callback: Callable[[int, int], None]) -> None:
        """Called with (total, free) bytes of the disk of every finished segment."""
        self._disk_space = callback

    def reconfigure(self) -> None:
        """SIGHUP: recording defaults may have changed."""
        self._changed.set()

    async def run(self) -> None:
        """Owns every camera's slot task. The reconcile loop is supervised on its own inside
        that TaskGroup: a bug in it (a plan that cannot be built) shows on Health as
        `recorder_reconcile` and is restarted with backoff, while the recorders record on (a
        failure of this TaskGroup's body would cancel every one of them)."""
        try:
            async with asyncio.TaskGroup() as tg:
                loop = functools.partial(self._follow, tg)
                reconcile = tg.create_task(self._supervisor.run(RECONCILE_COMPONENT, loop))
                await self._stop_asked.wait()
                reconcile.cancel()  # even in its backoff: the slots end by themselves now
        finally:
            self._done.set()

    async def _follow(self, tg: asyncio.TaskGroup) -> None:
        while True:
            await self._make_roots()
            if self._stopping:  # asked while the roots were made: no new slot
                return
            self._reconcile(tg)
            await self._changed.wait()
            self._changed.clear()

    async def stop(self) -> None:
        """Graceful: every recorder finalises its open segment and hands it to the index."""
        self._stopping = True
        self._desired = {}
        for recorder in list(self._recorders.values()):
            recorder.request_stop()
        self._changed.set()
        self._stop_asked.set()
        await self._done.wait()

    def roots_prepared(self, roots: tuple[Path, ...]) -> None:
        """The daemon's start has dealt with these (vmsd.recorder.roots): the fleet's first
        pass must not create one that is missing because its disk is not there."""
        self._roots_made = roots

    async def _make_roots(self) -> None:
        """The configured storage roots are created once (at the start, and when a reload
        names new ones); a root that vanishes later is not: the recorders wait for it."""
        roots = self._holder.current.storage.paths
        if roots == self._roots_made:
            return
        for root, err in await asyncio.to_thread(ensure_roots, roots):
            log.error("storage_root_unavailable", root=str(root), error=str(err))
        self._roots_made = roots

    def _reconcile(self, tg: asyncio.TaskGroup) -> None:
        config = self._holder.current
        self._desired = {
            camera.name: build_plan(config, camera, self._input_for(camera), self._via_mediamtx)
            for camera in self._registry.cameras.values()
            if camera.enabled and camera.record
        }
        for name, recorder in list(self._recorders.items()):
            if self._desired.get(name) != recorder.plan:
                recorder.request_stop()  # its slot starts the new plan, or ends
        for name in self._desired.keys() - self._slots:
            self._slots.add(name)
            tg.create_task(self._slot(name))

    async def _slot(self, name: str) -> None:
        try:
            while (plan := self._desired.get(name)) is not None:
                recording = self._holder.current.recording
                recorder = CameraRecorder(
                    plan,
                    ffmpeg=self._ffmpeg,
                    index=self._index,
                    metrics=self._metrics,
                    record_event=self._record_event,
                    report_availability=self._live.report,
                    report_error=self._live.report_error,
                    # Behind MediaMTX: the first run waits for MediaMTX to have the path.
                    available=self._live.get(name).state is CameraState.ONLINE,
                    no_space=lambda: self._no_space(),
                    disk_space=lambda total, free: self._disk_space(total, free),
                    pid_dir=self._pid_dir,
                    inputs=self._inputs,
                    backoff=Backoff(initial_s=1.0, max_s=recording.retry_max_seconds),
                    unauthorized_retry_s=recording.unauthorized_retry_seconds,
                )
                self._recorders[name] = recorder
                try:
                    # A bug in one camera's loop restarts that loop alone; the camera's state
                    # (not /readyz) says how it is.
                    await self._supervisor.run(f"recorder:{name}", recorder.run, report=False)
                finally:
                    del self._recorders[name]
        finally:
            self._slots.discard(name)
            if name not in self._registry.cameras:  # deleted, not just disabled: no series
                forget_recorder_series(self._metrics, name)

    def _on_transition(self, transition: Transition) -> None:
        if not self._via_mediamtx:
            return
        recorder = self._recorders.get(transition.camera)
        if recorder is not None and transition.new in (CameraState.ONLINE, CameraState.OFFLINE):
            recorder.set_available(transition.new is CameraState.ONLINE)
