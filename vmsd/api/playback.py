"""/api/v1/cameras/{name}/playback: a range streamed as fragmented MP4, and its plan (where
the stream starts on the wall clock, the gaps it skips)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BeforeValidator, Field, WithJsonSchema

from vmsd.access.roles import Role
from vmsd.api.audit_note import audit_note
from vmsd.api.query import CameraPath, Params, Time, camera_name, read_params
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import services
from vmsd.api.visibility import require_camera
from vmsd.core.errors import ValidationError
from vmsd.core.units import MAX_TEXT_CHARS, TEXT_DURATION_PATTERN, parse_text_duration_s
from vmsd.recordings.playback import PlaybackPlan
from vmsd.recordings.player import Outcome
from vmsd.store.recordings import EndReason

MIN_DURATION_S = 1.0
_TIME = "RFC 3339 time with an offset (a `+` sent unencoded, as a space, is read as `+`)"
TextDuration = Annotated[
    float,
    BeforeValidator(parse_text_duration_s),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": TEXT_DURATION_PATTERN,
            "maxLength": MAX_TEXT_CHARS,
            "description": "seconds (`600`) or a duration (`90s`, `15m`, `1h`): at least 1 s, "
            "at most exports.max_range_hours",
        }
    ),
]


class PlaybackQuery(Params):
    start: Time = Field(description=f"{_TIME}: the stream starts at the keyframe at or before it")
    duration: TextDuration
    align: Literal["segment"] | None = Field(
        default=None,
        description="`segment`: run on past start + duration to the end of the segment "
        "holding it, so that a stream asked for from this one's end (X-Playback-End) "
        "starts exactly there, on that segment's first keyframe, with nothing played twice",
    )

    def bounds(self, max_hours: float) -> tuple[datetime, float]:
        if not MIN_DURATION_S <= self.duration <= max_hours * 3600:
            raise ValidationError(
                "invalid duration",
                [{"field": "duration", "message": f"from 1s to {max_hours * 3600:g}s"}],
            )
        try:
            (self.start + timedelta(seconds=self.duration)).astimezone(UTC)
        except OverflowError as err:
            raise ValidationError(
                "invalid range", [{"field": "duration", "message": "ends past year 9999"}]
            ) from err
        return self.start, self.duration


class PlaybackGapOut(Out):
    start: datetime
    end: datetime
    seconds: float
    reason: EndReason = Field(description="what ended the segment before the gap")
    at_seconds: float = Field(description="the stream's time (currentTime) where it is skipped")


class PlaybackPlanOut(Out):
    camera: str
    start: datetime = Field(description="wall clock of the stream's time 0 (a keyframe)")
    end: datetime = Field(description="wall clock where the stream ends (recording or range)")
    duration_seconds: float = Field(description="the stream's length: recorded time only")
    end_reason: EndReason | None = Field(
        description="what ended the last segment when the stream plays it to its end (a "
        "stream asked for from `end` starts after a gap of this reason when there is one); "
        "null when the range ends inside a segment"
    )
    segments: int
    gaps: list[PlaybackGapOut] = Field(
        description="holes the stream skips without a jump in its time, in order: wall clock "
        "= start + currentTime + the seconds of every gap whose at_seconds <= currentTime"
    )


def plan_out(camera: str, plan: PlaybackPlan) -> PlaybackPlanOut:
    return PlaybackPlanOut(
        camera=camera,
        start=plan.first_frame,
        end=plan.recorded_until,
        duration_seconds=plan.covered_s,
        end_reason=plan.end_reason,
        segments=len(plan.segment_ids),
        gaps=[
            PlaybackGapOut(
                start=g.start,
                end=g.end,
                seconds=(g.end - g.start).total_seconds(),
                reason=g.reason,
                at_seconds=round(g.at_s, 6),
            )
            for g in plan.gaps
        ],
    )


def _query(request: web.Request) -> tuple[str, datetime, float, bool]:
    camera = require_camera(request, camera_name(request)).name
    max_hours = services(request).config.current.exports.max_range_hours
    query = read_params(PlaybackQuery, request.query)
    start, duration_s = query.bounds(max_hours)
    return camera, start, duration_s, query.align == "segment"


async def playback_plan(request: web.Request) -> web.Response:
    camera, start, duration_s, aligned = _query(request)
    plan = await services(request).playback.plan(
        camera, start, start + timedelta(seconds=duration_s), to_segment_end=aligned
    )
    return body(plan_out(camera, plan))


async def playback(request: web.Request) -> web.StreamResponse:
    camera, start, duration_s, aligned = _query(request)
    note = audit_note(request)
    note.details.update(start=start.isoformat(), duration_seconds=duration_s)
    playbacks = services(request).playback
    async with playbacks.open(camera, start, duration_s, to_segment_end=aligned) as stream:
        response = web.StreamResponse(
            headers={
                "Content-Type": "video/mp4",
                "X-Playback-Start": stream.plan.first_frame.isoformat(),
                "X-Playback-End": stream.plan.recorded_until.isoformat(),
                "X-Playback-Gaps": str(len(stream.plan.gaps)),
            }
        )
        await response.prepare(request)
        outcome = await stream.send(response.write)
        note.details.update(
            first_frame=stream.plan.first_frame.isoformat(),
            bytes=stream.sent_bytes,
            outcome=str(outcome),
        )
        if outcome is Outcome.COMPLETE:
            await response.write_eof()
        elif request.transport is not None:
            # Cut short: no closing chunk, so the player sees a broken stream, not an end.
            request.transport.close()
    return response


_NOTHING = Reply("no such camera, or `nothing_recorded`: no recording in the range")
_STREAM_HEADERS = {
    "X-Playback-Start": "RFC 3339: wall clock of the stream's time 0 (the keyframe at or "
    "before start; later when the recording starts later)",
    "X-Playback-End": "RFC 3339: wall clock where the stream ends",
    "X-Playback-Gaps": "how many gaps the stream skips (their places: .../playback/plan)",
}
ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}/playback",
        playback,
        "A range as fragmented MP4, streamed while the segments are joined by stream copy",
        role=Role.VIEWER,
        action="recording.playback",
        tag="recordings",
        path_params=CameraPath,
        query=PlaybackQuery,
        responses={
            200: Reply("the stream", media_types=("video/mp4",), headers=_STREAM_HEADERS),
            404: _NOTHING,
            503: Reply(
                "`playback_busy`: playback.max_concurrent streams are running; "
                "`playback_failed`: FFmpeg could not read the recordings; or vmsd is "
                "stopping, or the database is unreachable",
                headers={"Retry-After": "seconds"},
            ),
        },
    ),
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}/playback/plan",
        playback_plan,
        "What a playback of the range streams: its wall-clock start, length and gaps",
        role=Role.VIEWER,
        tag="recordings",
        path_params=CameraPath,
        query=PlaybackQuery,
        responses={200: Reply("the plan", PlaybackPlanOut), 404: _NOTHING},
    ),
]
