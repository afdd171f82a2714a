"""Public builders of the daemon's component groups: the daemon wires itself with these, and
so do the tests, so a test's stack cannot drift from the daemon's (retention that honours the
exports' pins, a recorder's full disk kicking retention...)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from vmsd.access.accounts import Accounts
from vmsd.access.audit_metrics import AuditMetrics
from vmsd.access.login import LoginService
from vmsd.access.login_throttle import LoginThrottle
from vmsd.access.metrics import AccessMetrics
from vmsd.access.passwords import Passwords
from vmsd.access.secrets import CredentialCipher
from vmsd.access.sessions import SessionService, utc_now
from vmsd.access.users import UserRegistry, UserService
from vmsd.access.verdicts import VerdictCache
from vmsd.api.metrics import ApiMetrics
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.metrics import CameraMetrics
from vmsd.cameras.model import Camera
from vmsd.cameras.registry import CameraRegistry
from vmsd.cameras.service import CameraService
from vmsd.cameras.state import CameraStates
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.health import Health
from vmsd.core.health_metrics import HealthMetrics
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.events.bus import RecordEvent
from vmsd.events.metrics import EventMetrics
from vmsd.exports.service import ExportService
from vmsd.mediamtx.metrics import MediaMtxMetrics
from vmsd.recorder.ffmpeg import RecorderInput
from vmsd.recorder.fleet import RecorderFleet
from vmsd.recorder.inputs import ReaderInputs
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.pidfile import end_leftovers
from vmsd.recordings.deletion import SegmentDeleter
from vmsd.recordings.index import SegmentIndex
from vmsd.recordings.metrics import IndexMetrics
from vmsd.recordings.player import PlaybackService
from vmsd.recordings.recovery import recover
from vmsd.recordings.service import RecordingsService
from vmsd.retention.metrics import RetentionMetrics
from vmsd.retention.service import RetentionService
from vmsd.runtime.metrics import RuntimeMetrics
from vmsd.store.camera_states import CameraStateStore
from vmsd.store.cameras import CameraStore
from vmsd.store.exports import ExportStore
from vmsd.store.recordings import RecordingQueries, RecordingStore
from vmsd.store.sessions import SessionStore
from vmsd.store.users import UserStore

METRIC_GROUPS = (
    HealthMetrics,
    RuntimeMetrics,
    ApiMetrics,
    CameraMetrics,
    MediaMtxMetrics,
    RecorderMetrics,
    IndexMetrics,
    EventMetrics,
    RetentionMetrics,
    AuditMetrics,
    AccessMetrics,
)


def build_metrics() -> Metrics:
    """The daemon's registry with every domain's metrics on it from the start: /metrics lists
    each series family before its first value (a dashboard or an alert need not wait)."""
    metrics = Metrics()
    for group in METRIC_GROUPS:
        metrics.group(group)
    return metrics


def build_accounts(
    pool: asyncpg.Pool,
    holder: ConfigHolder,
    metrics: Metrics,
    record: RecordEvent,
    *,
    clock: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
) -> Accounts:
    """Users, sessions and logins. `clock` dates sessions (idle and lifetime); `monotonic`
    times lockouts and MediaMTX verdicts. The argon2 cost is the one at start."""
    access_metrics = metrics.group(AccessMetrics)
    passwords = Passwords(holder.current.auth.password_hash)
    store = UserStore(pool)
    verdicts = VerdictCache(lambda: holder.current.auth.verdict_cache, monotonic)
    registry = UserRegistry(pool, store, passwords, verdicts, access_metrics)
    sessions = SessionService(SessionStore(pool), holder, clock)
    throttle = LoginThrottle(lambda: holder.current.auth.login, monotonic)
    logins = LoginService(registry, store, sessions, throttle, access_metrics, record)
    return Accounts(registry, UserService(store, passwords, registry), sessions, logins)


@dataclass(frozen=True, slots=True)
class CameraParts:
    store: CameraStore
    registry: CameraRegistry
    service: CameraService
    live: LiveCameras


def build_cameras(
    pool: asyncpg.Pool,
    cipher: CredentialCipher,
    metrics: Metrics,
    record: RecordEvent,
    health: Health | None = None,
    *,
    accepts_publishers: bool = True,
) -> CameraParts:
    """`accepts_publishers`: MediaMTX runs (its effective mode is not off)."""
    store = CameraStore(pool)
    registry = CameraRegistry(pool, store, cipher, health=health)
    service = CameraService(store, cipher, registry, record, accepts_publishers=accepts_publishers)
    live = LiveCameras(CameraStates(), metrics, record, CameraStateStore(pool))
    return CameraParts(store, registry, service, live)


async def start_cameras(parts: CameraParts, config: Config) -> None:
    """The registry in memory, the file's cameras synced into it, their live states (what
    the previous run left first: its states are restated, not announced again)."""
    await parts.service.sync_config(config.cameras)
    await parts.live.restore()
    await parts.live.sync(parts.registry.cameras)


@dataclass(frozen=True, slots=True)
class RecordingParts:
    store: RecordingStore
    queries: RecordingQueries
    index: SegmentIndex
    fleet: RecorderFleet
    deleter: SegmentDeleter
    exports: ExportService
    retention: RetentionService
    recordings: RecordingsService
    playback: PlaybackService


def build_recording(
    holder: ConfigHolder,
    pool: asyncpg.Pool,
    cameras: CameraParts,
    metrics: Metrics,
    record: RecordEvent,
    supervisor: Supervisor,
    *,
    ffmpeg: str,
    input_for: Callable[[Camera], RecorderInput],
    inputs: ReaderInputs,
    via_mediamtx: bool,
    store: RecordingStore | None = None,
) -> RecordingParts:
    """`store`: the segments' store (the index's, retention's, the deleter's); a test passes
    one that fails on demand."""
    store = store if store is not None else RecordingStore(pool)
    queries = RecordingQueries(pool)
    index = SegmentIndex(store, holder.current.state_dir, metrics)
    fleet = RecorderFleet(
        holder,
        cameras.registry,
        cameras.live,
        index,
        metrics,
        record,
        ffmpeg=ffmpeg,
        input_for=input_for,
        inputs=inputs,
        via_mediamtx=via_mediamtx,
        supervisor=supervisor,
    )
    deleter = SegmentDeleter(store)
    exports = ExportService(holder, ExportStore(pool), queries, ffmpeg, record)
    playback = PlaybackService(holder, queries, ffmpeg)
    retention = RetentionService(
        holder,
        store,
        deleter,
        cameras.registry,
        metrics,
        record,
        lambda: exports.pinned() | playback.pinned(),
        supervisor.health,
    )
    fleet.on_no_space(retention.kick)
    fleet.on_disk_space(retention.disk_space)
    recordings = RecordingsService(holder, queries, deleter)
    return RecordingParts(
        store, queries, index, fleet, deleter, exports, retention, recordings, playback
    )


async def start_recording(
    parts: RecordingParts, config: Config, ffmpeg: str, record: RecordEvent
) -> None:
    """Leftover FFmpeg of a previous run ended, the journal replayed, interrupted deletions
    finished, the index reconciled with the disk: only then may new recorders write."""
    await asyncio.to_thread(end_leftovers, parts.fleet.pid_dir)
    await parts.index.start()
    await parts.deleter.finish_interrupted()
    await recover(
        config.storage.paths, parts.store, ffmpeg, record, exclude=await parts.index.journal_paths()
    )
    await parts.exports.start()
