"""Where a camera's finished segments go: made durable (fsync of the file and its
directory), measured, handed to the index with their end reason; a segment a kill cut short
is probed and indexed, or quarantined when it is unplayable. The recorder loop decides when a
run starts and ends; this decides what becomes of what it wrote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.events.bus import RecordEvent
from vmsd.recorder.metrics import RecorderMetrics
from vmsd.recorder.probe import probe_duration
from vmsd.recorder.run import ClosedSegment, RunOutcome
from vmsd.recorder.storage import StorageError, finish_segment_file, fsync_and_size
from vmsd.recordings.index import SegmentIndex
from vmsd.recordings.recovery import quarantine_file
from vmsd.store.recordings import EndReason, SegmentRecord


class SegmentSink:
    def __init__(
        self,
        camera: str,
        directory: Path,
        *,
        ffmpeg: str,
        index: SegmentIndex,
        metrics: Metrics,
        record_event: RecordEvent,
        disk_space: Callable[[int, int], None],
    ) -> None:
        self.name = camera
        self._directory = directory
        self._ffmpeg = ffmpeg
        self._index = index
        self._recorder_metrics = metrics.group(RecorderMetrics)
        self._record_event = record_event
        self._disk_space = disk_space
        self._log = get_logger("vmsd.recorder", camera=camera)
        self.last_segment_end: datetime | None = None
        self.bitrate_bits: float | None = None  # of the last segment
        self._unfinished: list[tuple[ClosedSegment, EndReason]] = []

    async def segment_closed(self, segment: ClosedSegment, end_reason: EndReason) -> None:
        """A segment FFmpeg listed: durable, then indexed. One whose file cannot be made
        durable now (its storage root vanished, as an unmounted disk does, while FFmpeg still
        wrote it through its open descriptor) is kept and tried again when the storage is
        back: the file comes back with it. The error still ends the run."""
        try:
            (size, total, free), dirs_error = await asyncio.to_thread(
                finish_segment_file, segment.path, self._directory
            )
        except StorageError:
            self._unfinished.append((segment, end_reason))
            raise
        self._disk_space(total, free)
        self._hand_over(self._record(segment, end_reason, size), segment.closed_monotonic)
        if dirs_error is not None:
            raise dirs_error

    async def retry_unfinished(self) -> None:
        """The storage is back: index the listed segments that could not be made durable, or
        report them lost if their files did not come back."""
        unfinished, self._unfinished = self._unfinished, []
        for segment, end_reason in unfinished:
            try:
                size, _, _ = await asyncio.to_thread(fsync_and_size, segment.path)
            except StorageError as err:
                if await asyncio.to_thread(segment.path.parent.is_dir):
                    self._log.warning("segment_lost", path=str(segment.path), error=str(err))
                    continue
                self._unfinished.append((segment, end_reason))  # still away: next time
                continue
            self._hand_over(self._record(segment, end_reason, size), segment.closed_monotonic)
            self._log.info("segment_indexed_after_storage_fault", path=str(segment.path))

    def _record(self, segment: ClosedSegment, end_reason: EndReason, size: int) -> SegmentRecord:
        return SegmentRecord(
            camera=self.name,
            path=str(segment.path),
            start=segment.start,
            end=segment.end,
            duration_s=(segment.end - segment.start).total_seconds(),
            bytes=size,
            end_reason=end_reason,
        )

    async def index_cut_segment(self, path: Path, outcome: RunOutcome) -> None:
        """A segment a kill cut short (FFmpeg never listed it): probed, then indexed with the
        run's end reason, or quarantined when unplayable."""
        if not await asyncio.to_thread(path.is_file):
            # Gone with its storage (a removed root): nothing to index, and quarantining it
            # would create the root again.
            self._log.warning("segment_lost", path=str(path))
            return
        duration = await probe_duration(self._ffmpeg, path)
        if duration is None:
            try:
                target = await asyncio.to_thread(quarantine_file, path)
            except OSError as err:
                raise StorageError(path, err) from err
            self._log.warning("segment_quarantined", path=str(path), moved_to=str(target))
            await self._record_event(
                "segment_quarantined",
                camera=self.name,
                path=str(path),
                to=str(target),
                reason="unplayable",
            )
            return
        anchor = outcome.anchor or datetime.now(UTC)
        start = anchor + timedelta(seconds=outcome.last_end_s)
        size, _, _ = await asyncio.to_thread(fsync_and_size, path)
        reason = EndReason.SOURCE_LOST if outcome.stalled else EndReason.RECORDER_CRASHED
        self._hand_over(
            SegmentRecord(
                self.name,
                str(path),
                start,
                start + timedelta(seconds=duration),
                duration,
                size,
                reason,
            ),
            time.monotonic(),
        )

    def _hand_over(self, record: SegmentRecord, closed_monotonic: float) -> None:
        self._index.add(record, closed_monotonic)
        self.last_segment_end = record.end
        if record.duration_s > 0:
            # The segment muxer reports no bitrate in -progress: measure it per segment.
            self.bitrate_bits = record.bytes * 8 / record.duration_s
            bitrate = self._recorder_metrics.recorder_bitrate
            bitrate.labels(camera=self.name).set(self.bitrate_bits / 8)
        self._recorder_metrics.segments.labels(camera=self.name).inc()
        self._recorder_metrics.recorded_bytes.labels(camera=self.name).inc(record.bytes)
        self._recorder_metrics.last_segment_timestamp.labels(camera=self.name).set(record.end.timestamp())
        self._log.debug("segment_closed", path=record.path, end_reason=record.end_reason.value)
