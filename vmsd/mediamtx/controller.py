"""The MediaMTX controller: keeps mediamtx.yml equal to base + registry, keeps a managed
MediaMTX running with it, and polls MediaMTX's API for path state (the hooks' safety net)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from vmsd.access.secrets import HOOK_SECRET_FILE_NAME
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.model import Camera
from vmsd.cameras.registry import CameraRegistry
from vmsd.config.mediamtx import HookNames, MediaMtxMode
from vmsd.config.schema import Config
from vmsd.core.errors import ConfigError
from vmsd.core.health import Health
from vmsd.core.log import get_logger
from vmsd.core.metrics import Metrics
from vmsd.core.supervisor import Supervisor
from vmsd.mediamtx.client import MediaMtxClient
from vmsd.mediamtx.listeners import listen_host, listener_keys
from vmsd.mediamtx.metrics import MediaMtxMetrics
from vmsd.mediamtx.process import MediaMtxProcess, mediamtx_version, resolve_mediamtx_binary
from vmsd.mediamtx.render import (
    HookGeneration,
    RenderSettings,
    connect_host,
    dump_mediamtx_yaml,
    hook_generation_for,
    render_mediamtx_config,
)
from vmsd.mediamtx.schema import parse_mediamtx_version, validate_mediamtx_document
from vmsd.mediamtx.source_log import SourceReports
from vmsd.mediamtx.webrtc import webrtc_listener
from vmsd.mediamtx.writer import write_if_changed
from vmsd.recorder.binary import resolve_ffmpeg
from vmsd.recorder.ffmpeg import RecorderInput
from vmsd.recorder.inputs import direct_input

log = get_logger("vmsd.mediamtx")

# MediaMTX ignores file changes within 1 s of its previous reload: keep writes further apart.
MIN_WRITE_INTERVAL_S = 1.5
HEALTH_NAME = "mediamtx"
CONFIG_HEALTH_NAME = "mediamtx_config"
WRITE_RETRY_S = 5.0  # a write that failed (a full disk, a read-only file system) is retried
Version = tuple[int, int, int]


def effective_mode(config: Config) -> MediaMtxMode:
    mode = config.mediamtx.mode
    if mode is not MediaMtxMode.AUTO:
        return mode
    if resolve_mediamtx_binary(config.mediamtx.binary) is not None:
        return MediaMtxMode.MANAGED
    return MediaMtxMode.OFF


def hooks_base_url(host: str, port: int) -> str:
    """Where MediaMTX (on this box) reaches the hook listener."""
    return f"http://{connect_host(host)}:{port}/hooks/mediamtx"


def vmsd_command() -> list[str]:
    """The argv prefix that runs this vmsd installation (for MediaMTX's hook commands)."""
    script = Path(sys.executable).parent / "vmsd"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "vmsd"]


def load_base(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read the MediaMTX base config {path}", [str(err)]) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a YAML mapping", ["mediamtx.base_config"])
    return data


class MediaMtxController:
    def __init__(
        self,
        config: Config,
        registry: CameraRegistry,
        live: LiveCameras,
        health: Health,
        metrics: Metrics,
        *,
        hook_secret: str,
        internal_password: str,
    ) -> None:
        self._config = config
        self._registry = registry
        self._live = live
        self._health = health
        self._mediamtx_metrics = metrics.group(MediaMtxMetrics)
        self._hook_secret = hook_secret
        self.mode = effective_mode(config)
        self._client = MediaMtxClient(config.mediamtx.api_port, internal_password)
        self._reader_host = "127.0.0.1"  # where MediaMTX's RTSP listener is reached locally
        self._version: Version | None = None
        self._last_write = -MIN_WRITE_INTERVAL_S
        # Set by a registry change, a reload, or a newly learned MediaMTX version.
        self._dirty = registry.subscribe()
        self._ffmpeg: str | None = None
        self._managed: MediaMtxProcess | None = None
        # Managed only: MediaMTX's log tells each camera's source failure (its class).
        self._source_reports = SourceReports(live)
        self._write_failed = False

    @property
    def version(self) -> Version | None:
        return self._version

    @property
    def pid(self) -> int | None:
        """The managed MediaMTX process while it runs (None in the other modes)."""
        return self._managed.pid if self._managed is not None else None

    def reader_input(self, camera: Camera) -> RecorderInput:
        """Where vmsd's own readers (recorders, snapshots) read a camera: through MediaMTX,
        each run with a reader grant of its own, or straight from the source when MediaMTX is
        off."""
        if self.mode is MediaMtxMode.OFF:
            return direct_input(camera)
        host, port = self._reader_host, self._config.mediamtx.rtsp_port
        return RecorderInput(f"rtsp://{host}:{port}/{camera.name}", "tcp", camera.name)

    async def reconfigure(self, config: Config) -> None:
        """SIGHUP: the base file and camera settings are re-read on the next write."""
        self._config = config
        if self.mode is not MediaMtxMode.OFF:
            try:
                self._reader_host = await asyncio.to_thread(
                    _reader_host, config.mediamtx.base_config
                )
            except ConfigError as err:  # the write reports it too, and keeps the old file
                log.error("mediamtx_base_invalid", problems=[err.message, *err.details])
        self._dirty.set()

    async def start(self) -> None:
        """Fail fast: a base file MediaMTX would reject stops vmsd at start, not MediaMTX later."""
        mm = self._config.mediamtx
        if self.mode is MediaMtxMode.OFF:
            if mm.mode is MediaMtxMode.AUTO:
                log.warning(
                    "mediamtx_not_found",
                    binary=mm.binary,
                    detail="mediamtx.mode auto: running without MediaMTX; recorders read the "
                    "cameras directly. Install the release binary to enable it (README).",
                )
            return
        if self.mode is MediaMtxMode.MANAGED:
            text = await mediamtx_version(mm.binary)
            self._version = parse_mediamtx_version(text) if text else None
        else:
            await self._learn_version_from_api()
        self._reader_host = await asyncio.to_thread(_reader_host, mm.base_config)
        log.info("mediamtx_mode", mode=self.mode.value, version=_version_text(self._version))
        if not await self.write():
            raise ConfigError(
                "the rendered MediaMTX configuration is invalid",
                ["see the mediamtx_config_rejected log line for every problem"],
            )

    async def run(self, supervisor: Supervisor) -> None:
        """The config writer, the Control-API poller and (managed) the process, each
        supervised on its own: a failed write (a full disk) does not stop the process."""
        if self.mode is MediaMtxMode.OFF:
            return
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(supervisor.run("mediamtx_writer", self._write_loop))
                tg.create_task(supervisor.run("mediamtx_poller", self._poll_loop))
                if self.mode is MediaMtxMode.MANAGED:
                    tg.create_task(supervisor.run("mediamtx_process", self._process().run))
                    tg.create_task(
                        supervisor.run("mediamtx_sources", self._source_reports.run)
                    )
        finally:
            await self._client.close()

    async def render(self) -> tuple[dict[str, Any], str]:
        """The document and its text; the base file is read in a thread, off the loop."""
        cameras = list(self._registry.cameras.values())
        return await asyncio.to_thread(
            render_document, self._config, cameras, self._settings()
        )

    async def write(self) -> bool:
        """Render, validate, write if changed. False (old file kept) when invalid."""
        try:
            doc, text = await self.render()
        except ConfigError as err:
            log.error("mediamtx_config_rejected", problems=[err.message, *err.details])
            self._mediamtx_metrics.mediamtx_config_writes.labels(result="rejected").inc()
            return False
        problems = validate_mediamtx_document(doc, self._version)
        if problems:
            # Never write what MediaMTX would reject: it shuts down on an invalid reload.
            log.error("mediamtx_config_rejected", problems=problems)
            self._mediamtx_metrics.mediamtx_config_writes.labels(result="rejected").inc()
            return False
        path = self._config.mediamtx.config_path
        assert path is not None
        written = await asyncio.to_thread(write_if_changed, path, text)
        self._mediamtx_metrics.mediamtx_config_writes.labels(
            result="written" if written else "unchanged"
        ).inc()
        if written:
            self._last_write = time.monotonic()
            log.info("mediamtx_config_written", path=str(path), paths=len(doc["paths"]))
        return True

    async def poll_once(self) -> None:
        try:
            paths = await self._client.paths()
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            self._health.set(HEALTH_NAME, False, f"API unreachable: {err}")
            return
        self._health.set(HEALTH_NAME, True)
        if self._version is None:
            await self._learn_version_from_api()
        cameras = self._registry.cameras
        for status in paths:
            if status.name in cameras:
                await self._live.report(status.name, status.available, "poll")
                self._live.update_stats(status.name, status.readers, status.inbound_bytes)

    async def _write_loop(self) -> None:
        while True:
            await self._dirty.wait()
            # Coalesce a burst of changes into one write, at most one per MIN_WRITE_INTERVAL_S.
            delay = self._last_write + MIN_WRITE_INTERVAL_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._dirty.clear()
            await self._write_or_retry()

    async def _write_or_retry(self) -> None:
        """A write the file system refuses keeps the old file in force (MediaMTX runs on with
        it), is reported on /readyz and tried again after WRITE_RETRY_S."""
        try:
            await self.write()
        except OSError as err:
            log.error("mediamtx_config_write_failed", error=str(err), retry_in_s=WRITE_RETRY_S)
            self._health.set(CONFIG_HEALTH_NAME, False, f"cannot write the config: {err}")
            self._write_failed = True
            await asyncio.sleep(WRITE_RETRY_S)
            self._dirty.set()
            return
        if self._write_failed:
            self._write_failed = False
            self._health.set(CONFIG_HEALTH_NAME, True)
            log.info("mediamtx_config_write_recovered")

    async def _poll_loop(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self._config.mediamtx.poll_interval_seconds)

    async def _learn_version_from_api(self) -> None:
        try:
            info = await self._client.info()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return
        version = parse_mediamtx_version(str(info.get("version", "")))
        if version is not None and version != self._version:
            before = self._version_dependent()
            self._version = version
            log.info("mediamtx_version", version=_version_text(version))
            if self._version_dependent() != before:
                self._dirty.set()

    def _process(self) -> MediaMtxProcess:
        mm = self._config.mediamtx
        assert mm.config_path is not None

        def on_up(up: bool) -> None:
            if not up:
                self._health.set(HEALTH_NAME, False, "process exited; restarting")

        def on_restart(_code: int | None) -> None:
            self._mediamtx_metrics.mediamtx_restarts.inc()

        self._managed = MediaMtxProcess(
            mm.binary,
            mm.config_path,
            on_up=on_up,
            on_restart=on_restart,
            on_source=self._source_reports.put,
        )
        return self._managed

    def _hook_generation(self) -> HookGeneration:
        return hook_generation(self._config, self._version)

    def _version_dependent(self) -> tuple[HookGeneration, frozenset[str]]:
        """What of the rendered file depends on the MediaMTX version: the hook names and the
        listener keys (an unknown version renders the oldest supported ones)."""
        return self._hook_generation(), listener_keys(self._version)

    def _settings(self) -> RenderSettings:
        if self._ffmpeg is None and any(c.is_synthetic for c in self._registry.cameras.values()):
            self._ffmpeg = resolve_ffmpeg(self._config.ffmpeg.binary)
        return build_render_settings(
            self._config,
            self._hook_secret,
            self._hook_generation(),
            self._ffmpeg or "ffmpeg",
            mediamtx_version=self._version,
        )


def build_render_settings(
    config: Config,
    hook_secret: str,
    generation: HookGeneration,
    ffmpeg: str,
    *,
    mediamtx_version: Version | None = None,
) -> RenderSettings:
    mm = config.mediamtx
    return RenderSettings(
        rtsp_port=mm.rtsp_port,
        api_port=mm.api_port,
        metrics_port=mm.metrics_port,
        hooks_base_url=hooks_base_url(mm.hooks_host, mm.hooks_port),
        hook_secret=hook_secret,
        hook_secret_file=str(config.state_dir / HOOK_SECRET_FILE_NAME),
        hook_command=(*vmsd_command(), "hook"),
        hook_generation=generation,
        ffmpeg_binary=ffmpeg,
        publisher_command=(*vmsd_command(), "synthetic-publish"),
        mediamtx_version=mediamtx_version,
        webrtc=webrtc_listener(config.console),
    )


def hook_generation(config: Config, version: Version | None) -> HookGeneration:
    names = config.mediamtx.hook_names
    if names is HookNames.AUTO:
        return hook_generation_for(version)
    return HookGeneration(names.value)


def render_document(
    config: Config, cameras: Sequence[Camera], settings: RenderSettings
) -> tuple[dict[str, Any], str]:
    base_path = config.mediamtx.base_config
    doc = render_mediamtx_config(load_base(base_path), cameras, settings)
    return doc, dump_mediamtx_yaml(doc, str(base_path))


def _reader_host(base_config: Path) -> str:
    base = load_base(base_config)
    return connect_host(listen_host(base.get("rtspAddress"), "rtspAddress"))


def _version_text(version: Version | None) -> str:
    return "unknown" if version is None else "v{}.{}.{}".format(*version)
