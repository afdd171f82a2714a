"""Simulated cameras for end-to-end tests: an RTSP server, a fault-injecting proxy, ffprobe.

- `RtspServer`: `rtsp_server.py` (GStreamer, system Python) as a child process; stop and start
  it again on the same port to simulate a camera that goes away and comes back.
- `FaultProxy`: an asyncio TCP proxy in front of any TCP source; `cut()` drops and refuses
  connections for a while, `freeze()` stalls them with the connection left open.
- `probe()`: what ffprobe says about a recorded file.
- `require()`: skip when a dependency is missing -- but fail under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import itertools
import json
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Self
from urllib.parse import urlsplit, urlunsplit

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
# require() name for "the GStreamer RTSP server can run": bindings + encoders under SYSTEM_PYTHON.
GST_RTSP = "gst-rtsp-server"
_GST_CHECK = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
from tests.net import free_port
Gst.init(None)
missing = [e for e in ("videotestsrc", "x264enc", "rtph264pay") if not Gst.ElementFactory.find(e)]
if missing:
    raise SystemExit("missing GStreamer elements: " + ", ".join(missing))
"""


# --- dependencies ---------------------------------------------------------------------------


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required, not skipped)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _gst_rtsp_problem() -> str | None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} not found (needed for the GStreamer RTSP server)"
    try:
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", _GST_CHECK], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"GStreamer check failed: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return (
            f"GStreamer RTSP server unavailable under {SYSTEM_PYTHON} ({last}); install "
            "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,ugly,bad}"
        )
    return None


def require(name: str) -> str:
    """Make sure a test dependency is there and return where it is.

    `name` is `GST_RTSP`, a path to an executable, a program on PATH (returns its path) or an
    importable module (returns its name). When it is missing the test is skipped -- or fails,
    with the same reason, when the environment variable CI is "true".
    """
    if name == GST_RTSP:
        problem = _gst_rtsp_problem()
        if problem:
            _missing(problem)
        return SYSTEM_PYTHON
    if os.sep in name:
        if os.access(name, os.X_OK) and Path(name).is_file():
            return name
        _missing(f"{name} not found or not executable")
    found = shutil.which(name)
    if found:
        return found
    if name.isidentifier() or all(part.isidentifier() for part in name.split(".")):
        with contextlib.suppress(ImportError, ValueError):
            if importlib.util.find_spec(name) is not None:
                return name
    _missing(f"{name} is not installed (neither a program on PATH nor an importable module)")


def ffmpeg_exe() -> str:
    """The static FFmpeg of the imageio-ffmpeg wheel (the one vmsd uses without a system one)."""
    require("imageio_ffmpeg")
    import imageio_ffmpeg

    try:
        exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        _missing(f"imageio-ffmpeg has no FFmpeg binary: {exc}")
    return exe


def ffprobe_exe() -> str:
    return require("/usr/bin/ffprobe" if Path("/usr/bin/ffprobe").exists() else "ffprobe")


# --- RTSP server ------------------------------------------------------------------------------


class RtspServer:
    """`rtsp_server.py` as a child process in its own process group.

    Sync: `with RtspServer(["/cam1"]) as server: ...`; async: `async with RtspServer(...)` (the
    blocking start/stop run in a thread). `stop()` then `start()` comes back on the same port.
    The child also exits by itself when this process dies (it watches its stdin pipe).
    """

    def __init__(
        self,
        paths: Sequence[str] = ("/cam1",),
        *,
        fps: int = 10,
        size: tuple[int, int] = (320, 240),
        gop: int = 10,
        audio: bool = False,
        audio_codec: str = "aac",
        pattern: str = "ball",
        port: int = 0,
        ready_timeout_s: float = 20.0,
        user: str | None = None,
        password: str = "",
        digest: bool = False,
        record: bool = False,
    ) -> None:
        """`user`/`password`: the camera needs them (a 401 otherwise); `record`: the paths
        take a publisher (see rtsp_server.py), and `wait_for_line("MEDIA /path")` says when
        its first frame arrived."""
        self.paths = [p if p.startswith("/") else "/" + p for p in paths]
        self.user, self.password, self.digest, self.record = user, password, digest, record
        self.fps, self.size, self.gop, self.audio, self.pattern = fps, size, gop, audio, pattern
        self.audio_codec = audio_codec  # with audio: aac, or G.711's pcma / pcmu
        self.port = port  # 0 until the first start picks a free one; then kept across restarts
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Start the server and wait for READY; on the same port as before after a stop."""
        if self.running:
            raise RuntimeError("RtspServer already running")
        require(GST_RTSP)
        self._reap()
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            error = self._start_once(deadline)
            if error is None:
                self.starts += 1
                return
            # The old port can be briefly unavailable after a stop; retry until the deadline.
            if self.port == 0 or time.monotonic() > deadline - 0.5:
                raise RuntimeError(f"RTSP server did not start: {error}")
            time.sleep(0.2)

    def _start_once(self, deadline: float) -> str | None:
        width, height = self.size
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--watch-stdin"]
        cmd += ["--fps", str(self.fps), "--size", f"{width}x{height}", "--gop", str(self.gop)]
        cmd += ["--pattern", self.pattern]
        cmd += ["--audio", "--audio-codec", self.audio_codec] if self.audio else []
        env = None
        if self.user is not None:
            cmd += ["--user", self.user] + (["--digest"] if self.digest else [])
            env = {**os.environ, "RTSP_SERVER_PASSWORD": self.password}
        cmd += ["--record"] if self.record else []
        for path in self.paths:
            cmd += ["--path", path]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # own process group: killpg() reaches everything
            env=env,
        )
        self.proc = proc
        assert proc.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([proc.stdout], [], [], remaining)[0]:
                self._reap()
                return f"no READY within {self.ready_timeout_s} s"
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                self._reap()
                return f"exited with status {proc.returncode} before READY"
            line += chunk
        words = line.split()
        if len(words) != 2 or words[0] != b"READY":
            self._reap()
            return f"unexpected output {line!r}"
        self.port = int(words[1])
        return None

    def wait_for_line(self, expected: str, timeout_s: float = 20.0) -> bool:
        """Read the server's stdout until a line equal to `expected` (or the timeout)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd, buffer = self.proc.stdout.fileno(), b""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            if not select.select([fd], [], [], remaining)[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buffer += chunk
            if expected.encode() in buffer.split(b"\n"):
                return True
        return False

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM the process group, wait, SIGKILL if needed, reap. Returns the exit status."""
        return self._reap(timeout_s)

    def _reap(self, timeout_s: float = 5.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # (No group kill after the reap: the pid, hence the group id, may already be reused.
        # The server forks nothing, so its group dies with it.)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return proc.returncode

    def url(self, path: str | None = None) -> str:
        if self.port == 0:
            raise RuntimeError("RtspServer not started yet")
        path = self.paths[0] if path is None else path
        return f"rtsp://127.0.0.1:{self.port}/{path.lstrip('/')}"

    # context managers ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def start_async(self) -> None:
        await asyncio.to_thread(self.start)

    async def stop_async(self, timeout_s: float = 5.0) -> int | None:
        return await asyncio.to_thread(self.stop, timeout_s)

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    def __del__(self) -> None:
        if self.proc is not None:
            self._reap(1.0)


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


# --- fault proxy ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Leg:
    """One direction of a proxied connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter  # where the bytes go
    held: bytearray = field(default_factory=bytearray)


@dataclass(eq=False)
class _Connection:
    legs: tuple[_Leg, _Leg]
    writers: tuple[asyncio.StreamWriter, asyncio.StreamWriter]

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


class FaultProxy:
    """An asyncio TCP proxy (in the test's event loop) that can drop or stall its connections.

    - `cut(duration_s)`: closes every current connection (both ends), returns once they are
      closed, and for `duration_s` from then accepts and immediately closes new connections;
      after that it serves again. `restore()` ends a cut early.
    - `freeze()`: connections stay open but no byte is delivered in either direction (new
      connections are frozen too). The proxy keeps reading from both ends and holds the bytes,
      so the upstream sees a healthy client; `thaw()` delivers what was held and forwards again
      (like a network stall that recovers). A side that closes closes the whole connection.
    """

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target_host, self.target_port, self.host = target_host, target_port, host
        self.port = 0
        self.accepted = 0  # connections accepted (including refused ones)
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._refuse_until = -math.inf
        self._frozen = False

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"{url}: needs an explicit host and port")
        return cls(parts.hostname, parts.port)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def url_for(self, url: str) -> str:
        """`url` (pointing at the target) with host:port replaced by the proxy's."""
        if not self.port:
            raise RuntimeError("FaultProxy not started")
        parts = urlsplit(url)
        if (parts.hostname, parts.port) != (self.target_host, self.target_port):
            raise ValueError(f"{url} does not point at {self.target_host}:{self.target_port}")
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@" if userinfo else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}{self.host}:{self.port}"))

    @property
    def active(self) -> int:
        """Connections currently proxied."""
        return len(self._connections)

    @property
    def cutting(self) -> bool:
        return asyncio.get_running_loop().time() < self._refuse_until

    @property
    def frozen(self) -> bool:
        return self._frozen

    async def cut(self, duration_s: float) -> None:
        """Close all connections now and refuse new ones for `duration_s` (math.inf: until
        `restore()`). Returns as soon as the current connections are closed."""
        self._refuse_until = asyncio.get_running_loop().time() + duration_s
        await self._drop_all()

    def restore(self) -> None:
        self._refuse_until = -math.inf

    def freeze(self) -> None:
        self._frozen = True

    def thaw(self) -> None:
        self._frozen = False
        for connection in self._connections:
            for leg in connection.legs:
                if leg.held and not leg.writer.is_closing():
                    leg.writer.write(bytes(leg.held))
                leg.held.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self._drop_all()

    async def _drop_all(self) -> None:
        for connection in list(self._connections):
            connection.close()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, not a coroutine: serve in a task this proxy owns and can wait for.
        serve = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(serve)
        serve.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.cutting or self._server is None:
            self.refused += 1
            await _close_writers([writer])
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except BaseException:  # unreachable upstream (or cancelled): drop the client
            await _close_writers([writer])
            raise
        if self.cutting or self._server is None:  # cut (or closed) while connecting
            self.refused += 1
            await _close_writers([writer, up_writer])
            return
        connection = _Connection(
            legs=(_Leg(reader, up_writer), _Leg(up_reader, writer)), writers=(writer, up_writer)
        )
        self._connections.add(connection)
        pumps = [asyncio.create_task(self._pump(leg)) for leg in connection.legs]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._connections.discard(connection)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            await _close_writers(connection.writers)

    async def _pump(self, leg: _Leg) -> None:
        with contextlib.suppress(OSError):
            while data := await leg.reader.read(65536):
                if self._frozen:
                    leg.held += data
                    continue
                if leg.held:  # thaw() normally flushed it already
                    leg.writer.write(bytes(leg.held))
                    leg.held.clear()
                leg.writer.write(data)
                await leg.writer.drain()


async def _close_writers(writers: Iterable[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(OSError):
            await writer.wait_closed()


# --- ffprobe ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """What ffprobe says about a file. Times are in seconds; None when ffprobe had no answer."""

    path: Path
    returncode: int
    codec: str | None  # video codec, e.g. "h264"
    width: int | None
    height: int | None
    duration_s: float | None  # format duration
    start_time_s: float | None  # format start_time
    packets: int  # video packets
    keyframes: int  # video packets flagged K
    first_pts_s: float | None  # smallest video packet pts_time
    last_pts_s: float | None  # largest video packet pts_time
    frame_interval_s: float | None  # median gap between consecutive video pts
    max_gap_s: float | None  # largest gap between consecutive video pts (holes in the stream)
    avg_frame_rate: float | None  # the video stream's avg_frame_rate
    audio_codec: str | None
    stderr: str

    @property
    def playable(self) -> bool:
        return self.returncode == 0 and self.packets >= 1

    @property
    def span_s(self) -> float:
        """last - first video pts (0 with fewer than 2 packets)."""
        if self.first_pts_s is None or self.last_pts_s is None:
            return 0.0
        return self.last_pts_s - self.first_pts_s


def probe(path: str | os.PathLike[str], timeout_s: float = 60.0) -> ProbeResult:
    """Run ffprobe on `path`. Never raises for a broken or missing file: see `playable`."""
    cmd = [
        ffprobe_exe(),
        "-v", "error",
        "-show_entries",
        "format=duration,start_time:stream=codec_type,codec_name,width,height,avg_frame_rate"
        ":packet=codec_type,pts_time,flags",
        "-show_packets",
        "-of", "json",
        str(path),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    try:
        data: dict[str, Any] = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        data = {}
    streams: list[dict[str, Any]] = data.get("streams", [])
    video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "audio"), {})
    packets = [p for p in data.get("packets", []) if p.get("codec_type") == "video"]
    pts = sorted(t for p in packets if (t := _float(p.get("pts_time"))) is not None)
    gaps = [b - a for a, b in itertools.pairwise(pts)]
    fmt = data.get("format", {})
    return ProbeResult(
        path=Path(path),
        returncode=done.returncode,
        codec=video.get("codec_name"),
        width=video.get("width"),
        height=video.get("height"),
        duration_s=_float(fmt.get("duration")),
        start_time_s=_float(fmt.get("start_time")),
        packets=len(packets),
        keyframes=sum("K" in p.get("flags", "") for p in packets),
        first_pts_s=pts[0] if pts else None,
        last_pts_s=pts[-1] if pts else None,
        frame_interval_s=statistics.median(gaps) if gaps else None,
        max_gap_s=max(gaps) if gaps else None,
        avg_frame_rate=_rate(video.get("avg_frame_rate")),
        audio_codec=audio.get("codec_name"),
        stderr=done.stderr,
    )


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _rate(value: object) -> float | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    num, _, den = value.partition("/")
    try:
        return float(num) / float(den) if float(den) else None
    except ValueError:
        return None


__all__ = [
    "GST_RTSP",
    "SYSTEM_PYTHON",
    "FaultProxy",
    "ProbeResult",
    "RtspServer",
    "ffmpeg_exe",
    "ffprobe_exe",
    "probe",
    "require",
]
