"""The cameras' and probes' bodies: a camera as the API shows it (its recorder, its last
error), a restart's answer, a probe's request and its verdict."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.json_schema import SkipJsonSchema

from vmsd.api.schemas import Out, sparse
from vmsd.cameras.state import CameraState
from vmsd.config.cameras import SOURCE_SCHEMA, RtspTransport
from vmsd.config.recording import RecordingOverrides, SegmentFormat
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.model import RecorderState
from vmsd.recorder.probe_stream import ProbeVia, RecordMode


class RecordingOverridesOut(Out):
    segment_seconds: int | SkipJsonSchema[None] = sparse()
    format: SegmentFormat | SkipJsonSchema[None] = sparse()
    stall_seconds: float | SkipJsonSchema[None] = sparse()
    audio: bool | SkipJsonSchema[None] = sparse()


class RetentionOverridesOut(Out):
    max_age: float | SkipJsonSchema[None] = sparse("seconds")
    max_bytes: int | SkipJsonSchema[None] = sparse()


class RecorderOut(Out):
    state: RecorderState
    pid: int | None
    started_at: datetime | None
    restarts_total: int
    restarts_last_hour: int
    last_segment_end: datetime | None
    fps: float | None
    bitrate_bits: float | None


class RecorderIdle(Out):
    """No recorder runs for the camera (disabled, not recording, or not started yet)."""

    state: Literal["stopped"] = "stopped"


class LastErrorOut(Out):
    """Why the camera could not be read, the last time it could not (kept after recovery)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    failure: FailureClass = Field(alias="class", description="the failure's stable class")
    message: str = Field(
        description="the line of FFmpeg's output (or the connect) telling it, credentials redacted"
    )
    at: datetime
    repeats: int = Field(description="failed runs of this class in a row")


class CameraOut(Out):
    name: str
    source: str = Field(description="the source URL, its password and secret parameters as ***")
    username: str | None
    has_password: bool
    rtsp_transport: RtspTransport
    enabled: bool
    record: bool
    recording: RecordingOverridesOut
    retention: RetentionOverridesOut
    description: str
    location: str
    groups: list[str] = Field(description="what a scope entry `group:<name>` grants")
    managed_by: Literal["api", "config"]
    created_at: datetime | None
    updated_at: datetime | None
    state: CameraState
    state_since: datetime
    state_reason: str = Field(description="why the camera is in its state (README: Camera states)")
    last_error: LastErrorOut | None
    retry_at: datetime | None = Field(
        description="while the recorder waits after a failure: when it tries again"
    )
    readers: int | None
    inbound_bytes: int | None
    recorder: RecorderOut | RecorderIdle


class RestartOut(Out):
    camera: str
    restart: Literal["requested"] = "requested"


class ProbeRequest(BaseModel):
    """A source to probe before it is saved: these keys of a camera, checked by the same
    rules as a camera's (a 422 names the rule), plus the recording settings it would get."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(json_schema_extra=SOURCE_SCHEMA)
    username: str | None = None
    password: SecretStr | None = None
    rtsp_transport: RtspTransport = RtspTransport.TCP
    recording: RecordingOverrides = Field(
        default=RecordingOverrides(), description="format and audio decide the verdict"
    )


class ProbeVideoOut(Out):
    codec: str = Field(description="FFmpeg's name: h264, hevc, mjpeg, ...")
    profile: str | None
    width: int | None
    height: int | None
    fps: float | None = Field(description="as the stream declares it, else as counted")
    bitrate_bits: float | None = Field(
        description="measured: bits per second of the video read (payload, no overhead)"
    )


class ProbeAudioOut(Out):
    codec: str = Field(description="FFmpeg's name: aac, pcm_alaw (G.711 A-law), opus, ...")
    profile: str | None
    sample_rate: int | None
    channels: int | None
    bitrate_bits: float | None = Field(
        description="measured when copied, else as the stream declares it (G.711 and PCM do)"
    )


class ProbeRecordingOut(Out):
    """How the camera's recorder would record this stream, as its own FFmpeg answered."""

    mode: RecordMode = Field(
        description="as_is: copied; transcode_audio: video copied, audio to AAC; "
        "unsupported: not recordable in this format"
    )
    format: SegmentFormat
    audio: bool = Field(description="the recording has audio")
    reason: str


class ProbeFailureOut(Out):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    failure: FailureClass = Field(alias="class", description="the failure's stable class")
    message: str = Field(description="the line of FFmpeg's output telling it, redacted")


class ProbeOut(Out):
    camera: str | None = Field(description="null for an unsaved source")
    ok: bool = Field(description="the stream was read; false: `failure` says why not")
    via: ProbeVia = Field(
        description="mediamtx: MediaMTX's copy, as the recorder reads it; source: the camera "
        "itself; synthetic: a test:// pattern vmsd encodes itself (nothing is read)"
    )
    failure: ProbeFailureOut | None
    video: ProbeVideoOut | None
    audio: ProbeAudioOut | None
    recording: ProbeRecordingOut | None = Field(description="null when the stream was not read")
    measured_seconds: float | None = Field(description="seconds of stream read for the bitrates")
    elapsed_seconds: float
    note: str | None
