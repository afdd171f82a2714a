"""The probe's parser and verdict over FFmpeg's real output: tests/golden/probe/ holds the
stderr of probe runs (this module's argv) by Debian's 5.1 and the bundled 9.0.2, against the
GStreamer test RTSP server (H.264 with AAC, or with G.711 A-law: `--audio-codec pcma`; a
wrong password; a wrong path) and against local files for what that server cannot send (FLV1
video, audio only). Each file's first line is FFmpeg's exit status.
tests/integration/test_stream_probe.py runs the same against live servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import REPO_ROOT
from vmsd.config.recording import SegmentFormat
from vmsd.core.sources import parse_synthetic
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.ffmpeg import RecorderInput
from vmsd.recorder.probe_stream import (
    MEASURE_S,
    AudioInfo,
    ProbeResult,
    ProbeRun,
    ProbeVia,
    RecordMode,
    VideoInfo,
    build_stream_probe_argv,
    judge,
    parse_run,
    run_failure,
    synthetic_result,
)
from vmsd.recorder.prober import HEAD_LINES, LINE_CHARS, TAIL_LINES, BoundedLines

GOLDEN = REPO_ROOT / "tests" / "golden" / "probe"
VERSIONS = ("v5.1", "v9.0.2")
MP4 = SegmentFormat.MP4


def run(name: str, ran_s: float = 2.4) -> ProbeRun:
    first, *lines = (GOLDEN / f"{name}.txt").read_text().splitlines()
    return ProbeRun(tuple(lines), int(first.removeprefix("# exit status ")), ran_s)


def judged(*runs: ProbeRun, audio: bool = True) -> ProbeResult | None:
    return judge(runs, MP4, audio=audio, via=ProbeVia.SOURCE, elapsed_s=3.0)


@pytest.mark.parametrize(("version", "measured"), [("v5.1", 2.02), ("v9.0.2", 2.10)])
def test_an_aac_camera_is_recorded_as_it_comes(version: str, measured: float) -> None:
    result = judged(run(f"{version}-aac-copy"))
    assert result is not None and result.failure is None
    assert result.video == VideoInfo(
        "h264", "Constrained Baseline", 320, 240, 10.0, round(14 * 1024 * 8 / measured)
    )
    assert result.audio == AudioInfo("aac", "LC", 44100, 1, round(32 * 1024 * 8 / measured))
    assert result.verdict is not None and result.verdict.mode is RecordMode.AS_IS
    assert result.verdict.audio and result.verdict.format is MP4
    assert result.measured_s == measured and result.via is ProbeVia.SOURCE


@pytest.mark.parametrize("version", VERSIONS)
def test_g711_audio_needs_the_transcoding_run_to_confirm(version: str) -> None:
    copying = run(f"{version}-g711-copy")
    assert copying.returncode != 0
    assert judged(copying) is None  # the caller runs the transcoding run next
    result = judged(copying, run(f"{version}-g711-to-aac"))
    assert result is not None and result.failure is None and result.verdict is not None
    assert result.verdict.mode is RecordMode.TRANSCODE_AUDIO and result.verdict.audio
    assert "pcm_alaw audio cannot be copied into mp4" in result.verdict.reason
    # The camera's audio as it declares it, not the AAC the second run made of it.
    assert result.audio == AudioInfo("pcm_alaw", None, 8000, 1, 64000.0)
    assert result.video is not None and result.video.bitrate_bits is not None
    assert 50_000 < result.video.bitrate_bits < 60_000  # 14 KiB over ~2 s
    assert result.measured_s is not None and result.measured_s >= MEASURE_S


@pytest.mark.parametrize("version", VERSIONS)
def test_a_transcoding_run_that_fails_is_the_probe_failing(version: str) -> None:
    result = judged(run(f"{version}-g711-copy"), run(f"{version}-401"))
    assert result is not None and result.verdict is None and result.failure is not None
    assert result.failure.failure is FailureClass.UNAUTHORIZED
    assert result.audio is not None and result.audio.codec == "pcm_alaw"  # learned first


@pytest.mark.parametrize("version", VERSIONS)
def test_video_the_container_cannot_hold_is_unsupported(version: str) -> None:
    result = judged(run(f"{version}-flv1-file"))
    assert result is not None and result.failure is None and result.verdict is not None
    assert result.verdict.mode is RecordMode.UNSUPPORTED
    assert result.verdict.reason == "flv1 video cannot be recorded as mp4"
    # 9.0.2 names the decoder too, `flv1 (flv)`: not a profile.
    assert result.video == VideoInfo("flv1", None, 320, 240, 10.0, None)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_stream_without_video_is_unsupported(version: str) -> None:
    result = judged(run(f"{version}-audio-only-file"))
    assert result is not None and result.verdict is not None
    assert result.verdict.mode is RecordMode.UNSUPPORTED
    assert result.verdict.reason == "the stream has no video"
    assert result.audio == AudioInfo("pcm_mulaw", None, 16000, 1, 128000.0)


def test_audio_off_records_video_only_and_says_so() -> None:
    result = judged(run("v5.1-aac-copy"), audio=False)
    assert result is not None and result.verdict is not None
    assert result.verdict.mode is RecordMode.AS_IS and not result.verdict.audio
    assert "recording.audio is false" in result.verdict.reason


@pytest.mark.parametrize(
    ("name", "failure"),
    [
        ("v5.1-401", FailureClass.UNAUTHORIZED),
        ("v9.0.2-401", FailureClass.UNAUTHORIZED),
        ("v5.1-404", FailureClass.NOT_FOUND),
        ("v9.0.2-404", FailureClass.NOT_FOUND),
    ],
)
def test_a_source_that_refuses_is_classified(name: str, failure: FailureClass) -> None:
    result = judged(run(name, ran_s=0.2))
    assert result is not None and result.failure is not None and result.verdict is None
    assert result.failure.failure is failure and not result.failure.no_source_yet
    assert "wrong" not in result.failure.message  # FFmpeg printed the URL's password
    assert result.video is None and result.audio is None


def test_through_mediamtx_a_404_is_no_source_yet_and_a_401_is_vmsds_own() -> None:
    missing = run_failure(run("v5.1-404"), via_mediamtx=True)
    assert missing.failure is FailureClass.NOT_FOUND and missing.no_source_yet
    refused = run_failure(run("v9.0.2-401"), via_mediamtx=True)
    assert refused.failure is FailureClass.CRASHED
    assert refused.message.startswith("MediaMTX refused vmsd's reader grant")


def test_a_run_killed_at_the_bound_is_a_timeout_naming_it() -> None:
    killed = ProbeRun(("Input #0, concat, from 'x.ffconcat':",), None, 10.0, timed_out_after=10)
    result = judged(killed)
    assert result is not None and result.failure is not None
    assert result.failure.failure is FailureClass.TIMEOUT
    assert result.failure.message == "no stream within 10 s"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (  # an MP4 file: a declared bitrate, the codec tag, a language
            "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), "
            "yuv420p(progressive), 640x360 [SAR 1:1 DAR 16:9], 741 kb/s, 25 fps, 25 tbr, "
            "12800 tbn (default)",
            VideoInfo("h264", "High", 640, 360, 25.0, 741_000.0),
        ),
        (
            "  Stream #0:0: Video: hevc (Main), yuv420p(tv, progressive), 640x360 "
            "[SAR 1:1 DAR 16:9], 29.97 fps, 29.97 tbr, 1k tbn",
            VideoInfo("hevc", "Main", 640, 360, 29.97, None),
        ),
        (
            "  Stream #0:0: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown, "
            "progressive), 640x480 [SAR 1:1 DAR 4:3], 5 fps, 5 tbr, 1k tbn",
            VideoInfo("mjpeg", "Baseline", 640, 480, 5.0, None),
        ),
        (  # MPEG-TS (udp+mpegts://, srt://): a PID, a tag in brackets
            "  Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), "
            "yuv420p(progressive), 320x240 [SAR 1:1 DAR 4:3], 10 fps, 10 tbr, 90k tbn, "
            "start 1.600000",
            VideoInfo("h264", "High", 320, 240, 10.0, None),
        ),
    ],
)
def test_video_stream_lines(line: str, expected: VideoInfo) -> None:
    assert parse_run(["Input #0, x, from 'y':", line]).video == expected


def test_audio_stream_lines() -> None:
    line = (
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1, fltp, "
        "174 kb/s (default)"
    )
    assert parse_run(["Input #0, x, from 'y':", line]).audio == AudioInfo(
        "aac", "LC", 48000, 6, 174_000.0
    )


def test_only_the_input_section_describes_the_source() -> None:
    """The output's stream lines are vmsd's (AAC when transcoding), not the camera's."""
    report = parse_run(run("v5.1-g711-to-aac").stderr)
    assert report.audio is not None and report.audio.codec == "pcm_alaw"
    assert parse_run(["Output #0, mp4, to 'pipe:1':", "  Stream #0:0: Video: h264"]).video is None


def test_the_argv_names_the_input_file_and_no_url(tmp_path: Path) -> None:
    source = RecorderInput("rtsp://admin:secret@10.0.0.5/stream?token=abc", "tcp")
    description = tmp_path / "cam.probe-0a1b2c.ffconcat"
    argv = build_stream_probe_argv(
        "ffmpeg", source, description, MP4, audio=True, transcode_audio=False
    )
    assert not any("rtsp" in arg or "secret" in arg for arg in argv[argv.index("-i") :])
    assert argv[argv.index("-i") + 1] == str(description)
    assert argv[
        argv.index("-map") : argv.index("-map") + 6
    ] == ["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"]
    assert argv[argv.index("-t") :] == [
        *("-t", "2", "-f", "mp4", "-movflags", "+frag_keyframe+empty_moov", "pipe:1")
    ]


def test_the_argv_follows_the_recorders_choices(tmp_path: Path) -> None:
    source = RecorderInput("rtsp://10.0.0.5/stream", "tcp")
    path = tmp_path / "x.ffconcat"
    mkv = build_stream_probe_argv(
        "ffmpeg", source, path, SegmentFormat.MKV, audio=False, transcode_audio=False
    )
    assert "0:a:0?" not in mkv and mkv[-3:] == ["-f", "matroska", "pipe:1"]
    aac = build_stream_probe_argv("ffmpeg", source, path, MP4, audio=True, transcode_audio=True)
    assert aac[aac.index("-c:a") + 1] == "aac" and aac[aac.index("-c:v") + 1] == "copy"


def test_a_test_pattern_is_described_without_a_run() -> None:
    result = synthetic_result(parse_synthetic("test://?size=320x240&fps=10"), SegmentFormat.MKV)
    assert result.via is ProbeVia.SYNTHETIC and result.failure is None
    assert result.video == VideoInfo("h264", None, 320, 240, 10.0, None)
    assert result.verdict is not None and result.verdict.format is SegmentFormat.MKV


def test_stderr_is_kept_as_lines_head_and_tail_bounded() -> None:
    lines = BoundedLines()
    lines.feed(b"Input #0\nframe=1 time=00:00:00.50\rframe=2 time=00:00:01.00\r")
    lines.feed(b"\npartial")
    lines.feed(b" line\n" + b"x" * (LINE_CHARS + 50) + b"\n")
    kept = lines.close()
    assert kept[:4] == (
        "Input #0",
        "frame=1 time=00:00:00.50",
        "frame=2 time=00:00:01.00",
        "partial line",
    )
    assert len(kept[4]) == LINE_CHARS
    many = BoundedLines()
    for i in range(HEAD_LINES + TAIL_LINES * 3):
        many.feed(f"line {i}\n".encode())
    kept = many.close()
    assert len(kept) == HEAD_LINES + TAIL_LINES
    assert kept[HEAD_LINES - 1] == f"line {HEAD_LINES - 1}"
    assert kept[-1] == f"line {HEAD_LINES + TAIL_LINES * 3 - 1}"
