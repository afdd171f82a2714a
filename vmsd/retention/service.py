"""The retention job: gather the candidates and the disk usage, plan, delete, report; then the
quarantine's expired files. Runs every `retention.interval_seconds`, and at once when kicked (a
recorder found no space left)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.cameras.registry import CameraRegistry
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.backoff import Backoff
from vmsd.core.errors import describe_error
from vmsd.core.health import Health
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.wait import wait_event
from vmsd.events.bus import RecordEvent
from vmsd.recordings.deletion import Deleted, SegmentDeleter
from vmsd.retention.metrics import RetentionMetrics
from vmsd.retention.planner import (
    CameraRules,
    CameraSegments,
    Candidate,
    Deletion,
    RootUsage,
    plan_retention,
    watermarks,
)
from vmsd.retention.quarantine import (
    QuarantineSweep,
    QuarantineUsage,
    quarantine_usage,
    sweep_quarantine,
)
from vmsd.store.db import DB_UNAVAILABLE
from vmsd.store.recordings import CameraTotals, RecordingStore

FAILED_PASS_BACKOFF = Backoff(initial_s=5.0, max_s=300.0, jitter=0.1)
COMPONENT = "retention"  # its name on /readyz, the one the daemon supervises it under
log = get_logger("vmsd.retention")

BATCH_PER_CAMERA = 2000
MAX_BATCHES_PER_PASS = 50


def root_of(path: str, roots: tuple[Path, ...]) -> str | None:
    for root in roots:
        if Path(path).is_relative_to(root):
            return str(root)
    return None


def camera_rules(
    config: Config, registry: CameraRegistry, cameras: list[str]
) -> dict[str, CameraRules]:
    """Each camera's own retention over the defaults; a deleted camera's recordings follow the
    defaults."""
    defaults = config.retention
    rules = {}
    for name in cameras:
        camera = registry.cameras.get(name)
        own = camera.retention if camera is not None else None
        max_age = own.max_age if own is not None and own.max_age is not None else defaults.max_age
        max_bytes = (
            own.max_bytes if own is not None and own.max_bytes is not None else defaults.max_bytes
        )
        rules[name] = CameraRules(max_age, max_bytes)
    return rules


class RetentionService:
    def __init__(
        self,
        holder: ConfigHolder,
        store: RecordingStore,
        deleter: SegmentDeleter,
        registry: CameraRegistry,
        metrics: Metrics,
        record_event: RecordEvent,
        pinned: Callable[[], frozenset[int]] = frozenset,
        health: Health | None = None,
    ) -> None:
        self._holder = holder
        self._store = store
        self._deleter = deleter
        self._registry = registry
        self._retention_metrics = metrics.group(RetentionMetrics)
        self._record_event = record_event
        self._pinned = pinned
        self._health = health
        self._failing = False
        self._kick = asyncio.Event()
        self._published_roots: set[str] = set()
        self._published_cameras: set[str] = set()
        self._published_quarantine: set[str] = set()

    async def storage(self) -> dict[str, object]:
        config = self._holder.current
        totals = await self._store.camera_totals()
        usage = await asyncio.to_thread(usage_of, config)
        quarantine = await asyncio.to_thread(quarantine_usage, config.storage.paths)
        return await asyncio.to_thread(storage_report, config, totals, usage, quarantine)

    def kick(self) -> None:
        self._kick.set()

    def disk_space(self, total_bytes: int, free_bytes: int) -> None:
        """A segment was just written: run now if its disk is under the low watermark, rather
        than at the next interval (a disk fills faster than an interval when segments are
        short)."""
        retention = self._holder.current.retention
        low, _ = watermarks(
            total_bytes,
            retention.min_free_percent,
            retention.min_free_bytes,
            retention.target_free_percent,
        )
        if free_bytes < low:
            self._kick.set()

    async def run(self) -> None:
        """A pass every interval (or at once when kicked). A failed pass is tried again
        sooner, with backoff (5 s, 10 s, ... up to the interval), so that retention resumes
        soon after what stopped it: the database answering again, most often. A database that
        is away is /readyz's `database`, not a retention failure; any other failure shows on
        /readyz as `retention` until a pass succeeds."""
        retries = FAILED_PASS_BACKOFF.series()
        while True:
            interval = self._holder.current.retention.interval_seconds
            try:
                await self.run_once()
            except DB_UNAVAILABLE as err:
                log.warning("retention_pass_deferred", error=describe_error(err))
                delay = retries.failed()
            except Exception as err:  # a periodic job: log, report, try again soon
                log.exception("retention_pass_failed")
                self._report_health(describe_error(err))
                delay = retries.failed()
            else:
                self._report_health(None)
                retries.succeeded()
                delay = interval
            await wait_event(self._kick, min(delay, interval))
            self._kick.clear()

    def _report_health(self, error: str | None) -> None:
        """A failing pass shows on /readyz (the job itself goes on: it is not restarted); the
        next good pass clears it."""
        if self._health is None or (error is None and not self._failing):
            return
        self._failing = error is not None
        if error is not None:
            self._health.failed(COMPONENT, error)
        else:
            self._health.set(COMPONENT, True)

    async def run_once(self) -> list[tuple[Deletion, Deleted]]:
        try:
            done = await self._pass()
        except Exception:
            self._retention_metrics.retention_passes.labels(result="failed").inc()
            raise
        self._retention_metrics.retention_passes.labels(result="ok").inc()
        self._retention_metrics.retention_last_pass.set(time.time())
        return done

    async def _pass(self) -> list[tuple[Deletion, Deleted]]:
        done: list[tuple[Deletion, Deleted]] = []
        for _ in range(MAX_BATCHES_PER_PASS):
            config = self._holder.current
            totals = await self._store.camera_totals()
            usage = await asyncio.to_thread(usage_of, config)
            self._publish(config, totals, usage)
            rules = camera_rules(config, self._registry, [t.camera for t in totals])
            now = datetime.now(UTC)
            due = [t for t in totals if _may_be_due(t, rules[t.camera], usage, now)]
            plan = plan_retention(
                await self._candidates(config, due), rules, usage, now, self._pinned()
            )
            if not plan.deletions:
                break
            deleted = await self._deleter.delete([d.segment.id for d in plan.deletions])
            by_id = {d.id: d for d in deleted}
            done += [(p, by_id[p.segment.id]) for p in plan.deletions if p.segment.id in by_id]
            if not plan.more:
                break
        if done:
            await self._report(done)
        await self._sweep_quarantine(self._holder.current)
        return done

    async def _sweep_quarantine(self, config: Config) -> list[QuarantineSweep]:
        sweeps = await asyncio.to_thread(
            sweep_quarantine,
            config.storage.paths,
            time.time(),
            config.retention.quarantine_max_age,
        )
        metrics = self._retention_metrics
        for sweep in sweeps:
            metrics.quarantine_files.labels(path=sweep.root).set(sweep.left.files)
            metrics.quarantine_bytes.labels(path=sweep.root).set(sweep.left.bytes)
            metrics.quarantine_removed_files.inc(sweep.removed_files)
            metrics.quarantine_removed_bytes.inc(sweep.removed_bytes)
        for gone in self._published_quarantine - {s.root for s in sweeps}:
            for family in (metrics.quarantine_files, metrics.quarantine_bytes):
                with contextlib.suppress(KeyError):
                    family.remove(gone)
        self._published_quarantine = {s.root for s in sweeps}
        removed = [s for s in sweeps if s.removed_files]
        if removed:
            log.info(
                "quarantine_expired",
                files=sum(s.removed_files for s in removed),
                bytes=sum(s.removed_bytes for s in removed),
                paths=[s.root for s in removed],
            )
        return sweeps

    async def _candidates(
        self, config: Config, totals: list[CameraTotals]
    ) -> dict[str, CameraSegments]:
        out = {}
        for total in totals:
            oldest = await self._store.oldest_segments(total.camera, BATCH_PER_CAMERA)
            candidates = [
                Candidate(s.id, s.camera, root, s.start, s.end, s.bytes)
                for s in oldest
                if (root := root_of(s.path, config.storage.paths)) is not None
            ]
            out[total.camera] = CameraSegments(
                candidates, total.bytes, complete=len(oldest) < BATCH_PER_CAMERA
            )
        return out

    def _publish(
        self, config: Config, totals: list[CameraTotals], usage: Mapping[str, RootUsage]
    ) -> None:
        metrics = self._retention_metrics
        metrics.retention_interval.set(config.retention.interval_seconds)
        for root, use in usage.items():
            metrics.retention_low_watermark.labels(path=root).set(use.low_free_bytes)
            metrics.retention_target_free.labels(path=root).set(use.target_free_bytes)
        for total in totals:
            metrics.camera_recorded_bytes.labels(camera=total.camera).set(total.bytes)
            metrics.oldest_recording.labels(camera=total.camera).set(total.oldest_start.timestamp())
        # A storage path dropped by a reload, a camera with nothing left: no stale series.
        cameras = {t.camera for t in totals}
        for gone, families in (
            (
                self._published_roots - usage.keys(),
                (metrics.retention_low_watermark, metrics.retention_target_free),
            ),
            (
                self._published_cameras - cameras,
                (metrics.camera_recorded_bytes, metrics.oldest_recording),
            ),
        ):
            for label in gone:
                for family in families:
                    with contextlib.suppress(KeyError):
                        family.remove(label)
        self._published_roots, self._published_cameras = set(usage), cameras

    async def _report(self, done: list[tuple[Deletion, Deleted]]) -> None:
        summary: dict[str, dict[str, dict[str, int]]] = {}
        for plan, deleted in done:
            rule = plan.rule.value
            metrics = self._retention_metrics
            metrics.retention_deleted_segments.labels(camera=deleted.camera, rule=rule).inc()
            metrics.retention_deleted_bytes.labels(camera=deleted.camera, rule=rule).inc(
                deleted.bytes
            )
            per_rule = summary.setdefault(deleted.camera, {}).setdefault(
                rule, {"segments": 0, "bytes": 0}
            )
            per_rule["segments"] += 1
            per_rule["bytes"] += deleted.bytes
        log.info("retention_pass", segments=len(done), deleted=summary)
        await self._record_event("retention_pass", segments=len(done), deleted=summary)


def _may_be_due(
    total: CameraTotals, rule: CameraRules, usage: Mapping[str, RootUsage], now: datetime
) -> bool:
    """Whether a camera's oldest segments are worth fetching: an idle pass (the usual one)
    then costs one aggregate query, not a batch of rows per camera."""
    if any(u.free_bytes < u.low_free_bytes for u in usage.values()):
        return True
    if rule.max_bytes is not None and total.bytes > rule.max_bytes:
        return True
    return rule.max_age_s is not None and total.oldest_start < now - timedelta(
        seconds=rule.max_age_s
    )


def usage_of(config: Config) -> dict[str, RootUsage]:
    """Blocking (in a thread): each storage root's filesystem and watermarks."""
    retention = config.retention
    usage = {}
    for root in config.storage.paths:
        try:
            disk = shutil.disk_usage(root)
        except OSError:
            continue  # not there (yet): nothing to free on it
        low, target = watermarks(
            disk.total,
            retention.min_free_percent,
            retention.min_free_bytes,
            retention.target_free_percent,
        )
        usage[str(root)] = RootUsage(disk.total, disk.free, low, target)
    return usage


def storage_report(
    config: Config,
    totals: list[CameraTotals],
    usage: Mapping[str, RootUsage],
    quarantine: Mapping[str, QuarantineUsage] | None = None,
) -> dict[str, object]:
    """GET /api/v1/storage. Pure over the figures gathered by the caller."""
    quarantine = quarantine or {}
    rates: dict[str, float] = {}  # bytes per day, per root
    cameras = []
    for total in totals:
        days = max((total.newest_end - total.oldest_start).total_seconds() / 86400, 1 / 24)
        per_day = total.bytes / days
        root = next((str(r) for r in config.storage.paths if (r / total.camera).exists()), None)
        if root is not None:
            rates[root] = rates.get(root, 0.0) + per_day
        cameras.append(
            {
                "camera": total.camera,
                "path": root,
                "bytes": total.bytes,
                "segments": total.segments,
                "oldest": total.oldest_start.isoformat(),
                "newest": total.newest_end.isoformat(),
                "bytes_per_day": round(per_day),
            }
        )
    paths = []
    for root, use in usage.items():
        rate = rates.get(root, 0.0)
        headroom = max(use.free_bytes - use.low_free_bytes, 0)
        paths.append(
            {
                "path": root,
                "total_bytes": use.total_bytes,
                "used_bytes": use.total_bytes - use.free_bytes,
                "free_bytes": use.free_bytes,
                "low_watermark_free_bytes": use.low_free_bytes,
                "target_free_bytes": use.target_free_bytes,
                # At the current recording rate, days until retention must delete for space.
                "days_until_low_watermark": round(headroom / rate, 1) if rate else None,
                # Unplayable files kept for a look, retention.quarantine_max_age.
                "quarantine": {
                    "files": quarantine.get(root, QuarantineUsage()).files,
                    "bytes": quarantine.get(root, QuarantineUsage()).bytes,
                },
            }
        )
    return {"paths": paths, "cameras": cameras}
