"""The synthetic test-pattern publisher MediaMTX runs for a `test://` camera (runOnInit).

FFmpeg encodes the pattern and publishes it over RTSP, but never with a credential in its
argv: it publishes to a relay on a loopback port of this process, which accepts only that
FFmpeg's own connection (checked against the child's sockets) and adds the path's publish
credential (derived from the hook secret file) to every request it forwards to MediaMTX
(relay.py). The command MediaMTX runs carries no secret either, only the key file's name.

Exits with FFmpeg's status; SIGINT or SIGTERM (MediaMTX stopping the path) stops FFmpeg first.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from vmsd.access.derive import synthetic_publish_password
from vmsd.access.mediamtx_auth import SYNTHETIC_PUBLISH_USER
from vmsd.core.ints import parse_int
from vmsd.core.sources import SyntheticPattern, parse_synthetic
from vmsd.mediamtx.relay import MAX_HEAD_BYTES, RequestRewriter, relay

RELAY_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    path: str  # the MediaMTX path (the camera's name)
    size: str  # WxH, as in the camera's test:// source
    fps: str
    rtsp_address: str  # MediaMTX's RTSP listener as a local client reaches it: host:port
    key_file: Path  # the hook secret, from which the publish password is derived
    ffmpeg: str


def publisher_ffmpeg_argv(ffmpeg: str, pattern: SyntheticPattern, target: str) -> list[str]:
    return [
        ffmpeg,
        *("-hide_banner", "-loglevel", "error", "-nostdin", "-re"),
        *("-f", "lavfi", "-i"),
        f"testsrc2=size={pattern.width}x{pattern.height}:rate={pattern.fps}",
        *("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"),
        *("-pix_fmt", "yuv420p", "-g", str(pattern.fps * 2)),
        *("-f", "rtsp", "-rtsp_transport", "tcp", target),
    ]


def split_address(address: str) -> tuple[str, int]:
    """`127.0.0.1:8554` / `[::1]:8554` -> (host, port) for a socket connect."""
    host, sep, port = address.rpartition(":")
    if not sep or not host:
        raise ValueError(f"not host:port: {address!r}")
    try:
        number = parse_int(port, 0, 65535)
    except ValueError as err:
        raise ValueError(f"not host:port: {address!r} (the port {err})") from err
    return host.removeprefix("[").removesuffix("]"), number


def is_own_connection(pid: int, peer: tuple[str, int]) -> bool:
    """Is `peer` (the connecting socket's address) a socket of process `pid`?"""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return False
    return any(
        conn.laddr and (conn.laddr.ip, conn.laddr.port) == (peer[0], peer[1])
        for conn in connections
    )


async def run_publisher(options: PublisherOptions) -> int:
    # The same rules as the camera's source: a bad size or rate is refused here too.
    pattern = parse_synthetic(f"test://?size={options.size}&fps={options.fps}")
    secret = options.key_file.read_text(encoding="utf-8").strip()
    password = synthetic_publish_password(secret, options.path)
    target_host, target_port = split_address(options.rtsp_address)
    child: asyncio.subprocess.Process | None = None
    relays: set[asyncio.Task[None]] = set()
    rewriter: RequestRewriter | None = None

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if child is None or rewriter is None or relays or not is_own_connection(child.pid, peer):
            say(f"refused a connection from {peer}: not this publisher's FFmpeg")
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        relays.add(task)
        try:
            upstream = await asyncio.open_connection(
                target_host, target_port, limit=MAX_HEAD_BYTES
            )
        except OSError as err:
            say(f"cannot reach MediaMTX at {options.rtsp_address}: {err}")
            writer.close()
            return
        await relay((reader, writer), upstream, rewriter)

    server = await asyncio.start_server(connected, RELAY_HOST, 0, limit=MAX_HEAD_BYTES)
    relay_port = server.sockets[0].getsockname()[1]
    relay_base = f"rtsp://{RELAY_HOST}:{relay_port}"
    rewriter = RequestRewriter(
        relay_base, f"rtsp://{options.rtsp_address}", SYNTHETIC_PUBLISH_USER, password
    )
    argv = publisher_ffmpeg_argv(options.ffmpeg, pattern, f"{relay_base}/{options.path}")
    loop = asyncio.get_running_loop()
    try:
        child = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _stop, child)
        return await child.wait()
    finally:
        server.close()
        for task in relays:
            task.cancel()
        await server.wait_closed()


def _stop(child: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.terminate()


def say(message: str) -> None:
    print(f"vmsd synthetic-publish: {message}", file=sys.stderr, flush=True)
