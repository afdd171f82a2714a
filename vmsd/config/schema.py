"""The configuration's root model, `Config`: one key per section, and the rules between
sections. Each section's typed, frozen models (every key, its default, its bounds, the rules
between its keys) live in their own module of this package (server, mediamtx, recording,
cameras, events, access, console); the few small sections of the process itself (database,
system, log) are here. Unknown keys are errors: a typo must never be silently ignored on an
NVR that will then record nothing. Loading a file is vmsd.config.load; error text is
vmsd.config.messages.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from vmsd.config.access import AuditConfig, AuthConfig, SecretsConfig
from vmsd.config.base import ConfigModel
from vmsd.config.cameras import CameraConfig
from vmsd.config.console import ConsoleConfig
from vmsd.config.events import EventsConfig, NotificationsConfig
from vmsd.config.mediamtx import MediaMtxConfig, MediaMtxMode
from vmsd.config.recording import (
    ExportsConfig,
    FfmpegConfig,
    PlaybackConfig,
    RecordingConfig,
    RetentionConfig,
    StorageConfig,
)
from vmsd.config.server import ServerConfig
from vmsd.core.log import LogFormat, LogLevel
from vmsd.core.sources import PUBLISHER


class DatabaseConfig(ConfigModel):
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


class SystemConfig(ConfigModel):
    sample_interval_seconds: float = Field(default=5.0, ge=1, le=300)
    gpu: bool = True  # query NVIDIA GPUs through NVML when a driver is present


class LogConfig(ConfigModel):
    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.AUTO
    # One `http_request` line per API request at info (an access log); false: at debug.
    access: bool = False


class Config(ConfigModel):
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
