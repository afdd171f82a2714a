"""Supervision of the MediaMTX binary in managed mode: start, forward its log, restart always.

MediaMTX exits with status 0 when a hot reload finds an invalid file, so every exit is a
failure to recover from: log it with the tail of its output, back off, start again.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from vmsd.core.backoff import Backoff
from vmsd.core.log import get_logger
from vmsd.core.proc import read_pipe, signal_group, spawn_child, stop_process
from vmsd.core.redact import redact_text  # what vmsd.log re-exports (implicitly: mypy --strict)
from vmsd.core.wait import sleep_or_event
from vmsd.mediamtx.pathlog import SourceReport, classify_path_line

log = get_logger("vmsd.mediamtx")

STOP_GRACE_S = 5.0  # MediaMTX stops cleanly on SIGINT; it closes paths and hooks first
# What is left in the pipe when MediaMTX exits is read in microseconds. The bound is for a
# runOn* hook that inherited MediaMTX's stdout (externalcmd does that) and outlives it.
OUTPUT_DRAIN_S = 0.5
TAIL_LINES = 20
LINE_LIMIT_BYTES = 64 * 1024

_LEVEL_METHODS = {"DEB": "debug", "INF": "info", "WAR": "warning", "ERR": "error"}
# `2025/01/31 12:00:00 WAR [path cam1] [RTSP source] ...` (internal/logger/logger.go).
_LINE_RE = re.compile(
    r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? (DEB|INF|WAR|ERR) (?:\[([^\]]*)\] ?)?(.*)$"
)
# Older MediaMTX releases colour stdout even when it is not a terminal.
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def parse_mediamtx_log_line(line: str) -> tuple[str, str, str] | None:
    """(level, component, message) of a MediaMTX log line; component is "" when absent."""
    match = _LINE_RE.match(line)
    if match is None:
        return None
    level, component, message = match.groups()
    return level, component or "", message


def resolve_mediamtx_binary(binary: str) -> Path | None:
    """A path with a slash if it is an executable file; a bare name looked up on PATH."""
    if "/" in binary:
        path = Path(binary)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which(binary)
    return Path(found) if found is not None else None


async def mediamtx_version(binary: str, timeout_s: float = 5.0) -> str | None:
    """`binary --version` (e.g. "v1.20.1"), or None if it cannot run, fails or hangs."""
    try:
        proc = await spawn_child(
            binary,
            "--version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as err:
        log.debug("mediamtx_version_failed", binary=binary, error=str(err))
        return None
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        log.debug("mediamtx_version_failed", binary=binary, error=f"timeout after {timeout_s}s")
        return None
    finally:
        if proc.returncode is None:  # timed out or cancelled: kill and reap
            signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
    version = output.decode(errors="replace").strip()
    if proc.returncode != 0 or not version:
        log.debug("mediamtx_version_failed", binary=binary, exit_code=proc.returncode)
        return None
    return version


class MediaMtxProcess:
    """Runs `binary config_path` forever. `run()` ends only by cancellation."""

    def __init__(
        self,
        binary: str,
        config_path: Path,
        *,
        backoff: Backoff | None = None,
        on_up: Callable[[bool], None] | None = None,
        on_restart: Callable[[int | None], None] | None = None,
        on_source: Callable[[SourceReport], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._binary = binary
        self._config_path = config_path
        self._backoff = backoff or Backoff(initial_s=1.0, max_s=30.0)
        self._on_up = on_up or (lambda _up: None)
        self._on_restart = on_restart or (lambda _code: None)
        # Called from the log reader, which must not wait: it may only hand the report on.
        self._on_source = on_source or (lambda _report: None)
        self._sleep = sleep
        self._clock = clock
        self._kicked = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.restarts = 0  # exits and failed starts alike

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    def kick(self) -> None:
        """Skip the current backoff wait (the config file was fixed). A kick while MediaMTX
        runs skips the wait after its next exit: the file changed since it started."""
        self._kicked.set()

    async def run(self) -> None:
        retries = self._backoff.series()  # short runs in a row; a healthy one starts anew
        while True:
            started = self._clock()
            code = await self._run_once()
            delay = retries.failed(self._clock() - started)
            self.restarts += 1
            if code is not None:
                log.warning(
                    "mediamtx_exited",
                    exit_code=code,
                    tail=list(self._tail),
                    retry_in_s=round(delay, 2),
                )
            self._on_up(False)
            self._on_restart(code)
            await self._wait_backoff(delay)

    async def _run_once(self) -> int | None:
        """One MediaMTX run -> its exit status, or None when it could not be started."""
        self._kicked.clear()
        self._tail.clear()
        started = await self._start()
        if started is None:
            return None
        proc, stream, transport = started
        self._proc = proc
        reader = asyncio.create_task(self._forward_output(stream))
        try:
            log.info("mediamtx_started", pid=proc.pid, config=str(self._config_path))
            self._on_up(True)
            return await proc.wait()
        finally:
            try:
                if proc.returncode is None:  # cancelled (or on_up failed): stop it, reap it
                    code = await stop_process(
                        proc, first_signal=signal.SIGINT, grace_s=STOP_GRACE_S
                    )
                    log.info("mediamtx_stopped", exit_code=code)
            finally:
                self._proc = None
                await _drain(reader, transport)

    async def _start(
        self,
    ) -> tuple[asyncio.subprocess.Process, asyncio.StreamReader, asyncio.ReadTransport] | None:
        # Our own pipe, not PIPE: asyncio's proc.wait() also waits for its pipes to close, and a
        # hook that inherited MediaMTX's stdout would keep it from ever returning.
        read_fd, write_fd = os.pipe()
        try:
            stream, transport = await read_pipe(read_fd, LINE_LIMIT_BYTES)
            try:
                proc = await spawn_child(
                    self._binary,
                    str(self._config_path),
                    death_signal=signal.SIGTERM,
                    stdout=write_fd,
                    stderr=write_fd,
                )
            except BaseException:
                transport.close()
                raise
        except (OSError, subprocess.SubprocessError) as err:
            log.error("mediamtx_start_failed", binary=self._binary, error=redact_text(str(err)))
            return None
        finally:
            os.close(write_fd)  # the child has its copy; ours would keep EOF from ever coming
        return proc, stream, transport

    async def _forward_output(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # longer than the limit: that line is dropped, reading goes on
                log.warning("mediamtx_log", message="(line too long, dropped)")
                continue
            if not raw:
                return
            line = redact_text(_ANSI_RE.sub("", raw.decode(errors="replace")).rstrip())
            self._tail.append(line)
            parsed = parse_mediamtx_log_line(line)
            if parsed is None:
                log.info("mediamtx_log", message=line)
                continue
            level, component, message = parsed
            emit = getattr(log, _LEVEL_METHODS[level])
            emit("mediamtx_log", mediamtx_level=level, component=component, message=message)
            report = classify_path_line(level, component, message)
            if report is not None:
                self._on_source(report)

    async def _wait_backoff(self, delay_s: float) -> None:
        await sleep_or_event(self._kicked, delay_s, self._sleep)


async def _drain(reader: asyncio.Task[None], transport: asyncio.ReadTransport) -> None:
    """Let the reader reach the end of MediaMTX's output, then make sure it has finished."""
    try:
        await asyncio.wait({reader}, timeout=OUTPUT_DRAIN_S)
    finally:
        transport.close()  # EOF for the reader even while a leftover hook holds the pipe
        await asyncio.wait({reader})
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            log.error("mediamtx_output_reader_failed", exc_info=reader.exception())
