"""The simulated-camera helpers (tests/streams) against the real FFmpeg client.

Also pins down what FFmpeg 9 does when its RTSP source is cut or frozen (see FaultProxy): the
recorder's supervision is built on these behaviours.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.paths import REPO_ROOT
from tests.streams.sources import (
    GST_RTSP,
    FaultProxy,
    RtspServer,
    ffmpeg_exe,
    ffprobe_exe,
    probe,
    require,
)

REPO = REPO_ROOT
SIZE = (320, 240)
# Input options that open a live stream in ~0.6 s instead of ~2.8 s (stream-info probing).
FAST = ("-analyzeduration", "500000")


@pytest.fixture(scope="module")
def server() -> Iterator[RtspServer]:
    require(GST_RTSP)
    ffprobe_exe()
    with RtspServer(["/cam1", "/cam2"], fps=10, size=SIZE, gop=10) as rtsp:
        yield rtsp


@pytest.fixture
async def proxy(server: RtspServer) -> AsyncIterator[FaultProxy]:
    async with FaultProxy.for_url(server.url("/cam1")) as fault_proxy:
        yield fault_proxy


@pytest.fixture(autouse=True)
def no_stray_children() -> Iterator[None]:
    """Every FFmpeg a test starts is gone by its end (the module's RTSP server may stay)."""
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    yield
    after = psutil.Process().children(recursive=True)
    stray = [c for c in after if c.pid not in before and _alive(c)]
    assert not stray, f"processes left behind: {[(c.pid, c.name()) for c in stray]}"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def read_clip(
    url: str, out: Path, seconds: float = 2.0, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`ffmpeg -rtsp_transport tcp -i URL -t SECONDS -c copy OUT`, input `options` first."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *options]
    cmd += ["-rtsp_transport", "tcp", "-i", url, "-t", str(seconds), "-c", "copy", "-y", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@dataclass
class Reader:
    """An FFmpeg reading an RTSP URL into a file, with its `-progress` samples."""

    proc: asyncio.subprocess.Process
    log: Path
    started: float
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, out_time_us)
    watcher: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, url: str, out: Path, timeout_us: int, *extra: str) -> Reader:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info"]
        cmd += [*FAST, "-rtsp_transport", "tcp", "-timeout", str(timeout_us)]
        cmd += ["-i", url, *extra, "-c", "copy", "-progress", "pipe:1", "-y", str(out)]
        log = out.with_suffix(".log")
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=stderr
            )
        reader = cls(proc, log, time.monotonic())
        reader.watcher = asyncio.create_task(reader._watch())
        return reader

    async def _watch(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            key, _, value = line.decode().strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                self.samples.append((time.monotonic(), int(value)))

    def out_time_s(self, at: float | None = None) -> float:
        """The last reported out_time at monotonic time `at` (default: now)."""
        values = [us for t, us in self.samples if at is None or t <= at]
        return values[-1] / 1e6 if values else 0.0

    async def wait_progress(self, out_time_s: float, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.out_time_s() < out_time_s:
            assert self.proc.returncode is None, f"FFmpeg exited: {self.stderr()}"
            assert time.monotonic() < deadline, f"no progress to {out_time_s} s: {self.stderr()}"
            await asyncio.sleep(0.1)

    async def wait(self, timeout_s: float) -> int:
        returncode = await asyncio.wait_for(self.proc.wait(), timeout_s)
        assert self.watcher is not None
        await self.watcher
        return returncode

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
        if self.watcher is not None:
            await self.watcher

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


@contextlib.asynccontextmanager
async def reading(url: str, out: Path, timeout_us: int, *extra: str) -> AsyncIterator[Reader]:
    reader = await Reader.start(url, out, timeout_us, *extra)
    try:
        yield reader
    finally:
        await reader.close()


def assert_clip(path: Path, min_span_s: float) -> None:
    result = probe(path)
    assert result.playable, result.stderr
    assert (result.codec, result.width, result.height) == ("h264", *SIZE)
    assert result.span_s >= min_span_s, result
    assert result.frame_interval_s == pytest.approx(0.1, abs=0.01)  # 10 fps
    assert result.keyframes >= 1


# --- plain reads ------------------------------------------------------------------------------


def test_read_from_rtsp_server(server: RtspServer, tmp_path: Path) -> None:
    out = tmp_path / "direct.mp4"
    done = read_clip(server.url("/cam2"), out)
    assert done.returncode == 0, done.stderr
    assert_clip(out, 1.5)
    result = probe(out)
    assert result.duration_s == pytest.approx(2.0, abs=0.3)
    assert result.max_gap_s is not None and result.max_gap_s < 0.25


async def test_read_through_proxy(server: RtspServer, proxy: FaultProxy, tmp_path: Path) -> None:
    url = proxy.url_for(server.url("/cam1"))
    assert url == f"rtsp://127.0.0.1:{proxy.port}/cam1"
    out = tmp_path / "proxied.mp4"
    done = await asyncio.to_thread(read_clip, url, out)
    assert done.returncode == 0, done.stderr
    assert_clip(out, 1.5)
    assert proxy.accepted == 1


def test_audio_track(tmp_path: Path) -> None:
    require(GST_RTSP)
    with RtspServer(["/mic"], audio=True, pattern="smpte") as camera:
        done = read_clip(camera.url("/mic"), tmp_path / "av.mp4", 1.0, FAST)
    assert done.returncode == 0, done.stderr
    result = probe(tmp_path / "av.mp4")
    assert result.playable and result.codec == "h264"
    assert result.audio_codec in ("aac", "opus")


def test_probe_of_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 28)
    assert not probe(bad).playable
    assert not probe(tmp_path / "missing.mp4").playable


def test_url_for_checks_the_target() -> None:
    proxy = FaultProxy("127.0.0.1", 8554)
    proxy.port = 9000  # as if started
    assert proxy.url_for("rtsp://u:p@127.0.0.1:8554/a/b?x=1") == "rtsp://u:p@127.0.0.1:9000/a/b?x=1"
    with pytest.raises(ValueError, match="does not point at"):
        proxy.url_for("rtsp://127.0.0.1:8555/a")


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_cut_ends_reader_with_status_0_then_serves_again(
    server: RtspServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    url = proxy.url_for(server.url("/cam1"))
    async with reading(url, tmp_path / "before.mp4", 5_000_000) as reader:
        await reader.wait_progress(1.0)
        cut_at = time.monotonic()
        await proxy.cut(2.0)
        assert proxy.active == 0 and proxy.cutting
        # FFmpeg sees the connection closed: "End of file", closes the output, exits 0 at once.
        assert await reader.wait(timeout_s=3.0) == 0, reader.stderr()
        assert time.monotonic() - cut_at < 2.0
        assert "End of file" in reader.stderr()
    assert_clip(tmp_path / "before.mp4", 0.5)

    # During the cut a new reader is refused: it fails to open the input (not status 0).
    refused = await asyncio.to_thread(read_clip, url, tmp_path / "refused.mp4", 1.0, FAST)
    assert refused.returncode != 0
    assert proxy.refused >= 1

    await asyncio.sleep(max(0.0, cut_at + 2.1 - time.monotonic()))
    assert not proxy.cutting
    after = await asyncio.to_thread(read_clip, url, tmp_path / "after.mp4", 1.0, FAST)
    assert after.returncode == 0, after.stderr
    assert_clip(tmp_path / "after.mp4", 0.5)


@pytest.mark.slow
async def test_freeze_stalls_reader_thaw_resumes_and_a_long_freeze_times_out(
    server: RtspServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    url = proxy.url_for(server.url("/cam1"))
    async with reading(url, tmp_path / "frozen.mp4", 3_000_000) as reader:
        await reader.wait_progress(1.0)
        await asyncio.sleep(0.6)  # two more progress reports

        # Frozen: the connection stays open, out_time_us stops (after what was in flight).
        proxy.freeze()
        frozen_at = time.monotonic()
        assert proxy.active == 1
        await asyncio.sleep(2.7)
        stalled_from = reader.out_time_s(frozen_at + 0.6)
        assert reader.out_time_s(frozen_at + 2.6) == stalled_from
        assert reader.proc.returncode is None  # still waiting: -timeout has not fired yet

        # Thawed before FFmpeg gives up: the held bytes arrive and it carries on.
        proxy.thaw()
        await reader.wait_progress(stalled_from + 2.0, timeout_s=5.0)
        assert reader.proc.returncode is None

        # Frozen for good: FFmpeg exits with status 0 ("Connection timed out") after about
        # twice -timeout (the first timeout alone does not end it).
        proxy.freeze()
        frozen_at = time.monotonic()
        assert await reader.wait(timeout_s=12.0) == 0, reader.stderr()
        waited = time.monotonic() - frozen_at
        assert 4.5 < waited < 10.0, waited
        assert "Connection timed out" in reader.stderr()
        proxy.thaw()
    result = probe(tmp_path / "frozen.mp4")
    assert result.playable, result.stderr
    assert result.max_gap_s is not None and result.max_gap_s < 0.25  # held, not dropped


# --- server restarts and processes ------------------------------------------------------------


async def test_server_stop_and_start_on_the_same_port(tmp_path: Path) -> None:
    require(GST_RTSP)
    async with RtspServer(["/cam1"]) as camera:
        port = camera.port
        async with reading(camera.url(), tmp_path / "one.mp4", 5_000_000) as reader:
            await reader.wait_progress(0.5)
            pid = camera.pid
            # The camera goes away under a reader: SIGTERM, clean exit; the reader exits 0.
            assert await camera.stop_async() == 0
            assert not camera.running and pid is not None and not psutil.pid_exists(pid)
            assert await reader.wait(timeout_s=3.0) == 0, reader.stderr()
        assert probe(tmp_path / "one.mp4").playable
        gone = await asyncio.to_thread(read_clip, camera.url(), tmp_path / "gone.mp4", 0.5)
        assert gone.returncode != 0  # connection refused

        await camera.start_async()  # same port, although it just had a connection on it
        assert camera.port == port and camera.starts == 2
        again = await asyncio.to_thread(read_clip, camera.url(), tmp_path / "two.mp4", 0.5, FAST)
        assert again.returncode == 0, again.stderr
        assert probe(tmp_path / "two.mp4").playable


def test_no_process_left_behind() -> None:
    require(GST_RTSP)
    camera = RtspServer(["/cam1"])
    with camera:
        pid = camera.pid
        assert pid is not None
        assert psutil.Process(pid).children(recursive=True) == []
        assert os.getpgid(pid) == pid  # its own process group
    assert not psutil.pid_exists(pid)
    assert camera.stop() is None  # stopping twice is harmless

    # Even when the test process dies without cleaning up, the server goes (it watches stdin).
    code = (
        "import time\n"
        "from tests.streams.sources import RtspServer\n"
        "server = RtspServer(['/cam1'])\n"
        "server.start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        orphan = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while _alive_pid(orphan):
        assert time.monotonic() < deadline, "RTSP server outlived its killed parent"
        time.sleep(0.05)


def _alive_pid(pid: int) -> bool:
    try:
        return _alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def test_require_skips_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require("sh").endswith("/sh")
    assert require("json") == "json"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool-xyz"):
        require("no-such-tool-xyz")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require("no-such-tool-xyz")
    with pytest.raises(pytest.fail.Exception, match="not found"):
        require("/nonexistent/ffprobe")
