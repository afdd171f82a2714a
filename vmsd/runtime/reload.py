"""What a SIGHUP applies and what waits for a restart: one table over the config model.

Every setting of the model is named here, by itself or through its section, as either
`RELOADED` (the component reads it from the ConfigHolder or is reconfigured on reload) or
`RESTART_ONLY` (read once at start). A test walks the model and fails on a key in neither.
"""

from __future__ import annotations

from vmsd.config.schema import Config

# Read once at start: a reload that changes one logs `config_reload_restart_needed` with it.
RESTART_ONLY = frozenset(
    {
        "server.host",
        "server.port",
        "server.max_body_bytes",  # aiohttp's client_max_size, fixed when the app is built
        "state_dir",
        "database",
        "secrets",
        "mediamtx.mode",
        "mediamtx.binary",
        "mediamtx.config_path",
        "mediamtx.api_port",
        "mediamtx.hooks_host",
        "mediamtx.hooks_port",
        "mediamtx.auth_fail_limit",
        "mediamtx.auth_fail_window_seconds",
        "mediamtx.auth_block_seconds",
        "ffmpeg.binary",  # resolved once; recorders, snapshots and exports share it
        "recording.snapshot_cache_seconds",  # the snapshot cache is built at start
        "recording.snapshot_timeout_seconds",
        "system.gpu",  # the GPU provider is chosen once
    }
)

# Applied by a reload: read through the ConfigHolder, or re-applied by the reload itself
# (cameras synced, MediaMTX re-rendered, recorders reconciled, webhooks re-matched, logging).
RELOADED = frozenset(
    {
        "server.open_endpoints",
        "storage",
        "mediamtx.base_config",
        "mediamtx.rtsp_port",
        "mediamtx.metrics_port",
        "mediamtx.hook_names",
        "mediamtx.poll_interval_seconds",
        "recording.segment_seconds",
        "recording.format",
        "recording.stall_seconds",
        "recording.audio",
        "recording.retry_max_seconds",
        "retention",
        "exports",
        "events",
        "notifications",
        "system.sample_interval_seconds",
        "cameras",
        "log",
    }
)


def classification(key: str) -> str | None:
    """'restart', 'reload' or None (unclassified) for a dotted key, through its sections."""
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        prefix = ".".join(parts[:depth])
        if prefix in RESTART_ONLY:
            return "restart"
        if prefix in RELOADED:
            return "reload"
    return None


def changed_restart_only_keys(old: Config, new: Config) -> list[str]:
    """The restart-only settings whose value differs between two configurations."""
    changed = []
    for key in sorted(RESTART_ONLY):
        a: object = old
        b: object = new
        for part in key.split("."):
            a, b = getattr(a, part), getattr(b, part)
        if a != b:
            changed.append(key)
    return changed
