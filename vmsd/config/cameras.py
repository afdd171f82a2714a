"""The `cameras:` entries: a camera's source, its credentials, its groups, its overrides,
and the rules between them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.config import JsonDict

from vmsd.config.base import ConfigModel
from vmsd.config.recording import RecordingOverrides, RetentionOverrides
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


class CameraConfig(ConfigModel):
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
