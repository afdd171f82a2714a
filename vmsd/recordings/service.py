"""Recordings as the API sees them: overlap search with opaque cursors, the timeline of one
camera (spans and the reason for each gap), files served only by id from inside the storage
roots, deletion through the crash-consistent deleter."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from vmsd.config.load import ConfigHolder
from vmsd.core.errors import NotFoundError, ValidationError
from vmsd.core.ints import is_id
from vmsd.recordings.deletion import Deleted, SegmentDeleter
from vmsd.store.recordings import RecordingQueries, RecordingRow

# Segments closer than this form one span, as in MediaMTX's playback server.
SPAN_MERGE_GAP_S = 1.0
TIMELINE_MAX_DAYS = 31
CONTENT_TYPES = {".mp4": "video/mp4", ".mkv": "video/x-matroska"}


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime
    segments: int
    end_reason: str  # what closed the span's last segment: why the next gap exists


def encode_cursor(row: RecordingRow) -> str:
    raw = json.dumps([row.start.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start_text, row_id = json.loads(raw)
        start = datetime.fromisoformat(start_text)
        if not is_id(row_id) or start.tzinfo is None:
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as err:
        raise ValidationError(
            "invalid cursor", [{"field": "cursor", "message": "not a cursor from this API"}]
        ) from err
    return start, row_id


class RecordingsService:
    def __init__(
        self, holder: ConfigHolder, queries: RecordingQueries, deleter: SegmentDeleter
    ) -> None:
        self._holder = holder
        self._queries = queries
        self._deleter = deleter

    async def search(
        self,
        cameras: list[str],
        start: datetime,
        end: datetime,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[RecordingRow], str | None]:
        after = decode_cursor(cursor) if cursor else None
        rows = await self._queries.overlapping(cameras or None, start, end, limit + 1, after)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]) if more and rows else None

    async def get(self, recording_id: int) -> RecordingRow:
        row = await self._queries.get(recording_id)
        if row is None:
            raise NotFoundError(f"no recording with id {recording_id}")
        return row

    async def file(self, recording_id: int) -> tuple[Path, str]:
        """The file of a recording, only if it lies inside a storage root."""
        row = await self.get(recording_id)
        path = await asyncio.to_thread(
            _servable, Path(row.path), self._holder.current.storage.paths
        )
        if path is None:
            raise NotFoundError(f"the file of recording {recording_id} is not available")
        return path, CONTENT_TYPES.get(path.suffix, "application/octet-stream")

    async def delete(self, recording_id: int) -> Deleted:
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
