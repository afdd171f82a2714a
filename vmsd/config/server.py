"""The `server:` section: the API's listener, its open endpoints, its TLS."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from vmsd.config.base import ConfigModel


class OpenEndpoint(StrEnum):
    HEALTHZ = "healthz"
    READYZ = "readyz"
    METRICS = "metrics"


class TlsConfig(ConfigModel):
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


class ServerConfig(ConfigModel):
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
