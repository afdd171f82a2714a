"""Registry + base file -> the mediamtx.yml MediaMTX runs with. Pure.

The base (top-level mediamtx.yml, the operator's) keeps every global setting it has; vmsd sets
only what the integration depends on (auth through vmsd, the API and RTSP addresses it talks
to), turns off or binds every other server (listeners.py) and adds one path per enabled camera.
Globals depend on nothing that changes at runtime but the MediaMTX version, learned once, so
a camera change never restarts every path in MediaMTX (reference/mediamtx.md).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from vmsd.cameras.model import Camera
from vmsd.core.sources import PUBLISHER, parse_synthetic
from vmsd.mediamtx.listeners import bind_listeners, listen_host, listener_version, switched_on
from vmsd.mediamtx.webrtc import WebrtcListener, render_webrtc

HEADER = (
    "# Written by vmsd from {base} and the camera registry: edit those, not this file.\n"
    "# It holds camera credentials: keep it private (vmsd writes it with mode 0600).\n"
)
# First version with runOnAvailable/runOnUnavailable (runOnReady/runOnNotReady before; the old
# names stay accepted afterwards, with a deprecation warning).
AVAILABLE_HOOKS_SINCE = (1, 19, 3)


class HookGeneration(StrEnum):
    READY = "ready"
    AVAILABLE = "available"

    @property
    def keys(self) -> tuple[str, str]:
        if self is HookGeneration.READY:
            return "runOnReady", "runOnNotReady"
        return "runOnAvailable", "runOnUnavailable"


def hook_generation_for(version: tuple[int, int, int] | None) -> HookGeneration:
    """Unknown version: the old names, which every supported MediaMTX accepts."""
    if version is not None and version >= AVAILABLE_HOOKS_SINCE:
        return HookGeneration.AVAILABLE
    return HookGeneration.READY


@dataclass(frozen=True, slots=True)
class RenderSettings:
    rtsp_port: int
    api_port: int
    metrics_port: int
    hooks_base_url: str  # http://127.0.0.1:8481/hooks/mediamtx
    hook_secret: str
    hook_secret_file: str  # the hook command reads the secret here: argv is world-readable
    hook_command: Sequence[str]  # argv prefix of `vmsd hook`, e.g. ("/usr/bin/vmsd", "hook")
    hook_generation: HookGeneration
    ffmpeg_binary: str
    # argv prefix of `vmsd synthetic-publish`, e.g. ("/usr/bin/vmsd", "synthetic-publish")
    publisher_command: Sequence[str]
    # The release the listener keys are written for; None (unknown): the oldest supported.
    mediamtx_version: tuple[int, int, int] | None = None
    # The console's live view: MediaMTX's WebRTC listener, bound as configured. None: the
    # WebRTC server stays as the base says (off unless it turns it on).
    webrtc: WebrtcListener | None = None


def render_mediamtx_config(
    base: Mapping[str, Any], cameras: Sequence[Camera], settings: RenderSettings
) -> dict[str, Any]:
    doc: dict[str, Any] = {k: v for k, v in base.items() if k != "paths"}
    doc["authMethod"] = "http"
    doc["authHTTPAddress"] = (
        f"{settings.hooks_base_url}/auth?key={quote(settings.hook_secret, safe='')}"
    )
    # The default changed in v1.20.1: always explicit. vmsd's own API calls authenticate.
    doc.setdefault("authHTTPExclude", [])
    doc["api"] = True
    doc["apiAddress"] = f"127.0.0.1:{settings.api_port}"
    rtsp_host = listen_host(base.get("rtspAddress"), "rtspAddress")
    doc["rtspAddress"] = f"{rtsp_host}:{settings.rtsp_port}"
    if switched_on(doc, "rtsp") is None:
        doc["rtsp"] = True  # vmsd's readers and synthetic publishers use it
    if doc.get("metrics"):
        metrics_host = listen_host(base.get("metricsAddress"), "metricsAddress")
        doc["metricsAddress"] = f"{metrics_host}:{settings.metrics_port}"
    if settings.webrtc is not None:
        doc = render_webrtc(doc, settings.webrtc)
    # Every other server this release has: off unless the base turns it on, and then bound.
    doc = bind_listeners(doc, listener_version(settings.mediamtx_version))
    paths: dict[str, Any] = dict(base.get("paths") or {})
    for camera in sorted(cameras, key=lambda c: c.name):
        if camera.enabled:
            paths[camera.name] = render_path(camera, settings, connect_host(rtsp_host))
    doc["paths"] = paths
    return doc


def render_path(
    camera: Camera, settings: RenderSettings, rtsp_connect_host: str = "127.0.0.1"
) -> dict[str, Any]:
    """One camera's path. `rtsp_connect_host`: where a local publisher reaches MediaMTX's RTSP
    listener (its bind address, loopback for a wildcard bind)."""
    on_available, on_unavailable = settings.hook_generation.keys
    path: dict[str, Any] = {}
    if camera.is_synthetic:
        path["source"] = PUBLISHER
        # MediaMTX's documented runOnInit pattern: it runs the publisher and restarts it.
        path["runOnInit"] = synthetic_publisher_command(camera, settings, rtsp_connect_host)
        path["runOnInitRestart"] = True
    elif camera.is_publisher:
        path["source"] = PUBLISHER
    else:
        path["source"] = camera.connect_url
        if urlsplit(camera.source).scheme.lower() in ("rtsp", "rtsps"):
            path["rtspTransport"] = camera.rtsp_transport.value
        # Recording cameras are pulled all the time; others only while someone watches.
        path["sourceOnDemand"] = not camera.record
    path[on_available] = _command([*settings.hook_command, "available", *_hook_args(settings)])
    path[on_unavailable] = _command([*settings.hook_command, "unavailable", *_hook_args(settings)])
    return path


def synthetic_publisher_command(
    camera: Camera, settings: RenderSettings, host: str = "127.0.0.1"
) -> str:
    """`vmsd synthetic-publish` (mediamtx/publisher.py): no secret in this command, which
    becomes an argv; the publisher derives its password from the hook secret file."""
    pattern = parse_synthetic(camera.source)
    return _command(
        [
            *settings.publisher_command,
            *("--path", camera.name, "--size", f"{pattern.width}x{pattern.height}"),
            *("--fps", str(pattern.fps)),
            *("--rtsp-address", f"{host}:{settings.rtsp_port}"),
            *("--key-file", settings.hook_secret_file, "--ffmpeg", settings.ffmpeg_binary),
        ]
    )


def dump_mediamtx_yaml(doc: Mapping[str, Any], base_name: str) -> str:
    body = yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False, width=1000)
    return HEADER.format(base=base_name) + body


def _hook_args(settings: RenderSettings) -> list[str]:
    return ["--url", settings.hooks_base_url, "--key-file", settings.hook_secret_file]


def _command(argv: Sequence[str]) -> str:
    """MediaMTX splits commands with shell quoting rules and runs them without a shell."""
    return " ".join(shlex.quote(arg) for arg in argv)


def connect_host(host: str) -> str:
    """Where a local client reaches a listener bound to `host`, as the host part of a URL."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - a wildcard bind is reached on loopback
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"  # an IPv6 literal
    return host
