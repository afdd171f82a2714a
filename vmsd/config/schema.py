"""The configuration's typed, frozen models: every key, its default, its bounds, and the rules
between keys. Unknown keys are errors: a typo must never be silently ignored on an NVR that
will then record nothing. Loading a file is vmsd.config.load; error text is
vmsd.config.messages.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

from vmsd.core.event_types import EVENT_TYPES
from vmsd.core.log import LogFormat, LogLevel
from vmsd.core.names import (
    CAMERA_NAME_PATTERN,
    RESERVED_CAMERA_NAMES,
    RESERVED_USERS,
    TEXT_PATTERN,
    USERNAME_PATTERN,
)
from vmsd.core.sources import (
    PUBLISHER,
    SOURCE_SCHEMES,
    is_synthetic,
    split_credentials,
    validate_source,
)
from vmsd.core.units import (
    DURATION_PATTERN,
    MAX_DURATION_S,
    MAX_TEXT_CHARS,
    SIZE_PATTERN,
    parse_duration_s,
    parse_size_bytes,
)

# The API document's schema for each: exactly what the parser takes (vmsd.core.units).
DurationS = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    WithJsonSchema(
        {
            "description": "seconds, or a duration like 90s, 6h, 30d, 2w",
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION_S},
                {"type": "string", "pattern": DURATION_PATTERN, "maxLength": MAX_TEXT_CHARS},
            ],
        }
    ),
]
SizeBytes = Annotated[
    int,
    BeforeValidator(parse_size_bytes),
    WithJsonSchema(
        {
            "description": "bytes, or a size like 500GiB, 2TB",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": SIZE_PATTERN, "maxLength": MAX_TEXT_CHARS},
            ],
        }
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class OpenEndpoint(StrEnum):
    HEALTHZ = "healthz"
    READYZ = "readyz"
    METRICS = "metrics"


class TlsConfig(_Model):
    """HTTPS for the API: both files, or neither (plain HTTP). Re-read on every reload."""

    cert_file: Path | None = None  # PEM: the certificate, then any intermediates
    key_file: Path | None = None  # PEM private key, readable by vmsd only
    # Strict-Transport-Security on every HTTPS answer; 0 sends none.
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0, le=2 * 31_536_000)

    @model_validator(mode="after")
    def _both_or_neither(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8480, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # Endpoints answered without a token. Operators behind a reverse proxy may close them.
    open_endpoints: tuple[OpenEndpoint, ...] = (
        OpenEndpoint.HEALTHZ,
        OpenEndpoint.READYZ,
        OpenEndpoint.METRICS,
    )
    tls: TlsConfig = TlsConfig()


class DatabaseConfig(_Model):
    url: SecretStr = SecretStr("")
    pool_min_size: int = Field(default=1, ge=0, le=100)
    pool_max_size: int = Field(default=10, ge=1, le=100)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # The embedded PostgreSQL refuses to run as root; when vmsd itself runs as root (a
    # developer box, CI) the server runs as this unprivileged system user instead.
    embedded_user: str = Field(default="vmsd-postgres", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")

    @field_validator("url")
    @classmethod
    def _url_is_postgres(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw and urlsplit(raw).scheme not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URL or empty for the embedded database")
        return value

    @property
    def embedded(self) -> bool:
        return not self.url.get_secret_value()


class StorageConfig(_Model):
    paths: tuple[Path, ...] = Field(default=(Path("recordings"),), min_length=1)


class MediaMtxMode(StrEnum):
    AUTO = "auto"
    MANAGED = "managed"
    EXTERNAL = "external"
    OFF = "off"


class HookNames(StrEnum):
    AUTO = "auto"
    READY = "ready"  # runOnReady / runOnNotReady (before v1.19.3)
    AVAILABLE = "available"  # runOnAvailable / runOnUnavailable (v1.19.3 on)


class MediaMtxConfig(_Model):
    mode: MediaMtxMode = MediaMtxMode.AUTO
    binary: str = "mediamtx"
    base_config: Path = Path("mediamtx.yml")
    config_path: Path | None = None  # default: <state_dir>/mediamtx.yml
    rtsp_port: int = Field(default=8554, ge=1, le=65535)
    api_port: int = Field(default=9997, ge=1, le=65535)
    metrics_port: int = Field(default=9998, ge=1, le=65535)
    hook_names: HookNames = HookNames.AUTO
    # MediaMTX-facing listener (auth requests, availability hooks): loopback only by default,
    # separate from the API so it never carries the API's middleware or exposure.
    hooks_host: str = "127.0.0.1"
    hooks_port: int = Field(default=8481, ge=1, le=65535)
    # Safety net for missed hooks, and the source of readers/bytes per camera.
    poll_interval_seconds: float = Field(default=5.0, ge=1, le=300)
    # Brute-force damping: this many failed credentialed attempts from one IP within the
    # window deny that IP outright for auth_block_seconds.
    auth_fail_limit: int = Field(default=10, ge=1, le=10_000)
    auth_fail_window_seconds: float = Field(default=60.0, ge=1, le=86_400)
    auth_block_seconds: float = Field(default=300.0, ge=1, le=86_400)


class FfmpegConfig(_Model):
    binary: str = ""  # empty: ffmpeg on PATH, else the imageio-ffmpeg wheel's binary


class SegmentFormat(StrEnum):
    MP4 = "mp4"
    MKV = "mkv"


class RecordingConfig(_Model):
    segment_seconds: int = Field(default=60, ge=2, le=600)
    format: SegmentFormat = SegmentFormat.MP4
    # At least 5 s: FFmpeg reports progress once a second, and a camera may hiccup.
    stall_seconds: float = Field(default=15.0, ge=5, le=600)
    audio: bool = True
    # Restart backoff after a failed run: exponential with jitter from 1 s up to this.
    retry_max_seconds: float = Field(default=30.0, ge=1, le=600)
    # After a camera refused the credentials twice in a row: the wait between tries, so
    # that the retries do not keep the camera's login lockout in force.
    unauthorized_retry_seconds: float = Field(default=300.0, ge=30, le=86_400)
    # Snapshots (GET /api/v1/cameras/{name}/snapshot): one grab per camera at a time, cached.
    snapshot_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    snapshot_timeout_seconds: float = Field(default=10.0, ge=1, le=60)
    # Probes (POST /api/v1/cameras/{name}/probe, /api/v1/probe): each reads about 2 s
    # of the stream and answers within this bound, its FFmpeg killed at it; at most
    # probe_max_concurrent run at once (more are refused with a 503, never queued).
    probe_timeout_seconds: float = Field(default=10.0, ge=3, le=60)
    probe_max_concurrent: int = Field(default=4, ge=1, le=32)


class RecordingOverrides(_Model):
    segment_seconds: int | None = Field(default=None, ge=2, le=600)
    format: SegmentFormat | None = None
    stall_seconds: float | None = Field(default=None, ge=5, le=600)
    audio: bool | None = None


class RetentionConfig(_Model):
    max_age: DurationS | None = None
    max_bytes: SizeBytes | None = None
    interval_seconds: float = Field(default=60.0, ge=5, le=86400)
    min_free_percent: float | None = Field(default=5.0, ge=0, le=99)
    min_free_bytes: SizeBytes | None = None
    # Deletion under pressure goes on until this much is free, so it does not run per segment.
    target_free_percent: float | None = Field(default=8.0, ge=0, le=99)
    # Unplayable files moved to <storage>/.quarantine/ are kept this long for a look, then go.
    quarantine_max_age: DurationS = 7 * 86400.0


class RetentionOverrides(_Model):
    max_age: DurationS | None = None
    max_bytes: SizeBytes | None = None


class ExportsConfig(_Model):
    # Clip exports (POST /api/v1/exports) running at once; more wait in the queue.
    max_concurrent: int = Field(default=2, ge=1, le=16)
    # A finished export's file and job are removed this long after it finished.
    expire_hours: float = Field(default=24.0, ge=0.1, le=24 * 30)
    max_range_hours: float = Field(default=24.0, ge=0.01, le=24 * 7)


class PlaybackConfig(_Model):
    # Playbacks (GET /api/v1/cameras/{name}/playback) streaming at once; more get a 503.
    max_concurrent: int = Field(default=8, ge=1, le=64)
    # A stream neither FFmpeg nor the client moved for this long is ended: a paused player
    # would hold its slot forever.
    idle_timeout_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)


class RtspTransport(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    AUTOMATIC = "automatic"


def _any_case(text: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in text)


# What validate_source can accept, as the API document's pattern: "publisher" or a known
# scheme, no whitespace or control characters (Python's isspace() set), at most 2048
# characters. A superset: the host, the port and test://'s parameters are the server's to
# check (422, naming what is wrong).
_NOT_SPACE = r"[^\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_SCHEMES = "|".join(_any_case(s) for s in SOURCE_SCHEMES)
SOURCE_SCHEMA: JsonDict = {
    "pattern": rf"^(?:publisher|(?:{_SCHEMES})://{_NOT_SPACE}*|{_any_case('test')}:{_NOT_SPACE}*)$",
    "maxLength": 2048,
}


# The one rule between a camera's fields that JSON Schema states plainly (the others, on
# credentials in the URL and test:// sources, are the server's: 422 naming the reason).
_PUBLISHER_NEEDS_CREDENTIALS: JsonDict = {
    "if": {"properties": {"source": {"const": PUBLISHER}}},
    "then": {
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string", "minLength": 1},
        },
    },
}


# A camera's groups: what a scope entry `group:<name>` grants (vmsd.access.scope, whose
# GROUP_NAME_PATTERN is this pattern: a group is named like a camera).
MAX_CAMERA_GROUPS = 32


def _unique_groups(groups: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({g for g in groups if groups.count(g) > 1})
    if repeated:
        raise ValueError(f"groups repeated: {', '.join(repeated)}")
    return groups


CameraGroups = Annotated[
    tuple[Annotated[str, Field(pattern=CAMERA_NAME_PATTERN)], ...],
    Field(
        max_length=MAX_CAMERA_GROUPS,
        description="groups the camera belongs to; a scope entry `group:<name>` grants them",
        json_schema_extra={"uniqueItems": True},
    ),
    AfterValidator(_unique_groups),
]


class CameraConfig(_Model):
    model_config = ConfigDict(json_schema_extra=_PUBLISHER_NEEDS_CREDENTIALS)
    name: str = Field(pattern=CAMERA_NAME_PATTERN)
    source: str = Field(json_schema_extra=SOURCE_SCHEMA)
    username: str | None = Field(default=None, max_length=200, pattern=USERNAME_PATTERN)
    password: SecretStr | None = None
    rtsp_transport: RtspTransport = RtspTransport.TCP
    enabled: bool = True
    record: bool = True
    description: str = Field(default="", max_length=500, pattern=TEXT_PATTERN)
    location: str = Field(default="", max_length=200, pattern=TEXT_PATTERN)
    groups: CameraGroups = ()
    recording: RecordingOverrides = RecordingOverrides()
    retention: RetentionOverrides = RetentionOverrides()

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_CAMERA_NAMES:
            raise ValueError(f'"{value}" is reserved (MediaMTX reads it as "every path")')
        return value

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        return validate_source(value)

    @model_validator(mode="after")
    def _credentials_fit_source(self) -> CameraConfig:
        _, url_user, url_password = split_credentials(self.source)
        in_url = url_user is not None or url_password is not None
        if in_url and (self.username or self.password):
            raise ValueError(
                "credentials given twice: inside the source URL and as username/password"
            )
        field_password = self.password.get_secret_value() if self.password else None
        user = url_user if in_url else self.username
        password = url_password if in_url else field_password
        if is_synthetic(self.source) and (user or password):
            raise ValueError("a test:// source takes no username or password")
        # MediaMTX refuses a source URL with only one half ("username and password must be
        # both provided"); a publisher publishes with both.
        if bool(user) != bool(password):
            raise ValueError("username and password go together: give both or neither")
        if user in RESERVED_USERS:
            raise ValueError(f'username "{user}" is reserved for vmsd itself')
        if self.source == PUBLISHER and not (self.username and self.password):
            raise ValueError(
                "a publisher camera needs username and password: the credentials it publishes with"
            )
        return self


class AuditConfig(_Model):
    # Audit rows older than this are pruned (vmsd.access.audit_prune); null keeps every row.
    # At least 7: the database refuses a prune of the last 6 days (migration 0010).
    retention_days: int | None = Field(default=365, ge=7, le=36_500)


class EventsConfig(_Model):
    retention_days: float = Field(default=90.0, ge=1, le=3650)
    # Comment lines sent on an idle event stream, so proxies and clients see it is alive.
    stream_heartbeat_seconds: float = Field(default=15.0, ge=1, le=300)


MIN_WEBHOOK_SECRET_CHARS = 16


class WebhookConfig(_Model):
    # Secret: webhook URLs often carry the receiver's token (Slack, Teams, ntfy).
    url: SecretStr
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    events: tuple[str, ...] = ()  # empty: every event
    secret: SecretStr  # HMAC-SHA256 key the receiver checks the signature with

    @field_validator("secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_WEBHOOK_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_WEBHOOK_SECRET_CHARS} characters")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [e for e in value if e not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        return value

    @property
    def label(self) -> str:
        """The webhook's name in metrics and logs: its own, else the URL's host (never the
        URL, which may hold a token)."""
        return self.name or urlsplit(self.url.get_secret_value()).hostname or "webhook"


class NotificationsConfig(_Model):
    webhooks: tuple[WebhookConfig, ...] = ()
    # Per webhook: events waiting while its receiver is down; beyond it the oldest are dropped.
    queue_size: int = Field(default=1000, ge=1, le=1_000_000)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    retry_initial_seconds: float = Field(default=1.0, gt=0, le=60)
    retry_max_seconds: float = Field(default=300.0, ge=1, le=3600)

    @model_validator(mode="after")
    def _retry_bounds_ordered(self) -> NotificationsConfig:
        if self.retry_initial_seconds > self.retry_max_seconds:
            raise ValueError(
                f"retry_initial_seconds ({self.retry_initial_seconds}) must be <= "
                f"retry_max_seconds ({self.retry_max_seconds})"
            )
        return self

    @model_validator(mode="after")
    def _labels_unique(self) -> NotificationsConfig:
        labels = [w.label for w in self.webhooks]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"webhooks {repeated} share a name: give each a distinct `name`")
        return self


class SystemConfig(_Model):
    sample_interval_seconds: float = Field(default=5.0, ge=1, le=300)
    gpu: bool = True  # query NVIDIA GPUs through NVML when a driver is present


class SecretsConfig(_Model):
    # Fernet key for camera credentials at rest. Empty: read key_file, creating it (0600) on
    # first start. Boxes sharing one database must share one key.
    key: SecretStr = SecretStr("")
    key_file: Path | None = None  # default: <state_dir>/credentials.key


class PasswordHashConfig(_Model):
    """argon2id's cost. The defaults take 55-85 ms per hash on a 2-core box (bench/login.py);
    a stored hash made with other parameters is re-hashed at the user's next login."""

    time_cost: int = Field(default=2, ge=1, le=20)
    memory_kib: int = Field(default=65_536, ge=8_192, le=1_048_576)
    parallelism: int = Field(default=2, ge=1, le=16)


class SessionsConfig(_Model):
    # A session unused this long ends; and every session ends this long after its login.
    idle_timeout: DurationS = 30 * 60.0
    lifetime: DurationS = 12 * 3600.0

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> SessionsConfig:
        if not 60 <= self.idle_timeout <= self.lifetime <= 90 * 86_400:
            raise ValueError("need 60s <= idle_timeout <= lifetime <= 90d")
        return self


class LoginConfig(_Model):
    """Brute-force limits of POST /api/v1/auth/login, per user name and per client address."""

    # Failures allowed before a lockout (each further failure doubles it).
    max_failures_per_user: int = Field(default=5, ge=1, le=1000)
    max_failures_per_ip: int = Field(default=20, ge=1, le=10_000)
    lockout: DurationS = 30.0
    max_lockout: DurationS = 15 * 60.0
    # A user name's or an address's failures are forgotten after this long without one.
    failure_window: DurationS = 15 * 60.0


class RateLimitConfig(_Model):
    """A token bucket per principal (user or token) over the whole API; 429 past it."""

    # Generous for a person, a console or a dashboard (a console opening 64 cameras' tiles is
    # a burst, not a rate); a runaway script is held to a share of a small box's CPU.
    requests_per_second: float = Field(default=100.0, ge=0, le=100_000)  # 0: no limit
    burst: int = Field(default=1000, ge=1, le=1_000_000)


class LinksConfig(_Model):
    # The longest `expires_in` a shareable link may ask for.
    max_expires_in: DurationS = 7 * 86_400.0


class AuthConfig(_Model):
    password_hash: PasswordHashConfig = PasswordHashConfig()
    sessions: SessionsConfig = SessionsConfig()
    login: LoginConfig = LoginConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    links: LinksConfig = LinksConfig()
    # How long MediaMTX's auth answer for a user:password is kept once argon2 has checked it
    # (a change to the user or its scope drops every kept answer at once).
    verdict_cache: DurationS = 60.0


_LISTEN_ADDRESS = re.compile(r"^(?:[0-9A-Za-z.\-]*|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")


def _listen_address(value: str) -> str:
    """host:port or :port (every interface), as MediaMTX takes a listener address."""
    if not _LISTEN_ADDRESS.fullmatch(value) or not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
        raise ValueError(f'must be host:port or :port, port 1-65535 (got "{value}")')
    return value


ListenAddress = Annotated[str, AfterValidator(_listen_address)]
_ICE_URL = re.compile(r"^(?:stun|turn|turns):[^\s]{1,250}$")


class IceServerConfig(_Model):
    """A STUN or TURN server MediaMTX uses and tells browsers about (its webrtcICEServers2)."""

    url: str = Field(pattern=_ICE_URL.pattern)  # stun:host:port, turn:host:port, turns:...
    username: str = Field(default="", max_length=256)
    password: SecretStr = SecretStr("")


class WebrtcConfig(_Model):
    """MediaMTX's WebRTC listener, rendered only while the live view is on."""

    # WHEP signalling (HTTP). Only vmsd's proxy talks to it: loopback.
    address: ListenAddress = "127.0.0.1:8889"
    # ICE media, UDP: the browsers' media flows here directly, so it is reachable from them.
    local_udp_address: ListenAddress | None = ":8189"
    # ICE media over TCP, for networks that drop UDP; None: off.
    local_tcp_address: ListenAddress | None = None
    # Addresses (IP or host name) MediaMTX offers as its own besides its interfaces' (a NAT's
    # public address).
    additional_hosts: tuple[Annotated[str, Field(pattern=r"^[0-9A-Za-z.:\-]{1,253}$")], ...] = ()
    ice_servers: tuple[IceServerConfig, ...] = ()

    @model_validator(mode="after")
    def _some_ice_socket(self) -> WebrtcConfig:
        # MediaMTX refuses a WebRTC server with neither local ICE socket nor an ICE server.
        sockets = (self.local_udp_address, self.local_tcp_address)
        if sockets == (None, None) and not self.ice_servers:
            raise ValueError("give local_udp_address, local_tcp_address or ice_servers")
        return self


class ConsoleConfig(_Model):
    # Live video in the console through MediaMTX's WebRTC (WHEP), proxied by vmsd. Takes
    # effect only with MediaMTX on (mediamtx.mode not off). Off by default: on, MediaMTX
    # opens its ICE port (webrtc.local_udp_address) to the network, which an operator chooses.
    live_view: bool = False
    webrtc: WebrtcConfig = WebrtcConfig()
    # How long a live session's MediaMTX credential is accepted: MediaMTX checks it once, as
    # the session starts; vmsd revokes it as soon as MediaMTX has answered.
    live_credential_seconds: float = Field(default=60.0, ge=5, le=600)
    # Live sessions vmsd keeps track of at once (the oldest is forgotten past it).
    max_live_sessions: int = Field(default=256, ge=1, le=10_000)


class LogConfig(_Model):
    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.AUTO
    # One `http_request` line per API request at info (an access log); false: at debug.
    access: bool = False


class Config(_Model):
    server: ServerConfig = ServerConfig()
    state_dir: Path = Path("/var/lib/vmsd")
    database: DatabaseConfig = DatabaseConfig()
    storage: StorageConfig = StorageConfig()
    mediamtx: MediaMtxConfig = MediaMtxConfig()
    ffmpeg: FfmpegConfig = FfmpegConfig()
    recording: RecordingConfig = RecordingConfig()
    retention: RetentionConfig = RetentionConfig()
    exports: ExportsConfig = ExportsConfig()
    playback: PlaybackConfig = PlaybackConfig()
    secrets: SecretsConfig = SecretsConfig()
    auth: AuthConfig = AuthConfig()
    events: EventsConfig = EventsConfig()
    audit: AuditConfig = AuditConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    system: SystemConfig = SystemConfig()
    cameras: tuple[CameraConfig, ...] = ()
    log: LogConfig = LogConfig()
    console: ConsoleConfig = ConsoleConfig()

    @model_validator(mode="after")
    def _publishers_need_mediamtx(self) -> Config:
        """With MediaMTX off a publisher camera has nowhere to publish (and its recorder would
        read a file named "publisher"). `auto` is decided where the binary is looked for: the
        daemon refuses such a camera at start when auto finds no MediaMTX."""
        if self.mediamtx.mode is not MediaMtxMode.OFF:
            return self
        problems = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "publisher_needs_mediamtx",
                    "a publisher camera publishes to MediaMTX, and mediamtx.mode is off",
                ),
                loc=("cameras", index, "source"),
                input=camera.source,
            )
            for index, camera in enumerate(self.cameras)
            if camera.source == PUBLISHER
        ]
        if problems:
            raise PydanticValidationError.from_exception_data("Config", problems)
        return self
