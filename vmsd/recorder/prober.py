"""Camera probes (POST /api/v1/cameras/{name}/probe and /api/v1/probe): the I/O
around probe_stream's runs.

A saved camera is probed where its recorder reads it: through MediaMTX (a reader grant of its
own) while MediaMTX runs and the camera is enabled, else at its source. When MediaMTX has no
stream for the path (its 404), the source itself is asked, so the answer names the camera's
failure (a refused password, a wrong path) rather than MediaMTX's. An unsaved source is
probed at the source: MediaMTX has no path for it. Either way the URL reaches FFmpeg in an
input file (recorder/inputs.py), never in an argv.

At most `max_concurrent` probes run at once (more: 503) and one per camera (another: 409);
none waits for a slot. Each is bounded by recording.probe_timeout_seconds, its FFmpeg killed
(the process group, SIGKILL) and reaped at the bound, or when the request goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vmsd.cameras.model import Camera
from vmsd.config.load import ConfigHolder
from vmsd.core.errors import ConflictError, UnavailableError, ValidationError
from vmsd.core.log import get_logger
from vmsd.core.proc import spawn_child, stop_process
from vmsd.core.sources import parse_synthetic
from vmsd.recorder.failures import FailureClass, RunFailure
from vmsd.recorder.ffmpeg import RecorderInput
from vmsd.recorder.fleet import build_plan
from vmsd.recorder.inputs import ReaderInputs, direct_input
from vmsd.recorder.probe_stream import (
    ProbeResult,
    ProbeRun,
    ProbeVia,
    build_stream_probe_argv,
    judge,
    synthetic_result,
)

# What is kept of a probe's stderr: its start (the input's description) and its end (the
# byte counts, the error), each line bounded. A stream that makes FFmpeg warn per packet
# cannot grow the daemon's memory.
HEAD_LINES, TAIL_LINES, LINE_CHARS = 200, 100, 1000
READ_CHUNK = 64 * 1024
UNSAVED_OWNER = "probe"  # the input file's owner part for an unsaved source

log = get_logger("vmsd.recorder")


class ProbesBusyError(UnavailableError):
    code = "probes_busy"


@dataclass(frozen=True, slots=True)
class _Target:
    source: RecorderInput
    owner: str  # names the input file
    via: ProbeVia


class BoundedLines:
    """FFmpeg's stderr as lines (its progress lines end in a carriage return): the first
    HEAD_LINES and the last TAIL_LINES."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = ""

    def feed(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data.decode(errors="replace")).split("\n")
        for line in lines:
            for part in line.split("\r"):
                self._add(part)

    def close(self) -> tuple[str, ...]:
        self._add(self._partial)
        return (*self.head, *self.tail)

    def _add(self, line: str) -> None:
        line = line.rstrip()[:LINE_CHARS]
        if not line:
            return
        if len(self.head) < HEAD_LINES:
            self.head.append(line)
        else:
            self.tail.append(line)


class StreamProber:
    def __init__(
        self,
        holder: ConfigHolder,
        ffmpeg: str,
        inputs: ReaderInputs,
        input_for: Callable[[Camera], RecorderInput],
        *,
        via_mediamtx: bool,
        max_concurrent: int,
    ) -> None:
        """`input_for`: where the recorders read a camera (MediaMTX's reader_input)."""
        self._holder = holder
        self._ffmpeg = ffmpeg
        self._inputs = inputs
        self._input_for = input_for
        self._via_mediamtx = via_mediamtx
        self._max_concurrent = max_concurrent
        self._running = 0
        self._cameras: set[str] = set()

    async def probe_camera(self, camera: Camera) -> ProbeResult:
        """A saved camera, where its recorder reads it (see the module doc)."""
        through_mediamtx = self._via_mediamtx and camera.enabled
        if camera.is_publisher and not through_mediamtx:
            raise ConflictError(
                f"camera {camera.name!r} publishes to MediaMTX: it can be probed only there, "
                "while MediaMTX runs and the camera is enabled"
            )
        with self._claim(camera.name):
            started = time.monotonic()
            owner = f"{camera.name}.probe"
            if not through_mediamtx:
                result = await self._source(camera, owner, started)
            else:
                target = _Target(self._input_for(camera), owner, ProbeVia.MEDIAMTX)
                result = await self._probe(camera, target, started)
                if result.failure is not None and result.failure.no_source_yet:
                    result = await self._without_mediamtx(camera, result, started)
        _log_result(camera.name, result)
        return result

    async def probe_source(self, camera: Camera) -> ProbeResult:
        """An unsaved camera (the request's, validated as a camera): at its source."""
        if camera.is_publisher:
            message = "a publisher camera sends nothing until it is saved and publishes"
            raise ValidationError("nothing to probe", [{"field": "source", "message": message}])
        with self._claim(None):
            result = await self._source(camera, UNSAVED_OWNER, time.monotonic())
        _log_result(None, result)
        return result

    async def _without_mediamtx(
        self, camera: Camera, result: ProbeResult, started: float
    ) -> ProbeResult:
        """MediaMTX had no stream for the camera: why, from the source itself."""
        if camera.is_publisher:
            failure = RunFailure(
                FailureClass.NOT_FOUND, "nothing publishes to the camera's MediaMTX path"
            )
            return dataclasses.replace(result, failure=failure)
        note = "MediaMTX has no stream for the camera yet: its source was probed instead"
        direct = await self._source(camera, f"{camera.name}.probe", started)
        return dataclasses.replace(direct, note=note)

    async def _source(self, camera: Camera, owner: str, started: float) -> ProbeResult:
        source = direct_input(camera)
        if camera.is_synthetic:
            plan = build_plan(self._holder.current, camera, source, via_mediamtx=False)
            return synthetic_result(parse_synthetic(camera.source), plan.segments.format)
        return await self._probe(camera, _Target(source, owner, ProbeVia.SOURCE), started)

    async def _probe(self, camera: Camera, target: _Target, started: float) -> ProbeResult:
        config = self._holder.current
        bound_s = config.recording.probe_timeout_seconds
        deadline = started + bound_s
        via_mediamtx = target.via is ProbeVia.MEDIAMTX
        spec = build_plan(config, camera, target.source, via_mediamtx).segments
        runs: list[ProbeRun] = []
        result = None
        async with self._inputs.opened(target.source, target.owner) as description:
            for transcode_audio in (False, True):
                argv = build_stream_probe_argv(
                    self._ffmpeg,
                    target.source,
                    description,
                    spec.format,
                    audio=spec.audio,
                    transcode_audio=transcode_audio,
                )
                runs.append(await _run(argv, deadline, bound_s))
                result = judge(
                    runs,
                    spec.format,
                    audio=spec.audio,
                    via=target.via,
                    elapsed_s=time.monotonic() - started,
                )
                if result is not None:
                    break
        assert result is not None  # judge decides once it has both runs
        return result

    @contextlib.contextmanager
    def _claim(self, camera: str | None) -> Iterator[None]:
        if camera is not None and camera in self._cameras:
            raise ConflictError(f"a probe of camera {camera!r} is running")
        if self._running >= self._max_concurrent:
            raise ProbesBusyError(f"{self._max_concurrent} probes are running: try again later")
        self._running += 1
        if camera is not None:
            self._cameras.add(camera)
        try:
            yield
        finally:
            self._running -= 1
            if camera is not None:
                self._cameras.discard(camera)


async def _run(argv: list[str], deadline: float, bound_s: float) -> ProbeRun:
    """One FFmpeg run until it exits or the deadline; killed and reaped either way."""
    started = time.monotonic()
    remaining = deadline - started
    if remaining <= 0:
        return ProbeRun((), None, 0.0, timed_out_after=bound_s)
    proc = await spawn_child(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    lines = BoundedLines()
    timed_out = None
    try:
        await asyncio.wait_for(_drain(proc, lines), remaining)
    except TimeoutError:
        timed_out = bound_s
    finally:
        if proc.returncode is None:
            await stop_process(proc, first_signal=signal.SIGKILL, grace_s=1.0)
    return ProbeRun(lines.close(), proc.returncode, time.monotonic() - started, timed_out)


async def _drain(proc: asyncio.subprocess.Process, lines: BoundedLines) -> None:
    assert proc.stderr is not None
    while chunk := await proc.stderr.read(READ_CHUNK):
        lines.feed(chunk)
    await proc.wait()


def _log_result(camera: str | None, result: ProbeResult) -> None:
    log.info(
        "camera_probed",
        camera=camera,
        via=result.via.value,
        failure=result.failure.failure.value if result.failure is not None else None,
        mode=result.verdict.mode.value if result.verdict is not None else None,
        elapsed_ms=round(result.elapsed_s * 1000),
    )
