"""FFmpeg argv and output parsing for recorders (pure, table-driven), then the built argv run by
the real FFmpeg (imageio's 9.0.2) on a synthetic source: segment list, contiguity, playable
files, and what a SIGKILL leaves behind."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.conftest import ffmpeg_binary
from vmsd.config.recording import SegmentFormat
from vmsd.recorder.ffmpeg import (
    ANALYZE_DURATION_US,
    PROTOCOL_WHITELIST,
    READ_TIMEOUT_US,
    RTSP_SOCKET_TIMEOUT_US,
    UNSUPPORTED_CODEC_MARK,
    Progress,
    ProgressParser,
    RecorderInput,
    SegmentLine,
    SegmentSpec,
    build_recorder_argv,
    build_snapshot_argv,
    input_args,
    input_description,
    parse_opening,
    parse_probe_duration,
    parse_segment_line,
)
from vmsd.recorder.probe import probe_duration
from vmsd.recordings.recovery import segment_start

FF = "/opt/ffmpeg"
CAMERA_DIR = Path("/srv/rec/cam1")
# Every network input: regenerate missing timestamps, drop corrupt packets, probe briefly.
GENPTS = ["-fflags", "+genpts+discardcorrupt", "-analyzeduration", str(ANALYZE_DURATION_US)]
SYNTHETIC = "test://?size=320x240&fps=10"
MP4_INNER = (
    "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=1000000:flush_packets=1"
)


def _spec(
    fmt: SegmentFormat = SegmentFormat.MP4, *, audio: bool = True, seconds: int = 60
) -> SegmentSpec:
    return SegmentSpec(CAMERA_DIR, seconds, fmt, audio)


def _after(argv: list[str], option: str) -> str:
    """The value following `option` (which must occur exactly once)."""
    assert argv.count(option) == 1, (option, argv)
    return argv[argv.index(option) + 1]


def _input_part(argv: list[str]) -> list[str]:
    """From the first input option to the input URL (inclusive)."""
    end = argv.index("-i") + 2
    start = argv.index("-stats_period") + 2
    return argv[start:end]


# --- build_recorder_argv -------------------------------------------------------------------

DESCRIPTION = Path("/var/lib/vmsd/inputs/cam1-0123456789ab.ffconcat")
# Every network input: FFmpeg reads the URL from its input file, never from the argv.
CONCAT_INPUT = [
    *GENPTS,
    *("-f", "concat", "-safe", "0", "-auto_convert", "0"),
    *("-protocol_whitelist", PROTOCOL_WHITELIST),
    *("-i", str(DESCRIPTION)),
]
INNER = ["option analyzeduration '500000'", "option fflags '+genpts+discardcorrupt'"]
RTSP_INNER = [f"option timeout '{RTSP_SOCKET_TIMEOUT_US}'"]
RW_INNER = [f"option rw_timeout '{READ_TIMEOUT_US}'"]


@pytest.mark.parametrize(
    ("url", "transport", "entry", "options"),
    [
        (
            "rtsp://127.0.0.1:8554/cam1",
            "tcp",
            "rtsp://127.0.0.1:8554/cam1",
            ["option rtsp_transport 'tcp'", *RTSP_INNER],
        ),
        (
            "rtsp://10.0.0.5/stream1",
            "udp",
            "rtsp://10.0.0.5/stream1",
            ["option rtsp_transport 'udp'", *RTSP_INNER],
        ),
        ("rtsp://10.0.0.5/stream1", "automatic", "rtsp://10.0.0.5/stream1", RTSP_INNER),
        (
            "rtsps://10.0.0.5:322/s",
            "tcp",
            "rtsps://10.0.0.5:322/s",
            ["option rtsp_transport 'tcp'", *RTSP_INNER],
        ),
        (
            "http://10.0.0.5/video.mjpg",
            "tcp",
            "http://10.0.0.5/video.mjpg",
            [*RW_INNER, "option reconnect '0'"],
        ),
        (
            "https://cam.example/live.ts",
            "tcp",
            "https://cam.example/live.ts",
            [*RW_INNER, "option reconnect '0'"],
        ),
        ("rtmp://10.0.0.5/live/cam", "tcp", "rtmp://10.0.0.5/live/cam", RW_INNER),
        (
            "srt://10.0.0.5:9000?streamid=read:cam&passphrase=s3cret",
            "tcp",
            "srt://10.0.0.5:9000?streamid=read:cam&passphrase=s3cret",
            RW_INNER,
        ),
        ("udp+mpegts://239.0.0.1:5000", "tcp", "udp://239.0.0.1:5000", RW_INNER),
        # A quote in the URL is closed, escaped and reopened: FFmpeg's token rules.
        ("rtsp://u:p%27@h/it's", "automatic", "rtsp://u:p%27@h/it'\\''s", RTSP_INNER),
    ],
    ids=[
        "rtsp-tcp",
        "rtsp-udp",
        "rtsp-automatic",
        "rtsps",
        "http",
        "https",
        "rtmp",
        "srt",
        "udp-mpegts",
        "quote",
    ],
)
def test_recorder_input_per_source_kind(
    url: str, transport: str, entry: str, options: list[str]
) -> None:
    source = RecorderInput(url, transport)
    assert input_description(source, url).splitlines() == [
        "ffconcat version 1.0",
        f"file '{entry}'",
        *INNER,
        *options,
    ]
    assert input_args(source, DESCRIPTION) == CONCAT_INPUT
    argv = build_recorder_argv(FF, source, _spec(), progress_fd=7, description=DESCRIPTION)
    assert _input_part(argv) == CONCAT_INPUT
    assert not any(url in arg or "://" in arg for arg in argv)


def test_a_synthetic_source_needs_no_input_file() -> None:
    source = RecorderInput(SYNTHETIC)
    expected = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10"]
    assert input_args(source, None) == expected
    assert _input_part(build_recorder_argv(FF, source, _spec(), 7, description=None)) == expected


def test_a_network_input_without_its_file_is_refused() -> None:
    with pytest.raises(ValueError, match="input description"):
        input_args(RecorderInput("rtsp://h/p"), None)


@pytest.mark.parametrize("bad", ["rtsp://h/a\nfile 'x'", "rtsp://h/\r", "rtsp://h/\0"])
def test_an_input_url_cannot_add_lines_to_its_file(bad: str) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        input_description(RecorderInput(bad), bad)


def test_full_recorder_argv_for_an_rtsp_camera() -> None:
    argv = build_recorder_argv(
        FF,
        RecorderInput("rtsp://127.0.0.1:8554/cam1", "tcp"),
        _spec(),
        progress_fd=7,
        description=DESCRIPTION,
    )
    assert argv == [
        FF,
        *("-hide_banner", "-nostats", "-loglevel", "info"),
        *("-progress", "pipe:7", "-stats_period", "1"),
        *CONCAT_INPUT,
        *("-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"),
        *("-f", "segment", "-segment_time", "60"),
        *("-segment_atclocktime", "1", "-reset_timestamps", "1", "-strftime", "1"),
        *("-segment_format", "mp4", "-segment_format_options", MP4_INNER),
        *("-segment_list", "pipe:1", "-segment_list_type", "csv"),
        *("-avoid_negative_ts", "make_zero"),
        "/srv/rec/cam1/%Y-%m-%d/%H-%M-%S.mp4",
    ]


@pytest.mark.parametrize(
    ("fmt", "muxer", "inner", "template"),
    [
        (SegmentFormat.MP4, "mp4", MP4_INNER, "/srv/rec/cam1/%Y-%m-%d/%H-%M-%S.mp4"),
        (
            SegmentFormat.MKV,
            "matroska",
            "flush_packets=1:cluster_time_limit=1000",
            "/srv/rec/cam1/%Y-%m-%d/%H-%M-%S.mkv",
        ),
    ],
)
def test_segment_format_options_and_template(
    fmt: SegmentFormat, muxer: str, inner: str, template: str
) -> None:
    spec = _spec(fmt, seconds=10)
    argv = build_recorder_argv(
        FF, RecorderInput("rtsp://h/p"), spec, progress_fd=5, description=DESCRIPTION
    )
    assert _after(argv, "-segment_format") == muxer
    # flush_packets must be *inside* the segment muxer's options (reference/ffmpeg.md):
    # on the command line it does not reach the inner muxer and a kill leaves nothing.
    assert "flush_packets=1" in _after(argv, "-segment_format_options").split(":")
    assert _after(argv, "-segment_format_options") == inner
    assert "-flush_packets" not in argv
    assert _after(argv, "-segment_time") == "10"
    assert _after(argv, "-strftime") == "1"
    assert _after(argv, "-reset_timestamps") == "1"
    assert _after(argv, "-segment_list") == "pipe:1"
    assert _after(argv, "-segment_list_type") == "csv"
    assert argv[-1] == template == spec.template
    assert spec.extension == fmt.value


def test_mp4_fragments_at_least_every_second() -> None:
    argv = build_recorder_argv(
        FF, RecorderInput("rtsp://h/p"), _spec(), progress_fd=5, description=DESCRIPTION
    )
    options = dict(o.split("=", 1) for o in _after(argv, "-segment_format_options").split(":"))
    assert options == {
        "movflags": "+frag_keyframe+empty_moov+default_base_moof",
        "frag_duration": "1000000",
        "flush_packets": "1",
    }


@pytest.mark.parametrize(
    ("audio", "maps"),
    [(True, ["0:v:0", "0:a:0?"]), (False, ["0:v:0"])],
    ids=["audio-on", "audio-off"],
)
def test_audio_is_mapped_only_when_wanted(audio: bool, maps: list[str]) -> None:
    argv = build_recorder_argv(
        FF, RecorderInput("rtsp://h/p"), _spec(audio=audio), progress_fd=5, description=DESCRIPTION
    )
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-map"] == maps
    assert _after(argv, "-c") == "copy"  # stream copy: never re-encode a camera


@pytest.mark.parametrize("audio", [True, False])
def test_synthetic_source_is_encoded_without_audio(audio: bool) -> None:
    argv = build_recorder_argv(
        FF, RecorderInput(SYNTHETIC), _spec(audio=audio), progress_fd=5, description=None
    )
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-map"] == ["0:v:0"]
    assert _after(argv, "-c:v") == "libx264"
    assert _after(argv, "-pix_fmt") == "yuv420p"
    assert _after(argv, "-g") == "20"  # a keyframe every 2 s at 10 fps
    assert "-c" not in argv


@pytest.mark.parametrize("fd", [3, 7, 42])
def test_progress_goes_to_the_given_fd(fd: int) -> None:
    argv = build_recorder_argv(
        FF, RecorderInput("rtsp://h/p"), _spec(), progress_fd=fd, description=DESCRIPTION
    )
    assert _after(argv, "-progress") == f"pipe:{fd}"
    # The stall watchdog counts in seconds: at least one block a second.
    assert 0 < float(_after(argv, "-stats_period")) <= 1.0
    assert "-nostats" in argv


def test_template_keeps_a_percent_in_the_storage_path() -> None:
    spec = SegmentSpec(Path("/srv/rec%d/cam1"), 60, SegmentFormat.MP4, audio=False)
    expanded = datetime(2026, 11, 23, 14, 53, 47, tzinfo=UTC).strftime(spec.template)
    assert expanded == "/srv/rec%d/cam1/2026-11-23/14-53-47.mp4"


# --- build_snapshot_argv -------------------------------------------------------------------

_SNAPSHOT_OUTPUT = ["-frames:v", "1", "-an", "-f", "image2", "-c:v", "mjpeg", "-q:v", "4", "pipe:1"]


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("rtsp://127.0.0.1:8554/cam1", "tcp"),
        ("rtsp://127.0.0.1:8554/cam1", "automatic"),
        ("http://10.0.0.5/video.mjpg", "tcp"),
        ("udp+mpegts://239.0.0.1:5000", "tcp"),
        (SYNTHETIC, "tcp"),
    ],
)
def test_snapshot_argv(url: str, transport: str) -> None:
    source = RecorderInput(url, transport)
    description = None if url == SYNTHETIC else DESCRIPTION
    argv = build_snapshot_argv(FF, source, description)
    assert argv == [
        FF,
        *("-hide_banner", "-nostdin", "-loglevel", "error"),
        *input_args(source, description),
        *_SNAPSHOT_OUTPUT,
    ]


async def test_snapshot_of_a_synthetic_source_is_one_jpeg() -> None:
    proc = await asyncio.create_subprocess_exec(
        *build_snapshot_argv(ffmpeg_binary(), RecorderInput("test://?size=160x120&fps=10"), None),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert out.startswith(b"\xff\xd8") and out.endswith(b"\xff\xd9")
    assert out.count(b"\xff\xd8\xff") == 1  # one image, not a stream


# --- parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("15-00-43.mp4,0.000000,2.000000\n", SegmentLine("15-00-43.mp4", 0.0, 2.0)),
        ("15-00-46.mkv,4.000000,5.600000", SegmentLine("15-00-46.mkv", 4.0, 5.6)),
        ("  15-00-46.mp4,4.0,5.6  \r\n", SegmentLine("15-00-46.mp4", 4.0, 5.6)),
        ('"a,b.mp4",2.000000,4.000000\n', SegmentLine("a,b.mp4", 2.0, 4.0)),
        ('"say ""hi"".mp4",0.0,1.5', SegmentLine('say "hi".mp4', 0.0, 1.5)),
        ("x,y.mp4,1.0,2.0", SegmentLine("x,y.mp4", 1.0, 2.0)),  # only the last two commas count
        ("", None),
        ("\n", None),
        ("garbage", None),
        ("15-00-43.mp4,0.000000", None),
        ("15-00-43.mp4,zero,2.0", None),
        ("15-00-43.mp4,0.0,", None),
        ("a,b,c", None),
        ("[segment @ 0x55] Opening 'pipe:1' for writing", None),
    ],
)
def test_parse_segment_line(line: str, expected: SegmentLine | None) -> None:
    assert parse_segment_line(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "[segment @ 0x561258cf2e80] Opening '/srv/rec/cam1/2026-11-23/15-00-43.mp4' "
            "for writing",
            "/srv/rec/cam1/2026-11-23/15-00-43.mp4",
        ),
        ("[segment @ 0x561258cf2e80] Opening 'pipe:1' for writing", "pipe:1"),
        ("[segment @ 0x55] Opening '/a b/c d.mkv' for writing\n", "/a b/c d.mkv"),
        ("Opening an output file: /x.mp4.", None),
        ("[mp4 @ 0x55] Could not find tag for codec pcm_alaw in stream #1", None),
        ("", None),
    ],
)
def test_parse_opening(line: str, expected: str | None) -> None:
    assert parse_opening(line) == expected


def test_parse_opening_with_an_apostrophe_in_the_path() -> None:
    line = "[segment @ 0x55] Opening '/srv/bob's disk/cam1/2026-11-23/15-00-43.mp4' for writing"
    assert parse_opening(line) == "/srv/bob's disk/cam1/2026-11-23/15-00-43.mp4"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            "frame=   56 fps= 11 q=18.0 Lsize=N/A time=00:00:05.60 bitrate=N/A speed= 1.1x "
            "elapsed=0:00:05.10    \n",
            5.6,
        ),
        (
            # -stats redraws one line with \r: the last time= wins
            "frame=   10 fps=0.0 q=-1.0 size=N/A time=00:00:01.00 bitrate=N/A speed=2x\r"
            "frame=   20 fps=0.0 q=-1.0 Lsize=N/A time=00:00:02.00 bitrate=N/A speed=4x\n",
            2.0,
        ),
        ("frame=1 time=01:02:03.5 bitrate=N/A\n", 3723.5),
        ("frame=0 fps=0.0 q=0.0 Lsize=N/A time=N/A bitrate=N/A speed=N/A\n", None),
        ("/x.mp4: Invalid data found when processing input\n", None),
        ("", None),
    ],
)
def test_parse_probe_duration(stderr: str, expected: float | None) -> None:
    assert parse_probe_duration(stderr) == expected


# Captured from FFmpeg 9.0.2 (`-progress pipe:N -stats_period 0.5`): a segment-muxer run, whose
# bitrate and total_size are always N/A, and a plain file output, which reports both.
SEGMENT_RUN_PROGRESS = """\
frame=10
fps=0.00
stream_0_0_q=19.0
bitrate=N/A
total_size=N/A
out_time_us=1000000
out_time_ms=1000000
out_time=00:00:01.000000
dup_frames=0
drop_frames=0
speed=   2x
progress=continue
frame=15
fps=14.98
stream_0_0_q=18.0
bitrate=N/A
total_size=N/A
out_time_us=1500000
out_time_ms=1500000
out_time=00:00:01.500000
dup_frames=0
drop_frames=0
speed= 1.5x
progress=continue
frame=56
fps=10.98
stream_0_0_q=18.0
bitrate=N/A
total_size=N/A
out_time_us=5600000
out_time_ms=5600000
out_time=00:00:05.600000
dup_frames=0
drop_frames=0
speed= 1.1x
progress=end
"""
FILE_RUN_PROGRESS = """\
frame=6
fps=0.00
stream_0_0_q=19.0
bitrate=   0.6kbits/s
total_size=48
out_time_us=600000
out_time_ms=600000
out_time=00:00:00.600000
dup_frames=0
drop_frames=0
speed= 1.2x
progress=continue
frame=12
fps=0.00
stream_0_0_q=-1.0
bitrate= 404.3kbits/s
total_size=60650
out_time_us=1200000
out_time_ms=1200000
out_time=00:00:01.200000
dup_frames=0
drop_frames=0
speed= 1.5x
progress=end
"""


def _feed_all(text: str) -> list[Progress]:
    parser = ProgressParser()
    return [p for line in text.splitlines(keepends=True) if (p := parser.feed(line))]


def test_progress_blocks_of_a_segment_run() -> None:
    assert _feed_all(SEGMENT_RUN_PROGRESS) == [
        Progress(1_000_000, 10, 0.0, None, 0, ended=False),
        Progress(1_500_000, 15, 14.98, None, 0, ended=False),
        Progress(5_600_000, 56, 10.98, None, 0, ended=True),
    ]


def test_progress_blocks_with_bitrate_and_size() -> None:
    assert _feed_all(FILE_RUN_PROGRESS) == [
        Progress(600_000, 6, 0.0, pytest.approx(600.0), 48, ended=False),
        Progress(1_200_000, 12, 0.0, pytest.approx(404_300.0), 60650, ended=True),
    ]


def test_progress_parser_tolerates_odd_lines() -> None:
    parser = ProgressParser()
    # Before the first packet FFmpeg prints N/A for the times; noise lines are ignored.
    for line in ["", "not a key value\n", "frame=0\n", "fps=N/A\n", "out_time_us=N/A\n"]:
        assert parser.feed(line) is None
    assert parser.feed("progress=continue\n") == Progress(0, 0, 0.0, None, 0, ended=False)
    # A new block starts empty: nothing leaks from the previous one.
    assert parser.feed("progress=end") == Progress(0, 0, 0.0, None, 0, ended=True)


@pytest.mark.parametrize("text", [SEGMENT_RUN_PROGRESS, FILE_RUN_PROGRESS])
def test_progress_chunks_split_anywhere_parse_as_lines(text: str) -> None:
    """Raw pipe reads end anywhere: in a line, between CR and LF, at a block's end."""
    data = text.replace("\n", "\r\n", 3).encode()
    expected = _feed_all(text)
    for cut in range(len(data) + 1):
        parser = ProgressParser()
        assert parser.feed_chunk(data[:cut]) + parser.feed_chunk(data[cut:]) == expected, cut
    parser = ProgressParser()
    assert [p for i in range(len(data)) for p in parser.feed_chunk(data[i : i + 1])] == expected


def test_progress_chunks_tolerate_odd_lines() -> None:
    parser = ProgressParser()
    chunk = b"\nnot a key value\nframe=0\nfps=N/A\nout_time_us=N/A\nprogress=continue\n"
    assert parser.feed_chunk(chunk) == [Progress(0, 0, 0.0, None, 0, ended=False)]
    assert parser.feed_chunk(b"progress=end") == []  # no newline yet: the line may go on
    assert parser.feed_chunk(b"\n") == [Progress(0, 0, 0.0, None, 0, ended=True)]


# --- the real thing ------------------------------------------------------------------------

RUN_S = 5.0


@dataclass
class Run:
    proc: asyncio.subprocess.Process
    progress: int  # read end of the progress pipe (ours to close)
    directory: Path


def _date_dirs(directory: Path) -> None:
    """The segment muxer creates no directories: today's and tomorrow's (UTC) must exist."""
    now = datetime.now(UTC)
    for day in (now, now + timedelta(days=1)):
        (directory / day.strftime("%Y-%m-%d")).mkdir(parents=True, exist_ok=True)


async def _start(directory: Path, fmt: SegmentFormat) -> Run:
    _date_dirs(directory)
    read_fd, write_fd = os.pipe()
    spec = SegmentSpec(directory, 2, fmt, audio=True)
    argv = build_recorder_argv(
        ffmpeg_binary(), RecorderInput(SYNTHETIC), spec, write_fd, description=None
    )
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(write_fd,),
            start_new_session=True,
            env={**os.environ, "TZ": "UTC"},
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return Run(proc, read_fd, directory)


def _read_to_end(fd: int) -> str:
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read().decode()


def _segment_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


async def _record_and_quit(directory: Path, fmt: SegmentFormat) -> tuple[str, str, str, int]:
    run = await _start(directory, fmt)
    try:
        await asyncio.sleep(RUN_S)
        out, err = await asyncio.wait_for(run.proc.communicate(b"q"), 15)
    finally:
        if run.proc.returncode is None:
            run.proc.kill()
            await run.proc.communicate()
        progress = await asyncio.to_thread(_read_to_end, run.progress)
    assert run.proc.returncode is not None
    return out.decode(), err.decode(), progress, run.proc.returncode


@pytest.mark.slow
async def test_real_recording_lists_contiguous_playable_segments(tmp_path: Path) -> None:
    """Both formats at once (about RUN_S in all): `q` ends the run orderly, every file is on
    the segment list, the list is contiguous, and every file plays for its listed length."""
    formats = (SegmentFormat.MP4, SegmentFormat.MKV)
    before = datetime.now(UTC)
    results = await asyncio.gather(
        *(_record_and_quit(tmp_path / fmt.value / "cam1", fmt) for fmt in formats)
    )
    after = datetime.now(UTC)
    for fmt, (out, err, progress_text, code) in zip(formats, results, strict=True):
        directory = tmp_path / fmt.value / "cam1"
        assert code == 0, err[-2000:]
        lines = [parse_segment_line(line) for line in out.splitlines() if line.strip()]
        assert None not in lines, out
        listed = [line for line in lines if line is not None]
        assert len(listed) >= 2, out

        # The list names every file (by base name), and nothing else.
        files = _segment_files(directory)
        assert [f.name for f in files] == [line.path for line in listed]

        # Contiguous: each segment starts where the previous one ended.
        assert listed[0].start_s == 0.0
        for previous, current in itertools.pairwise(listed):
            assert current.start_s == pytest.approx(previous.end_s)
        # About RUN_S (plus FFmpeg's 0.5 s initial read burst, plus however long `q` took).
        assert RUN_S - 1.5 <= listed[-1].end_s <= RUN_S + 3

        for path, line in zip(files, listed, strict=True):
            # Named <dir>/<YYYY-MM-DD>/<HH-MM-SS>.<ext> in UTC (TZ=UTC for -strftime).
            relative = path.relative_to(directory).as_posix()
            assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d/\d\d-\d\d-\d\d\.{fmt.value}", relative)
            start = segment_start(relative)
            assert start is not None
            assert before - timedelta(seconds=1) <= start <= after
            duration = await probe_duration(ffmpeg_binary(), path)
            assert duration == pytest.approx(line.end_s - line.start_s, abs=0.25), path

        # The progress pipe carried blocks, the last one marked as the end.
        parser = ProgressParser()
        blocks = [p for raw in progress_text.splitlines() if (p := parser.feed(raw))]
        assert len(blocks) >= 3
        assert blocks[-1].ended and not any(b.ended for b in blocks[:-1])
        assert blocks[-1].out_time_us == pytest.approx(listed[-1].end_s * 1e6, abs=200_000)
        assert [b.out_time_us for b in blocks] == sorted(b.out_time_us for b in blocks)
        assert blocks[-1].frame > 0


def _wait_for_written(pipe: BinaryIO, out_time_us: int) -> Progress | None:
    """Blocking: the first progress block reporting at least `out_time_us` written; None if
    FFmpeg ended first. The pipe stays open: FFmpeg goes on writing to it."""
    parser = ProgressParser()
    for raw in pipe:
        progress = parser.feed(raw.decode())
        if progress is not None and progress.out_time_us >= out_time_us:
            return progress
    return None


async def _kill_into_first_segment(base: Path, fmt: SegmentFormat) -> Path:
    """The file a run SIGKILLed 1.2-2 s into its first segment left behind. The synthetic
    source has a keyframe every 2 s, so that segment is still open and has no second
    keyframe yet; a kill that came too late (a slow machine) is retried."""
    for attempt in range(3):
        path = await _try_kill_into_first_segment(base / f"try{attempt}" / "cam1", fmt)
        if path is not None:
            return path
    pytest.fail("could not SIGKILL FFmpeg inside its first segment in 3 tries")


async def _try_kill_into_first_segment(directory: Path, fmt: SegmentFormat) -> Path | None:
    run = await _start(directory, fmt)
    with os.fdopen(run.progress, "rb") as pipe:
        try:
            reached = await asyncio.to_thread(_wait_for_written, pipe, 1_200_000)
            os.killpg(run.proc.pid, signal.SIGKILL)
            out, _ = await run.proc.communicate()
        finally:
            if run.proc.returncode is None:
                run.proc.kill()
                await run.proc.communicate()
    assert reached is not None, "FFmpeg ended by itself"
    assert run.proc.returncode == -signal.SIGKILL
    files = _segment_files(directory)
    if reached.out_time_us >= 2_000_000 or out or len(files) != 1:
        return None  # past the first cut: the first segment was closed and listed
    return files[0]


async def test_sigkilled_mp4_leaves_its_open_segment_playable(tmp_path: Path) -> None:
    """frag_duration=1 s + flush_packets=1 inside the muxer options: a kill 1.2-2 s into a
    segment (before its next keyframe) keeps at least the first second."""
    path = await _kill_into_first_segment(tmp_path, SegmentFormat.MP4)
    duration = await probe_duration(ffmpeg_binary(), path)
    assert duration is not None
    assert duration >= 0.9


async def test_sigkilled_mkv_leaves_its_open_segment_playable(tmp_path: Path) -> None:
    path = await _kill_into_first_segment(tmp_path, SegmentFormat.MKV)
    duration = await probe_duration(ffmpeg_binary(), path)
    assert duration is not None


async def _make_g711_source(path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_binary(),
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
        *("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10"),
        *("-f", "lavfi", "-i", "sine=sample_rate=8000"),
        *("-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10"),
        *("-c:a", "pcm_alaw", str(path)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def test_mp4_recording_of_a_camera_with_g711_audio(tmp_path: Path) -> None:
    """G.711 cannot be copied into MP4: FFmpeg says so (the recorder watches for that mark)
    and the next run transcodes the audio to AAC, video still copied."""
    source = tmp_path / "g711.mkv"
    await _make_g711_source(source)
    directory = tmp_path / "cam1"
    _date_dirs(directory)
    spec = SegmentSpec(directory, 2, SegmentFormat.MP4, audio=True)
    # A file input stands in for an RTSP camera with G.711 audio: the codecs are what matter.
    # It is named in an input file, as every network input is.
    camera_input = RecorderInput(str(source))
    description = tmp_path / "g711.ffconcat"
    description.write_text(input_description(camera_input, str(source)))
    copying = build_recorder_argv(ffmpeg_binary(), camera_input, spec, 1, description=description)
    proc = await asyncio.create_subprocess_exec(
        *copying,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TZ": "UTC"},
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode != 0
    assert UNSUPPORTED_CODEC_MARK in err.decode(errors="replace")

    argv = build_recorder_argv(
        ffmpeg_binary(), camera_input, spec, 2, description=description, transcode_audio=True
    )
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,  # also the progress fd (2)
        env={**os.environ, "TZ": "UTC"},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert parse_segment_line(out.decode().splitlines()[0]) is not None
