"""Which FFmpeg binary vmsd runs: the configured one, else ffmpeg on PATH, else the static
binary shipped in the imageio-ffmpeg wheel (so a fresh box records without a system FFmpeg)."""

from __future__ import annotations

import shutil
from pathlib import Path

from vmsd.core.errors import ConfigError


def resolve_ffmpeg(configured: str) -> str:
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise ConfigError(
                "the configured FFmpeg binary was not found",
                [f'ffmpeg.binary: not an executable or a command on PATH (got "{configured}")'],
            )
        return found
    on_path = shutil.which("ffmpeg")
    if on_path is not None:
        return on_path
    import imageio_ffmpeg  # an optional fallback: imported only when needed

    bundled = Path(imageio_ffmpeg.get_ffmpeg_exe())
    return str(bundled)
