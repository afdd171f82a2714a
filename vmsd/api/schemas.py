"""Response bodies as pydantic models. Every JSON body the API sends is built through one of
these (`body()`), and the OpenAPI document's response schemas are generated from the same
classes, so the document cannot drift from what is sent: a handler that put a key the model
lacks would fail its own request, and the tests with it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic.json_schema import SkipJsonSchema

from vmsd.access.roles import Role
from vmsd.access.scope import MAX_SCOPE_ENTRIES, SCOPE_ENTRY_PATTERN
from vmsd.cameras.state import CameraState
from vmsd.config.cameras import SOURCE_SCHEMA, RtspTransport
from vmsd.config.recording import RecordingOverrides, SegmentFormat
from vmsd.core.event_types import EVENT_TYPES
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.model import RecorderState
from vmsd.recorder.probe_stream import ProbeVia, RecordMode
from vmsd.store.recordings import EndReason


def _known_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"not an event type (got {value[:40]!r})")
    return value


# Literal[...] of a runtime list is no type to mypy: a checked str, its enum in the schema.
EventType = Annotated[
    str, AfterValidator(_known_event_type), Field(json_schema_extra={"enum": sorted(EVENT_TYPES)})
]
ExportState = Literal["queued", "running", "done", "failed"]


class Out(BaseModel):
    """A response body: exactly these keys (additionalProperties: false in the document)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def body(value: Out | list[Any], status: int = 200) -> web.Response:
    if isinstance(value, list):
        data: Any = [item.model_dump(mode="json") for item in value]
    else:
        data = value.model_dump(mode="json")
    return web.json_response(data, status=status)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _sparse(description: str | None = None) -> Any:
    """A key that is left out, never null, when unset (a camera's overrides name only what
    differs from the configured defaults)."""
    return Field(
        default=None,
        description=description,
        exclude_if=lambda value: value is None,
        json_schema_extra=_no_default,
    )


class ErrorDetail(Out):
    """One problem of an error: every detail of every error has this shape (README: Errors).
    The two optional keys come with the codes named in their descriptions only."""

    field: str | None = Field(
        description="the parameter or body key the problem is about; null: none in particular"
    )
    message: str
    reason: FailureClass | SkipJsonSchema[None] = _sparse(
        "camera_unavailable, snapshot_timeout: why the camera could not be read"
    )
    ffmpeg_stderr: list[str] | SkipJsonSchema[None] = _sparse(
        "camera_unavailable, to operator and admin tokens only: FFmpeg's last stderr lines, "
        "credentials redacted"
    )


class ErrorInfo(Out):
    code: str = Field(description="stable, machine-readable (validation_failed, not_found...)")
    message: str
    details: list[ErrorDetail] = Field(
        description="per-field problems on a 422; other context otherwise; often empty"
    )


class ErrorBody(Out):
    """Every error response: {"error": {"code", "message", "details": [{"field", "message"}]}}."""

    error: ErrorInfo


# --- cameras ---


class RecordingOverridesOut(Out):
    segment_seconds: int | SkipJsonSchema[None] = _sparse()
    format: SegmentFormat | SkipJsonSchema[None] = _sparse()
    stall_seconds: float | SkipJsonSchema[None] = _sparse()
    audio: bool | SkipJsonSchema[None] = _sparse()


class RetentionOverridesOut(Out):
    max_age: float | SkipJsonSchema[None] = _sparse("seconds")
    max_bytes: int | SkipJsonSchema[None] = _sparse()


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


# --- probes ---


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


# --- recordings ---


class RecordingOut(Out):
    id: int
    camera: str
    start: datetime
    end: datetime
    duration_seconds: float
    bytes: int
    end_reason: EndReason


class RecordingPage(Out):
    items: list[RecordingOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class DeletedOut(Out):
    deleted: int = Field(description="segments deleted")
    bytes: int


class SpanOut(Out):
    start: datetime
    end: datetime
    segments: int
    end_reason: EndReason = Field(description="what closed the span's last segment")
    gap_after_seconds: float | None = Field(description="null for the last span")


class TimelineOut(Out):
    camera: str
    spans: list[SpanOut]


class QuarantineOut(Out):
    files: int
    bytes: int


class StoragePathOut(Out):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    low_watermark_free_bytes: int
    target_free_bytes: int
    days_until_low_watermark: float | None = Field(
        description="at the current recording rate; null while nothing records there"
    )
    quarantine: QuarantineOut


class StorageCameraOut(Out):
    camera: str
    path: str | None
    bytes: int
    segments: int
    oldest: datetime
    newest: datetime
    bytes_per_day: int


class StorageOut(Out):
    paths: list[StoragePathOut]
    cameras: list[StorageCameraOut]


# --- exports ---


class GapOut(Out):
    start: datetime
    end: datetime
    seconds: float


class ExportOut(Out):
    id: int
    camera: str
    start: datetime
    end: datetime
    state: ExportState
    progress: float = Field(ge=0, le=1)
    bytes: int | None
    error: str | None
    gaps: list[GapOut] = Field(
        description="the range's time with no recording, before the first segment and after "
        "the last one included"
    )
    requested_seconds: float = Field(description="end - start")
    covered_seconds: float | None = Field(
        description="recorded time inside the range (the file's length, give or take the "
        "keyframes it is cut on); null until the job has planned"
    )
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime


class ExportPage(Out):
    items: list[ExportOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


# --- tokens ---


class TokenOut(Out):
    id: int
    name: str
    role: Role
    cameras: list[str] = Field(description="its camera scope: '*', names, 'group:<name>'")
    created_at: datetime
    revoked_at: datetime | None


class CreatedTokenOut(TokenOut):
    token: str = Field(description="the secret: in this response only, stored as a hash")


# --- events ---


class EventOut(Out):
    id: int | None = Field(description="null: the database could not take it (stream only)")
    time: datetime
    type: EventType
    camera: str | None
    data: dict[str, Any]


class EventPage(Out):
    items: list[EventOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


# --- system ---


class LiveOut(Out):
    status: Literal["ok", "not_live"]
    detail: str | None = None


class CheckOut(Out):
    name: str
    ok: bool
    detail: str


class ReadyOut(Out):
    status: Literal["ready", "not_ready"]
    checks: list[CheckOut]


class VersionOut(Out):
    version: str
    python: str
    api: Literal["v1"] = "v1"


class CpuOut(Out):
    count: int
    percent: float | None
    per_core_percent: list[float | None]
    load_average: list[float] = Field(min_length=3, max_length=3)


class MemoryOut(Out):
    total_bytes: int
    available_bytes: int
    used_bytes: int
    percent: float | None


class SwapOut(Out):
    total_bytes: int
    used_bytes: int


class FilesystemOut(Out):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    inodes_total: int
    inodes_free: int


class InterfaceOut(Out):
    interface: str
    receive_bytes_total: int
    transmit_bytes_total: int
    receive_bytes_per_second: float | None
    transmit_bytes_per_second: float | None


class ProcessOut(Out):
    role: str
    camera: str | None
    pid: int
    cpu_percent: float | None
    rss_bytes: int = Field(description="resident memory (a shared page counts once per process)")
    pss_bytes: int | None = Field(description="proportional share: shared pages split fairly")
    uss_bytes: int | None = Field(description="memory no other process shares")
    uptime_seconds: float
    processes: int


class GpuOut(Out):
    index: int
    name: str
    uuid: str
    utilization_percent: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    encoder_utilization_percent: float | None
    decoder_utilization_percent: float | None
    temperature_celsius: float | None
    power_watts: float | None


class SystemOut(Out):
    time: datetime
    sample_interval_seconds: float
    sample_duration_seconds: float
    version: str
    uptime_seconds: float
    boot_time: float = Field(description="unix seconds")
    cpu: CpuOut
    memory: MemoryOut
    swap: SwapOut
    storage: list[FilesystemOut]
    network: list[InterfaceOut]
    processes: list[ProcessOut]
    gpus: list[GpuOut]
    gpus_reason: str | None
    problems: list[str]


# --- camera scopes ---

ScopeEntry = Annotated[str, Field(pattern=SCOPE_ENTRY_PATTERN)]
# A camera scope as a request gives it: `*`, camera names, `group:<name>` (vmsd.access.scope).
ScopeEntries = Annotated[
    list[ScopeEntry],
    Field(min_length=1, max_length=MAX_SCOPE_ENTRIES),
]


_PRINCIPAL = "`user:<name>`, `token:<name>`, `cli:<unix user>`, `system` or `anonymous`"
_RESULT = "`ok`, else the status and the error code (`403 forbidden`); `failed` outside HTTP"


class AuditRowOut(Out):
    """One audit row as stored; `prev_hash` and `hash` let a copy be checked by itself."""

    id: int
    time: datetime = Field(description="vmsd's clock when the act ended (UTC)")
    principal: str = Field(description=_PRINCIPAL)
    client_ip: str
    action: str = Field(description="what was done: `camera.create`, `auth.login`, ...")
    target: str = Field(description="what to: `camera:gate-1`, `recording:42`; empty: nothing")
    result: str = Field(description=_RESULT)
    request_id: str
    details: dict[str, Any]
    prev_hash: str = Field(description="hex SHA-256: the previous row's hash")
    hash: str = Field(description="hex SHA-256(prev_hash || this row's canonical form)")


class AuditPage(Out):
    items: list[AuditRowOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")
