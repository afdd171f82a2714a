"""FFmpeg command lines and output parsing for recorders and snapshots. Pure.

Facts this rests on (shared/reference/ffmpeg.md): only `flush_packets=1` *inside*
`-segment_format_options` leaves a playable file when FFmpeg is killed; `-segment_list pipe:1`
with csv prints one line per closed segment; a lost or silent source exits with status 0;
`-strftime 1` uses the local zone, so the child runs with TZ=UTC.

A network input is never named in the argv, which every local user can read in /proc: FFmpeg
reads it from an input description (an ffconcat file of one entry, written 0600 by
recorder/inputs.py), so camera passwords and query-string secrets stay out of `ps`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vmsd.config.recording import SegmentFormat
from vmsd.core.sources import SyntheticPattern, is_synthetic, parse_synthetic

# FFmpeg's RTSP socket timeout (µs): a silent source ends the run after this even if the
# progress watchdog somehow did not.
RTSP_SOCKET_TIMEOUT_US = 5_000_000
# Other network inputs (HTTP, RTMP, SRT, UDP): read timeout in µs.
READ_TIMEOUT_US = 5_000_000
ANALYZE_DURATION_US = 500_000
SEGMENT_NAME_FORMAT = "%Y-%m-%d/%H-%M-%S"
_OPENING_RE = re.compile(r"Opening '(?P<path>.+)' for writing")
# frag_duration: a new fragment at least every second, so a kill loses at most about one
# second of the open segment, not a whole keyframe interval.
_INNER_OPTIONS = {
    SegmentFormat.MP4: "movflags=+frag_keyframe+empty_moov+default_base_moof"
    ":frag_duration=1000000:flush_packets=1",
    # Matroska's equivalent of frag_duration: a cluster at least every second.
    SegmentFormat.MKV: "flush_packets=1:cluster_time_limit=1000",
}
MUXERS = {SegmentFormat.MP4: "mp4", SegmentFormat.MKV: "matroska"}


# What the one-entry concat input may open: the sources' protocols and what they stand on.
PROTOCOL_WHITELIST = (
    "file,rtsp,rtsps,rtp,srtp,tcp,udp,tls,http,https,httpproxy,crypto,data,"
    "rtmp,rtmps,rtmpt,rtmpts,srt"
)


@dataclass(frozen=True, slots=True)
class RecorderInput:
    """Where a recorder or snapshot reads from: a URL, or a synthetic pattern to encode.

    `mediamtx_path`: the URL is MediaMTX's, credential-free; each run reads it with a reader
    grant of its own for that path (access/grants.py), added to the URL in its input file."""

    url: str
    rtsp_transport: str = "tcp"  # tcp | udp | automatic (FFmpeg: tcp, udp, or left out)
    mediamtx_path: str | None = None

    @property
    def synthetic(self) -> SyntheticPattern | None:
        return parse_synthetic(self.url) if is_synthetic(self.url) else None


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    directory: Path  # <storage>/<camera>
    segment_seconds: int
    format: SegmentFormat
    audio: bool

    @property
    def extension(self) -> str:
        return self.format.value

    @property
    def template(self) -> str:
        # The whole name goes through strftime: a '%' in the directory must stay a '%'.
        directory = str(self.directory).replace("%", "%%")
        return f"{directory}/{SEGMENT_NAME_FORMAT}.{self.extension}"


def input_args(source: RecorderInput, description: Path | None) -> list[str]:
    """`description`: the input file FFmpeg reads the URL from (input_description); None only
    for a synthetic pattern, which has no URL."""
    pattern = source.synthetic
    if pattern is not None:
        return [
            *("-re", "-f", "lavfi", "-i"),
            f"testsrc2=size={pattern.width}x{pattern.height}:rate={pattern.fps}",
        ]
    if description is None:
        raise ValueError("a network input needs its input description file")
    # FFmpeg probes a live input for ~3 s by default before writing anything; half a second
    # is enough for the stream layout (RTSP's SDP has it) and makes a resume that much faster.
    # auto_convert 0: the packets pass as the source sent them, as with a plain -i.
    return [
        *("-fflags", "+genpts+discardcorrupt", "-analyzeduration", str(ANALYZE_DURATION_US)),
        *("-f", "concat", "-safe", "0", "-auto_convert", "0"),
        *("-protocol_whitelist", PROTOCOL_WHITELIST),
        *("-i", str(description)),
    ]


def input_description(source: RecorderInput, url: str) -> str:
    """The ffconcat text naming `url` (the source's URL, credentials included) with the
    demuxer options a plain `-i` would have had on the command line."""
    options = [("analyzeduration", str(ANALYZE_DURATION_US)), ("fflags", "+genpts+discardcorrupt")]
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("rtsp", "rtsps"):
        if source.rtsp_transport in ("tcp", "udp"):
            options.append(("rtsp_transport", source.rtsp_transport))
        options.append(("timeout", str(RTSP_SOCKET_TIMEOUT_US)))
    elif scheme in ("http", "https"):
        options += [("rw_timeout", str(READ_TIMEOUT_US)), ("reconnect", "0")]
    elif scheme in ("rtmp", "rtmps", "srt", "udp+mpegts"):
        options.append(("rw_timeout", str(READ_TIMEOUT_US)))
    if scheme == "udp+mpegts":
        url = "udp://" + url.split("://", 1)[1]
    lines = ["ffconcat version 1.0", f"file {_ffconcat_quote(url)}"]
    lines += [f"option {key} {_ffconcat_quote(value)}" for key, value in options]
    return "\n".join(lines) + "\n"


def _ffconcat_quote(value: str) -> str:
    """FFmpeg's token quoting: inside '...' nothing is special but the closing quote."""
    if any(ch in value for ch in "\n\r\0"):
        raise ValueError("an input URL cannot contain line breaks or NUL")
    return "'" + value.replace("'", "'\\''") + "'"


# FFmpeg's message when the container has no tag for a copied codec (G.711 audio in MP4).
UNSUPPORTED_CODEC_MARK = "Could not find tag for codec"


def codec_args(source: RecorderInput, audio: bool, transcode_audio: bool = False) -> list[str]:
    """Stream copy. `transcode_audio`: AAC instead of copying audio the container cannot hold
    (G.711 from many IP cameras cannot go into MP4); video is always copied."""
    pattern = source.synthetic
    if pattern is not None:
        # The pattern has no codec to copy: encode it cheaply, a keyframe every 2 s.
        return [
            *("-map", "0:v:0", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"),
            *("-pix_fmt", "yuv420p", "-g", str(pattern.fps * 2)),
        ]
    maps = ["-map", "0:v:0"] + (["-map", "0:a:0?"] if audio else [])
    if audio and transcode_audio:
        return [*maps, "-c:v", "copy", "-c:a", "aac", "-b:a", "64k"]
    return [*maps, "-c", "copy"]


def build_recorder_argv(
    ffmpeg: str,
    source: RecorderInput,
    spec: SegmentSpec,
    progress_fd: int,
    *,
    description: Path | None,
    transcode_audio: bool = False,
) -> list[str]:
    """Stream copy into fixed-length, crash-safe segments named by their UTC start time.
    Closed segments are listed on stdout; progress blocks go to `progress_fd` (inherited)."""
    return [
        ffmpeg,
        *("-hide_banner", "-nostats", "-loglevel", "info"),
        # A progress block a second per camera: a stall watchdog counted in seconds, a prompt
        # "recording" state, and cheap enough for the daemon with dozens of cameras.
        *("-progress", f"pipe:{progress_fd}", "-stats_period", "1"),
        *input_args(source, description),
        *codec_args(source, spec.audio, transcode_audio),
        *("-f", "segment", "-segment_time", str(spec.segment_seconds)),
        *("-segment_atclocktime", "1", "-reset_timestamps", "1", "-strftime", "1"),
        *("-segment_format", MUXERS[spec.format]),
        *("-segment_format_options", _INNER_OPTIONS[spec.format]),
        *("-segment_list", "pipe:1", "-segment_list_type", "csv"),
        *("-avoid_negative_ts", "make_zero"),
        spec.template,
    ]


def build_snapshot_argv(ffmpeg: str, source: RecorderInput, description: Path | None) -> list[str]:
    """One JPEG of the live picture on stdout."""
    return [
        ffmpeg,
        *("-hide_banner", "-nostdin", "-loglevel", "error"),
        *input_args(source, description),
        *("-frames:v", "1", "-an", "-f", "image2", "-c:v", "mjpeg", "-q:v", "4", "pipe:1"),
    ]


def build_probe_argv(ffmpeg: str, path: Path) -> list[str]:
    """Read every packet of a file (the wheel ships no ffprobe): its `time=` is the duration."""
    return [
        ffmpeg,
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-stats"),
        *("-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"),
    ]


@dataclass(frozen=True, slots=True)
class SegmentLine:
    """One `-segment_list` csv line: a closed segment, times in seconds from the run's start."""

    path: str
    start_s: float
    end_s: float


def parse_segment_line(line: str) -> SegmentLine | None:
    # The name is csv-quoted when it contains a comma or quote; ours never do, but be strict.
    parts = line.strip().rsplit(",", 2)
    if len(parts) != 3:
        return None
    name, start, end = parts
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1].replace('""', '"')
    try:
        return SegmentLine(name, float(start), float(end))
    except ValueError:
        return None


def parse_opening(line: str) -> str | None:
    """The file the segment muxer just opened (`Opening '...' for writing`)."""
    match = _OPENING_RE.search(line)
    return match["path"] if match else None


_TIME_RE = re.compile(r"time=(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)")


def parse_probe_duration(stderr: str) -> float | None:
    """The last `time=HH:MM:SS.ss` FFmpeg printed while reading a file through."""
    matches = list(_TIME_RE.finditer(stderr))
    if not matches:
        return None
    last = matches[-1]
    return int(last["h"]) * 3600 + int(last["m"]) * 60 + float(last["s"])


@dataclass(frozen=True, slots=True)
class Progress:
    """One `-progress` block."""

    out_time_us: int
    frame: int
    fps: float
    bitrate_bits: float | None
    total_size: int
    ended: bool


class ProgressParser:
    """Feeds `key=value` lines, or raw chunks of the pipe; returns a Progress at the end of
    every block."""

    def __init__(self) -> None:
        self._block: dict[str, str] = {}
        self._partial = b""  # feed_chunk: the start of a line the next chunk completes

    def feed(self, line: str) -> Progress | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        self._block[key] = value
        if key != "progress":
            return None
        block, self._block = self._block, {}
        return _progress(block)

    def feed_chunk(self, data: bytes) -> list[Progress]:
        """The blocks completed by `data`, read from the pipe as it came (lines may be split
        anywhere). Same results as feeding its lines one by one, at a fraction of the cost: a
        block a second per camera is the recorder's most frequent work."""
        *lines, self._partial = (self._partial + data).split(b"\n")
        done = []
        for raw in lines:
            key, sep, value = raw.strip().partition(b"=")
            if not sep:
                continue
            name = key.decode(errors="replace")
            self._block[name] = value.decode(errors="replace")
            if name == "progress":
                block, self._block = self._block, {}
                done.append(_progress(block))
        return done


def _progress(block: Mapping[str, str]) -> Progress:
    return Progress(
        out_time_us=_int(block.get("out_time_us")),
        frame=_int(block.get("frame")),
        fps=_float(block.get("fps")) or 0.0,
        bitrate_bits=_bitrate(block.get("bitrate")),
        total_size=_int(block.get("total_size")),
        ended=block.get("progress") == "end",
    )


def _int(raw: str | None) -> int:
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _bitrate(raw: str | None) -> float | None:
    """`1234.5kbits/s` -> bits per second; `N/A` -> None."""
    if raw is None or not raw.endswith("kbits/s"):
        return None
    value = _float(raw.removesuffix("kbits/s"))
    return value * 1000 if value is not None else None
