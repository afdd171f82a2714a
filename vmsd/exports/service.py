"""Clip exports: one MP4 (faststart) joined by stream copy from the segments of a range, made
by background jobs, at most `exports.max_concurrent` at a time. Segments used by a running
export are pinned (retention does not delete them); a restart marks running jobs failed."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import signal
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from vmsd.config.load import ConfigHolder
from vmsd.core.errors import ConflictError, NotFoundError, ValidationError, describe_error
from vmsd.core.ints import is_id
from vmsd.core.log import get_logger
from vmsd.core.proc import spawn_child, stop_process
from vmsd.core.redact import redact_text
from vmsd.core.wait import wait_event
from vmsd.events.bus import RecordEvent
from vmsd.exports.plan import ExportPlan, build_concat
from vmsd.recorder.ffmpeg import ProgressParser
from vmsd.recordings.service import ServedFile, Visible, download_name, every_camera
from vmsd.store.db import DB_UNAVAILABLE, bounded
from vmsd.store.exports import ExportJob, ExportStore
from vmsd.store.recordings import RecordingQueries

log = get_logger("vmsd.exports")

EXPORTS_DIR = "exports"
MAX_SEGMENTS = 20_000
SWEEP_S = 60.0
DB_RETRY_S = 5.0  # the next pass, while the database is away or a result waits to be saved
PROGRESS_TIMEOUT_S = 1.0


class _Result(TypedDict):
    path: str | None
    size: int | None
    gaps: Sequence[dict[str, Any]]
    covered_s: float | None
    error: str | None


def _failed(error: str, plan: ExportPlan | None = None) -> _Result:
    gaps = [gap.as_json() for gap in plan.gaps] if plan is not None else []
    covered = plan.covered_s if plan is not None else None
    return _Result(path=None, size=None, gaps=gaps, covered_s=covered, error=error)


def _encode_cursor(job: ExportJob) -> str:
    return base64.urlsafe_b64encode(json.dumps([job.id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        (job_id,) = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not is_id(job_id):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as err:
        raise ValidationError(
            "invalid cursor", [{"field": "cursor", "message": "not a cursor from this API"}]
        ) from err
    return int(job_id)


class ExportService:
    def __init__(
        self,
        holder: ConfigHolder,
        store: ExportStore,
        queries: RecordingQueries,
        ffmpeg: str,
        record_event: RecordEvent,
    ) -> None:
        self._holder = holder
        self._store = store
        self._queries = queries
        self._ffmpeg = ffmpeg
        self._record_event = record_event
        self._dir = holder.current.state_dir / EXPORTS_DIR
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._pins: dict[int, frozenset[int]] = {}
        self._unsaved: dict[int, _Result] = {}  # results the database could not take yet
        self._deferred = False  # the last pass found the database away

    def pinned(self) -> frozenset[int]:
        """Segment ids a running export reads: retention leaves them alone."""
        return frozenset().union(*self._pins.values()) if self._pins else frozenset()

    async def start(self) -> None:
        for job_id in await self._store.fail_interrupted():
            log.warning("export_interrupted", export=job_id)
            await self._record_event("export_failed", export=job_id, reason="daemon restart")

    async def create(self, camera: str, start: datetime, end: datetime) -> ExportJob:
        limit = timedelta(hours=self._holder.current.exports.max_range_hours)
        if end - start > limit:
            raise ValidationError(
                "range too long", [{"field": "end", "message": f"at most {limit} after start"}]
            )
        expires = datetime.now(UTC) + timedelta(hours=self._holder.current.exports.expire_hours)
        job = await self._store.create(camera, start, end, expires)
        log.info("export_queued", export=job.id, camera=camera)
        self._wake.set()
        return job

    async def get(self, job_id: int, visible: Visible = every_camera) -> ExportJob:
        """The job; one of a camera not `visible` is answered as a missing one."""
        job = await self._store.get(job_id)
        if not visible(job.camera):
            raise NotFoundError(f"no export with id {job_id}")
        return job

    async def search(
        self, cameras: Sequence[str], states: Sequence[str], limit: int, cursor: str | None
    ) -> tuple[list[ExportJob], str | None]:
        """A page of jobs, newest first, and the cursor of the next one (None: the last)."""
        before = _decode_cursor(cursor) if cursor else None
        jobs = await self._store.page(cameras, states, limit + 1, before)
        more = len(jobs) > limit
        jobs = jobs[:limit]
        return jobs, _encode_cursor(jobs[-1]) if more and jobs else None

    async def file(self, job_id: int, visible: Visible = every_camera) -> ServedFile:
        job = await self.get(job_id, visible)
        if job.state != "done" or job.path is None:
            # The request is right, the job is not there yet: a conflict with its state.
            raise ConflictError(f"export {job_id} is {job.state}, not done")
        name = download_name(job.camera, job.start, job.end, ".mp4")
        return ServedFile(Path(job.path), "video/mp4", name)

    async def delete(self, job_id: int, visible: Visible = every_camera) -> None:
        await self.get(job_id, visible)
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()  # its own finally stops FFmpeg; the task stays owned by run()
        self._unsaved.pop(job_id, None)
        job = await self._store.delete(job_id)
        await asyncio.to_thread(_remove_files, self._dir, job.id)

    async def run(self) -> None:
        """Claims queued jobs and expires old ones, forever. A pass that finds the database
        away (down, hung, restarting) is logged and tried again at the next one: running
        jobs go on, and nothing here waits longer than one query's bound."""
        async with asyncio.TaskGroup() as tg:
            while True:
                await self.run_once(tg)
                await wait_event(self._wake, self._retry_s())
                self._wake.clear()

    async def run_once(self, tg: asyncio.TaskGroup) -> bool:
        """One pass: unsaved results saved, queued jobs claimed, expired ones removed.
        False when the database did not answer (the pass is retried later)."""
        try:
            await self._save_unsaved()
            await self._claim(tg)
            await self._sweep()
        except DB_UNAVAILABLE as err:
            if not self._deferred:
                log.warning("exports_pass_deferred", error=describe_error(err))
            self._deferred = True
            return False
        if self._deferred:
            log.info("exports_pass_resumed")
        self._deferred = False
        return True

    def _retry_s(self) -> float:
        return DB_RETRY_S if self._deferred or self._unsaved else SWEEP_S

    async def _claim(self, tg: asyncio.TaskGroup) -> None:
        while len(self._running) < self._holder.current.exports.max_concurrent:
            job = await bounded(self._store.next_queued())
            if job is None:
                return
            self._running[job.id] = tg.create_task(self._run_job(job))

    async def _finish(self, job_id: int, result: _Result) -> None:
        """Stores a job's result; one the database cannot take now is kept and stored by a
        later pass (the job stays 'running' in the table meanwhile)."""
        try:
            await bounded(self._store.finish(job_id, **result))
        except DB_UNAVAILABLE as err:
            log.warning("export_result_deferred", export=job_id, error=describe_error(err))
            self._unsaved[job_id] = result
            self._wake.set()

    async def _save_unsaved(self) -> None:
        for job_id, result in list(self._unsaved.items()):
            await bounded(self._store.finish(job_id, **result))
            del self._unsaved[job_id]
            log.info("export_result_saved", export=job_id)

    async def _run_job(self, job: ExportJob) -> None:
        try:
            await self._make(job)
        except asyncio.CancelledError:
            log.info("export_cancelled", export=job.id)
        except Exception as err:  # a job's failure is its own, never the service's
            log.exception("export_failed", export=job.id)
            await self._finish(job.id, _failed(describe_error(err)))
        finally:
            self._pins.pop(job.id, None)
            self._running.pop(job.id, None)
            self._wake.set()

    async def _make(self, job: ExportJob) -> None:
        rows = await bounded(
            self._queries.overlapping([job.camera], job.start, job.end, MAX_SEGMENTS)
        )
        plan = build_concat(rows, job.start, job.end)
        if plan.empty:
            await self._finish(job.id, _failed("no recordings in the range", plan))
            return
        self._pins[job.id] = frozenset(r.id for r in rows)
        await asyncio.to_thread(self._dir.mkdir, parents=True, exist_ok=True)
        listing, output = self._dir / f"{job.id}.ffconcat", self._dir / f"{job.id}.mp4"
        await asyncio.to_thread(listing.write_text, plan.script)
        error = await self._ffmpeg_concat(job.id, listing, output, plan.covered_s)
        await asyncio.to_thread(listing.unlink, missing_ok=True)
        if error is not None:
            await asyncio.to_thread(output.unlink, missing_ok=True)
            await self._finish(job.id, _failed(error, plan))
            await self._record_event("export_failed", export=job.id, reason=error)
            return
        size = (await asyncio.to_thread(output.stat)).st_size
        gaps = [gap.as_json() for gap in plan.gaps]
        done = _Result(path=str(output), size=size, gaps=gaps, covered_s=plan.covered_s, error=None)
        await self._finish(job.id, done)
        requested_s = (job.end - job.start).total_seconds()
        log.info(
            "export_done",
            export=job.id,
            bytes=size,
            gaps=len(gaps),
            covered_seconds=round(plan.covered_s, 3),
            requested_seconds=requested_s,
        )
        await self._record_event("export_done", camera=job.camera, export=job.id, bytes=size)

    async def _ffmpeg_concat(
        self, job_id: int, listing: Path, output: Path, total_s: float
    ) -> str | None:
        proc = await spawn_child(
            *(self._ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"),
            *("-progress", "pipe:1", "-stats_period", "1"),
            *("-f", "concat", "-safe", "0", "-i", str(listing)),
            *("-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"),
            *("-movflags", "+faststart", "-y", str(output)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None and proc.stderr is not None
            async with asyncio.TaskGroup() as tg:
                stderr = tg.create_task(proc.stderr.read())
                tg.create_task(self._follow(job_id, proc.stdout, total_s))
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                await stop_process(proc, first_signal=signal.SIGKILL, grace_s=1.0)
        err = stderr.result()
        if code != 0:
            tail = redact_text(err.decode(errors="replace")).strip().splitlines()[-3:]
            return f"FFmpeg failed ({code}): {' | '.join(tail)}"
        return None

    async def _follow(
        self, job_id: int, stdout: asyncio.StreamReader, total_s: float
    ) -> None:
        parser = ProgressParser()
        async for raw in stdout:
            progress = parser.feed(raw.decode(errors="replace"))
            if progress is not None and total_s > 0:
                fraction = min(progress.out_time_us / 1e6 / total_s, 1.0)
                await self._progress(job_id, round(fraction, 3))

    async def _progress(self, job_id: int, fraction: float) -> None:
        """Progress is advisory: a database that is away must not stall FFmpeg's pipe."""
        if self._deferred:
            return
        try:
            await bounded(self._store.progress(job_id, fraction), PROGRESS_TIMEOUT_S)
        except DB_UNAVAILABLE as err:
            log.debug("export_progress_skipped", export=job_id, error=describe_error(err))

    async def _sweep(self) -> None:
        for job in await bounded(self._store.expired(datetime.now(UTC))):
            with contextlib.suppress(NotFoundError):  # deleted meanwhile (API, another box)
                await bounded(self._store.delete(job.id))
            await asyncio.to_thread(_remove_files, self._dir, job.id)
            log.info("export_expired", export=job.id)


def _remove_files(directory: Path, job_id: int) -> None:
    for suffix in (".mp4", ".ffconcat"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / f"{job_id}{suffix}")
