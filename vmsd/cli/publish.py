"""`vmsd synthetic-publish`: run by MediaMTX (runOnInit) for a test:// camera; see
vmsd/mediamtx/publisher.py. Dispatched before the rest of vmsd is imported, like `vmsd hook`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from vmsd.mediamtx.publisher import PublisherOptions, run_publisher, say


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="vmsd synthetic-publish",
        description="(run by MediaMTX) publish a test:// camera's pattern to its path",
    )
    parser.add_argument("--path", required=True, help="the MediaMTX path (the camera's name)")
    parser.add_argument("--size", required=True, help="the pattern's WxH")
    parser.add_argument("--fps", required=True, help="the pattern's frame rate")
    parser.add_argument("--rtsp-address", required=True, help="MediaMTX's RTSP host:port")
    parser.add_argument("--key-file", required=True, type=Path, help="the hook secret file")
    parser.add_argument("--ffmpeg", required=True, help="the FFmpeg binary")
    args = parser.parse_args(argv)
    options = PublisherOptions(
        args.path, args.size, args.fps, args.rtsp_address, args.key_file, args.ffmpeg
    )
    try:
        return asyncio.run(run_publisher(options))
    except (OSError, ValueError) as err:
        say(str(err))
        return 1
