"""Recordings as the API sees them: overlap search with opaque cursors, the timeline of one
camera (spans and the reason for each gap), files served only by id from inside the storage
roots, deletion through the crash-consistent deleter."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vmsd.config.load import ConfigHolder
from vmsd.core.errors import NotFoundError, ValidationError
from vmsd.core.ints import is_id
from vmsd.recordings.deletion import Deleted, SegmentDeleter
from vmsd.store.recordings import RecordingQueries, RecordingRow, RecordingWindow

# Segments closer than this form one span, as in MediaMTX's playback server.
SPAN_MERGE_GAP_S = 1.0
TIMELINE_MAX_DAYS = 31
CONTENT_TYPES = {".mp4": "video/mp4", ".mkv": "video/x-matroska"}
# Which cameras' rows a caller may see (the API's per-camera access): by camera name.
Visible = Callable[[str], bool]


def every_camera(_camera: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime
    segments: int
    end_reason: str  # what closed the span's last segment: why the next gap exists


def encode_cursor(row: RecordingRow, newest_first: bool) -> str:
    raw = json.dumps([row.start.isoformat(), row.id, newest_first]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int, bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start_text, row_id, newest_first = json.loads(raw)
        start = datetime.fromisoformat(start_text)
        if not is_id(row_id) or start.tzinfo is None or not isinstance(newest_first, bool):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as err:
        raise ValidationError(
            "invalid cursor", [{"field": "cursor", "message": "not a cursor from this API"}]
        ) from err
    return start, row_id, newest_first


@dataclass(frozen=True, slots=True)
class ServedFile:
    """A file the API may serve, and the name a download gets."""

    path: Path
    content_type: str
    filename: str


def download_name(camera: str, start: datetime, end: datetime | None, suffix: str) -> str:
    """`<camera>_<start>[_<end>]<suffix>`, times in UTC as YYYYmmdd-HHMMSS: a downloaded file
    says what it holds. Camera names are [a-z0-9_-], so the name needs no quoting."""
    times = [t.astimezone(UTC).strftime("%Y%m%d-%H%M%S") for t in (start, end) if t is not None]
    return "_".join([camera, *times]) + suffix


class RecordingsService:
    def __init__(
        self, holder: ConfigHolder, queries: RecordingQueries, deleter: SegmentDeleter
    ) -> None:
        self._holder = holder
        self._queries = queries
        self._deleter = deleter

    async def search(
        self, window: RecordingWindow, limit: int, cursor: str | None
    ) -> tuple[list[RecordingRow], str | None]:
        after = None
        if cursor:
            after_start, after_id, newest_first = decode_cursor(cursor)
            if newest_first != window.newest_first:
                raise ValidationError(
                    "invalid cursor", [{"field": "cursor", "message": "made for the other order"}]
                )
            after = (after_start, after_id)
        rows = await self._queries.page(window, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1], window.newest_first) if more and rows else None

    async def get(self, recording_id: int, visible: Visible = every_camera) -> RecordingRow:
        """The row; one of a camera not `visible` is answered as a missing one."""
        row = await self._queries.get(recording_id)
        if row is None or not visible(row.camera):
            raise NotFoundError(f"no recording with id {recording_id}")
        return row

    async def file(self, recording_id: int, visible: Visible = every_camera) -> ServedFile:
        """The file of a recording, only if it lies inside a storage root."""
        row = await self.get(recording_id, visible)
        path = await asyncio.to_thread(
            _servable, Path(row.path), self._holder.current.storage.paths
        )
        if path is None:
            raise NotFoundError(f"the file of recording {recording_id} is not available")
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        name = download_name(row.camera, row.start, None, path.suffix)
        return ServedFile(path, content_type, name)

    async def delete(self, recording_id: int, visible: Visible = every_camera) -> Deleted:
        await self.get(recording_id, visible)
        deleted = await self._deleter.delete([recording_id])
        if not deleted:
            raise NotFoundError(f"no recording with id {recording_id}")
        return deleted[0]

    async def delete_range(
        self, cameras: list[str], start: datetime, end: datetime
    ) -> list[Deleted]:
        ids = await self._queries.ids_in_range(cameras or None, start, end)
        return await self._deleter.delete(ids)

    async def timeline(self, camera: str, start: datetime, end: datetime) -> list[Span]:
        if end - start > timedelta(days=TIMELINE_MAX_DAYS):
            raise ValidationError(
                "range too long",
                [{"field": "end", "message": f"at most {TIMELINE_MAX_DAYS} days after start"}],
            )
        spans = await self._queries.spans(camera, start, end, SPAN_MERGE_GAP_S)
        return [Span(*span) for span in spans]


def _servable(path: Path, roots: tuple[Path, ...]) -> Path | None:
    """Blocking: the real path, if it is a regular file inside a storage root (symlinks
    resolved, so a link out of the roots is refused)."""
    real = path.resolve()
    inside = any(real.is_relative_to(root.resolve()) for root in roots)
    return real if inside and real.is_file() else None
