"""The `mediamtx:` section: how vmsd runs MediaMTX and the listener MediaMTX calls back."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field

from vmsd.config.base import ConfigModel


class MediaMtxMode(StrEnum):
    AUTO = "auto"
    MANAGED = "managed"
    EXTERNAL = "external"
    OFF = "off"


class HookNames(StrEnum):
    AUTO = "auto"
    READY = "ready"  # runOnReady / runOnNotReady (before v1.19.3)
    AVAILABLE = "available"  # runOnAvailable / runOnUnavailable (v1.19.3 on)


class MediaMtxConfig(ConfigModel):
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
