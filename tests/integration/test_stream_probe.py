"""Probes against real cameras: the GStreamer test RTSP server (H.264 with AAC or G.711, one
that needs a password), a closed port, a name that does not resolve, a server that accepts
and never answers; real FFmpeg (the bundled build, as the daemon runs it without a system
one, and Debian's 5.1), the input files and reader grants the recorders use."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ffmpeg_binary
from tests.net import free_port
from tests.streams.sources import RtspServer
from vmsd.access.grants import READER_USER_PREFIX, Grants
from vmsd.cameras.model import Camera, camera_from_config
from vmsd.config.cameras import CameraConfig
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.errors import ConflictError
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.ffmpeg import RecorderInput
from vmsd.recorder.inputs import INPUT_DIR_NAME, ReaderInputs, direct_input
from vmsd.recorder.probe_stream import MEASURE_S, ProbeVia, RecordMode
from vmsd.recorder.prober import ProbesBusyError, StreamProber

USER, PASSWORD = "admin", "cam-pw-4711"
BOUND_S = 4.0
SYSTEM_FFMPEG = "/usr/bin/ffmpeg"
BINARIES = [
    pytest.param(ffmpeg_binary(), id="bundled"),
    pytest.param(
        SYSTEM_FFMPEG,
        id="system",
        marks=pytest.mark.skipif(shutil.which(SYSTEM_FFMPEG) is None, reason="no /usr/bin/ffmpeg"),
    ),
]


@pytest.fixture(scope="module")
def aac_camera() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], audio=True) as server:
        yield server


@pytest.fixture(scope="module")
def g711_camera() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], audio=True, audio_codec="pcma") as server:
        yield server


@pytest.fixture(scope="module")
def locked_camera() -> Iterator[RtspServer]:
    with RtspServer(["/cam1"], user=USER, password=PASSWORD) as server:
        yield server


def _holder(state_dir: Path, **recording: object) -> ConfigHolder:
    config = Config.model_validate(
        {
            "state_dir": str(state_dir),
            "storage": {"paths": [str(state_dir / "recordings")]},
            "recording": {"probe_timeout_seconds": BOUND_S, **recording},
        }
    )
    return ConfigHolder(config, Path("unused.yml"))


def _inputs(state_dir: Path, grants: Grants | None = None) -> ReaderInputs:
    inputs = ReaderInputs(state_dir / INPUT_DIR_NAME, grants)
    inputs.prepare()
    return inputs


def _prober(tmp_path: Path, ffmpeg: str | None = None, **options: object) -> StreamProber:
    max_concurrent = options.pop("max_concurrent", 4)
    assert isinstance(max_concurrent, int)
    return StreamProber(
        _holder(tmp_path, **options),
        ffmpeg or ffmpeg_binary(),
        _inputs(tmp_path),
        direct_input,
        via_mediamtx=False,
        max_concurrent=max_concurrent,
    )


def _camera(source: str, name: str = "door", **fields: object) -> Camera:
    return camera_from_config(CameraConfig(name=name, source=source, **fields), "api")


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_a_live_camera_with_aac(ffmpeg: str, aac_camera: RtspServer, tmp_path: Path) -> None:
    started = time.monotonic()
    result = await _prober(tmp_path, ffmpeg).probe_source(_camera(aac_camera.url()))
    elapsed = time.monotonic() - started
    assert result.failure is None and result.via is ProbeVia.SOURCE
    assert result.video is not None and result.audio is not None
    assert (result.video.codec, result.video.profile) == ("h264", "Constrained Baseline")
    assert (result.video.width, result.video.height, result.video.fps) == (320, 240, 10.0)
    assert result.video.bitrate_bits is not None and result.video.bitrate_bits > 10_000
    assert (result.audio.codec, result.audio.profile) == ("aac", "LC")
    assert result.audio.bitrate_bits is not None and result.audio.bitrate_bits > 10_000
    assert result.verdict is not None and result.verdict.mode is RecordMode.AS_IS
    assert result.verdict.audio
    assert result.measured_s is not None and result.measured_s >= MEASURE_S - 0.2
    assert MEASURE_S < elapsed < BOUND_S
    assert list((tmp_path / INPUT_DIR_NAME).iterdir()) == []  # the input file went with it


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_g711_is_recorded_with_aac_audio(
    ffmpeg: str, g711_camera: RtspServer, tmp_path: Path
) -> None:
    result = await _prober(tmp_path, ffmpeg).probe_source(_camera(g711_camera.url()))
    assert result.failure is None and result.verdict is not None
    assert result.verdict.mode is RecordMode.TRANSCODE_AUDIO
    assert result.audio is not None and result.audio.codec == "pcm_alaw"
    assert (result.audio.sample_rate, result.audio.channels) == (8000, 1)
    assert result.video is not None and result.video.bitrate_bits is not None


async def test_g711_goes_into_matroska_as_it_comes(g711_camera: RtspServer, tmp_path: Path) -> None:
    camera = _camera(g711_camera.url(), recording={"format": "mkv"})
    result = await _prober(tmp_path).probe_source(camera)
    assert result.verdict is not None and result.verdict.mode is RecordMode.AS_IS
    assert result.verdict.audio and result.audio is not None
    assert result.audio.bitrate_bits is not None  # measured: copied


async def test_g711_with_audio_off_is_video_only(g711_camera: RtspServer, tmp_path: Path) -> None:
    prober = _prober(tmp_path, audio=False)
    result = await prober.probe_source(_camera(g711_camera.url()))
    assert result.verdict is not None and result.verdict.mode is RecordMode.AS_IS
    assert not result.verdict.audio


@pytest.mark.parametrize("ffmpeg", BINARIES)
async def test_the_right_password_reads_and_stays_out_of_every_argv(
    ffmpeg: str, locked_camera: RtspServer, tmp_path: Path
) -> None:
    source = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{locked_camera.port}/cam1"
    probe = asyncio.create_task(_prober(tmp_path, ffmpeg).probe_source(_camera(source)))
    seen: list[bytes] = []
    while not probe.done():
        seen += [_cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit()]
        await asyncio.sleep(0.2)
    result = await probe
    assert result.failure is None, result.failure
    assert any(b"ffmpeg" in line and b".ffconcat" in line for line in seen)
    assert not any(PASSWORD.encode() in line for line in seen)


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize(
    ("source", "failure"),
    [
        ("rtsp://{user}:wrong-pw-9@127.0.0.1:{port}/cam1", FailureClass.UNAUTHORIZED),
        ("rtsp://127.0.0.1:{port}/cam1", FailureClass.UNAUTHORIZED),
        ("rtsp://{user}:{password}@127.0.0.1:{port}/nope", FailureClass.NOT_FOUND),
        ("rtsp://127.0.0.1:{closed}/cam1", FailureClass.REFUSED),
        ("rtsp://nonexistent.invalid/cam1", FailureClass.UNREACHABLE),
    ],
)
async def test_a_camera_that_cannot_be_read_says_why_at_once(
    source: str, failure: FailureClass, locked_camera: RtspServer, tmp_path: Path
) -> None:
    url = source.format(user=USER, password=PASSWORD, port=locked_camera.port, closed=free_port())
    started = time.monotonic()
    result = await _prober(tmp_path).probe_source(_camera(url))
    assert result.failure is not None and result.failure.failure is failure
    assert result.verdict is None
    assert time.monotonic() - started < 1.5  # an answer, not a timeout
    assert "wrong-pw-9" not in result.failure.message
    assert PASSWORD not in result.failure.message




async def test_a_silent_camera_is_a_timeout_at_the_bound(silent_port: int, tmp_path: Path) -> None:
    """FFmpeg's own socket timeout is 5 s; the probe's bound (3 s here) kills it first."""
    prober = _prober(tmp_path, probe_timeout_seconds=3)
    started = time.monotonic()
    result = await prober.probe_source(_camera(f"rtsp://127.0.0.1:{silent_port}/cam1"))
    elapsed = time.monotonic() - started
    assert result.failure is not None and result.failure.failure is FailureClass.TIMEOUT
    assert result.failure.message == "no stream within 3 s"
    assert 3.0 <= elapsed < 4.0
    assert list((tmp_path / INPUT_DIR_NAME).iterdir()) == []


async def test_a_cancelled_probe_kills_its_ffmpeg(silent_port: int, tmp_path: Path) -> None:
    """The request went away: FFmpeg is killed and reaped, the input file removed."""
    probe = asyncio.create_task(
        _prober(tmp_path).probe_source(_camera(f"rtsp://127.0.0.1:{silent_port}/cam1"))
    )
    await asyncio.sleep(1.0)
    before = _ffmpeg_children()
    assert before
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert not (_ffmpeg_children() & before)
    assert list((tmp_path / INPUT_DIR_NAME).iterdir()) == []


def _ffmpeg_children() -> set[int]:
    """This process's FFmpeg children (alive, zombies included: not reaped yet)."""
    mine = str(os.getpid())
    children = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == mine and b"ffmpeg" in _cmdline(pid):
            children.add(int(pid))
    return children


async def test_one_probe_per_camera_and_at_most_max_at_once(
    aac_camera: RtspServer, tmp_path: Path
) -> None:
    prober = _prober(tmp_path, max_concurrent=2)
    door = _camera(aac_camera.url(), name="door")
    first = asyncio.create_task(prober.probe_camera(door))
    await asyncio.sleep(0.3)
    with pytest.raises(ConflictError, match="a probe of camera 'door' is running"):
        await prober.probe_camera(door)
    second = asyncio.create_task(prober.probe_source(_camera(aac_camera.url(), name="gate")))
    await asyncio.sleep(0.3)
    with pytest.raises(ProbesBusyError):
        await prober.probe_source(_camera(aac_camera.url(), name="yard"))
    for result in await asyncio.gather(first, second):
        assert result.failure is None
    assert (await prober.probe_camera(door)).failure is None  # the slots are free again


async def test_through_mediamtx_with_a_grant_of_its_own(
    aac_camera: RtspServer, tmp_path: Path
) -> None:
    """The RTSP server stands where MediaMTX would: the probe reads the camera's path there,
    with a reader grant issued for the probe and revoked after it."""
    grants = Grants(READER_USER_PREFIX)

    def at_mediamtx(camera: Camera) -> RecorderInput:
        return RecorderInput(f"rtsp://127.0.0.1:{aac_camera.port}/cam1", "tcp", camera.name)

    prober = StreamProber(
        _holder(tmp_path),
        ffmpeg_binary(),
        _inputs(tmp_path, grants),
        at_mediamtx,
        via_mediamtx=True,
        max_concurrent=1,
    )
    result = await prober.probe_camera(_camera("rtsp://192.0.2.1/unused", name="cam1"))
    assert result.failure is None and result.via is ProbeVia.MEDIAMTX
    assert result.note is None
    assert len(grants) == 0


async def test_mediamtx_without_the_stream_asks_the_source(
    aac_camera: RtspServer, locked_camera: RtspServer, tmp_path: Path
) -> None:
    """MediaMTX's 404 (no source yet) says nothing of the camera: its source itself does."""

    def at_mediamtx(camera: Camera) -> RecorderInput:
        return RecorderInput(
            f"rtsp://127.0.0.1:{aac_camera.port}/{camera.name}", "tcp", camera.name
        )

    prober = StreamProber(
        _holder(tmp_path),
        ffmpeg_binary(),
        _inputs(tmp_path, Grants(READER_USER_PREFIX)),
        at_mediamtx,
        via_mediamtx=True,
        max_concurrent=1,
    )
    wrong = f"rtsp://{USER}:wrong-pw-9@127.0.0.1:{locked_camera.port}/cam1"
    result = await prober.probe_camera(_camera(wrong, name="gate"))
    assert result.via is ProbeVia.SOURCE and result.note is not None
    assert result.failure is not None and result.failure.failure is FailureClass.UNAUTHORIZED
    publisher = _camera("publisher", name="porch", username="cam", password="pw-123456")
    result = await prober.probe_camera(publisher)
    assert result.via is ProbeVia.MEDIAMTX
    assert result.failure is not None and result.failure.failure is FailureClass.NOT_FOUND
    assert result.failure.message == "nothing publishes to the camera's MediaMTX path"
