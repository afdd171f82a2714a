"""The camera as the rest of vmsd sees it: decrypted, validated, frozen. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from vmsd.config.cameras import SOURCE_SCHEMA, CameraConfig, CameraGroups, RtspTransport
from vmsd.config.recording import RecordingOverrides, RetentionOverrides
from vmsd.core.names import TEXT_PATTERN, USERNAME_PATTERN
from vmsd.core.sources import (
    PUBLISHER,
    display_source,
    is_synthetic,
    split_credentials,
    with_credentials,
)


@dataclass(frozen=True, slots=True)
class Camera:
    name: str
    source: str  # never with credentials inside
    username: str | None
    password: str | None = field(repr=False)
    rtsp_transport: RtspTransport
    enabled: bool
    record: bool
    recording: RecordingOverrides
    retention: RetentionOverrides
    description: str
    location: str
    managed_by: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    groups: tuple[str, ...] = ()  # what a scope's `group:<name>` entries match

    @property
    def is_publisher(self) -> bool:
        return self.source == PUBLISHER

    @property
    def is_synthetic(self) -> bool:
        return is_synthetic(self.source)

    @property
    def connect_url(self) -> str:
        """The source with its credentials: only for the process that connects to it."""
        return with_credentials(self.source, self.username, self.password)

    @property
    def display_source(self) -> str:
        return display_source(self.source, self.username, self.password)

    def as_input(self) -> dict[str, Any]:
        """The writable fields as CameraConfig input (the base a PATCH is merged onto)."""
        return {
            "name": self.name,
            "source": self.source,
            "username": self.username,
            "password": self.password,
            "rtsp_transport": self.rtsp_transport,
            "enabled": self.enabled,
            "record": self.record,
            "recording": self.recording.model_dump(),
            "retention": self.retention.model_dump(),
            "description": self.description,
            "location": self.location,
            "groups": list(self.groups),
        }


class CameraPatch(BaseModel):
    """PATCH body: absent keys stay unchanged; `"password": null` removes the password."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str | None = Field(default=None, json_schema_extra=SOURCE_SCHEMA)
    username: str | None = Field(default=None, max_length=200, pattern=USERNAME_PATTERN)
    password: SecretStr | None = None
    rtsp_transport: RtspTransport | None = None
    enabled: bool | None = None
    record: bool | None = None
    description: str | None = Field(default=None, max_length=500, pattern=TEXT_PATTERN)
    location: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN)
    groups: CameraGroups | None = None
    recording: RecordingOverrides | None = None
    retention: RetentionOverrides | None = None


def secret_value(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def normalized_input(config: CameraConfig) -> CameraConfig:
    """Credentials inside the source URL are split out into username/password."""
    source, user, password = split_credentials(config.source)
    if user is None and password is None:
        return config
    return config.model_copy(
        update={
            "source": source,
            "username": user,
            "password": SecretStr(password) if password is not None else None,
        }
    )


def camera_from_config(config: CameraConfig, managed_by: str) -> Camera:
    """A camera as the registry will hold it once `config` is stored (no timestamps yet)."""
    wanted = normalized_input(config)
    return Camera(
        name=wanted.name,
        source=wanted.source,
        username=wanted.username,
        password=secret_value(wanted.password),
        rtsp_transport=wanted.rtsp_transport,
        enabled=wanted.enabled,
        record=wanted.record,
        recording=wanted.recording,
        retention=wanted.retention,
        description=wanted.description,
        location=wanted.location,
        managed_by=managed_by,
        groups=wanted.groups,
    )
