"""An RTSP relay that adds the credential to a publisher's requests on their way to MediaMTX.

FFmpeg's RTSP client takes a password only inside the URL, and the URL is in its argv, which
every local user can read. So the synthetic publisher's FFmpeg talks to this relay with a URL
that has no credential, and the relay adds `Authorization: Basic ...` to every request it
forwards (rewriting the request URI to MediaMTX's address). Everything else passes unchanged:
request bodies (ANNOUNCE's SDP), interleaved RTP/RTCP frames (`$`, channel, 16-bit length),
and every byte MediaMTX sends back.

Standard library only; the parsing is pure (RequestRewriter).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib

from vmsd.core.ints import parse_int

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
_FRAME_MARK = b"$"


class RelayProtocolError(ValueError):
    """The client sent something that is not RTSP: the relay closes the connection."""


class RequestRewriter:
    def __init__(self, relay_base: str, target_base: str, user: str, password: str) -> None:
        """`relay_base`/`target_base`: `rtsp://host:port` as the client and MediaMTX see it."""
        self._relay_base = relay_base.encode()
        self._target_base = target_base.encode()
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._authorization = f"Authorization: Basic {token}".encode()

    def rewrite(self, head: bytes) -> bytes:
        """One request head (request line and headers, ending with the empty line): the URI
        pointed at MediaMTX, any Authorization the client sent replaced by ours."""
        lines = head.split(b"\r\n")
        if len(lines) < 3 or lines[-2:] != [b"", b""]:
            raise RelayProtocolError("not an RTSP request head")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"RTSP/"):
            raise RelayProtocolError("not an RTSP request line")
        method, uri, version = parts
        if uri.startswith(self._relay_base):
            uri = self._target_base + uri[len(self._relay_base) :]
        headers = [
            line for line in lines[1:-2] if not line.lower().startswith(b"authorization:")
        ]
        return b"\r\n".join([b" ".join((method, uri, version)), self._authorization, *headers]) + (
            b"\r\n\r\n"
        )


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            try:
                return parse_int(value.strip().decode("ascii"), 0, MAX_BODY_BYTES)
            except (UnicodeDecodeError, ValueError) as err:
                raise RelayProtocolError("bad Content-Length") from err
    return 0


async def relay(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    rewriter: RequestRewriter,
) -> None:
    """Until either side closes or the client sends something that is not RTSP; then both
    are closed. The readers should have been opened with `limit=MAX_HEAD_BYTES`."""
    try:
        async with asyncio.TaskGroup() as tg:
            upstream = tg.create_task(_requests(client[0], server[1], rewriter))
            downstream = tg.create_task(_copy(server[0], client[1]))
            await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
            upstream.cancel()
            downstream.cancel()
    except* RelayProtocolError:
        pass
    finally:
        for _, writer in (client, server):
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


async def _requests(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rewriter: RequestRewriter
) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            first = await reader.readexactly(1)
            if first == _FRAME_MARK:
                header = await reader.readexactly(3)  # channel, 16-bit length
                frame = await reader.readexactly(int.from_bytes(header[1:3], "big"))
                writer.write(first + header + frame)
            else:
                try:
                    head = first + await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError as err:
                    raise RelayProtocolError("request head too long") from err
                body = await reader.readexactly(content_length(head))
                writer.write(rewriter.rewrite(head) + body)
            await writer.drain()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()
