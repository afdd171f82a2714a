"""Probe before you save: what a camera's stream is, and whether vmsd records it as it comes.
Pure: the probe's FFmpeg argv, the parser of what FFmpeg says, and the verdict.

One probe run is the recorder's own FFmpeg doing what a recorder run does for a couple of
seconds: the same input file, the same stream mapping and codec arguments, muxed into the
camera's segment container, the output thrown away (`pipe:1` to /dev/null), then `-t` ends it.
So "vmsd can record this as it is" is the recording FFmpeg's own answer, not a table's:
Debian's 5.1 and the bundled 9.0.2 disagree (9.0.2 puts PCM and FLAC into MP4, 5.1 refuses
both; both refuse G.711). When the container refuses the audio ("Could not find tag for
codec pcm_alaw in stream #1"), a second run does what the recorder then does (audio to AAC,
video still copied) and confirms it.

Why FFmpeg's log and not ffprobe's JSON: the imageio-ffmpeg wheel, vmsd's FFmpeg on a box
without a system one, ships no ffprobe, and ffprobe cannot say what the muxer accepts. The
lines read are FFmpeg's `Input #0` stream lines (codec, profile, size, fps: the same
libavcodec names ffprobe prints), its final per-type byte counts (`video:14KiB audio:32KiB`,
1 KiB resolution) and its last `time=`; tests/golden/probe/ holds real output of both
builds.

Bitrates are measured, not declared (a live RTSP stream rarely declares one): the bytes of
the stream's packets FFmpeg read, over the seconds of stream read (`measured_s`, about
MEASURE_S), without RTP or container overhead. With a keyframe interval longer than the
window the figure is rough: one keyframe more or less moves it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vmsd.config.recording import SegmentFormat
from vmsd.core.sources import SyntheticPattern
from vmsd.recorder.failures import FailureClass, RunFailure, classify_run
from vmsd.recorder.ffmpeg import (
    MUXERS,
    UNSUPPORTED_CODEC_MARK,
    RecorderInput,
    codec_args,
    input_args,
    parse_probe_duration,
)

MEASURE_S = 2.0
# Output stream indexes, as codec_args maps them: video first, then the audio (if any).
_VIDEO_OUT, _AUDIO_OUT = 0, 1
# The container's header must go to a pipe: MP4 then needs fragments (as the segments have).
_CONTAINER_OPTIONS = {
    SegmentFormat.MP4: ("-movflags", "+frag_keyframe+empty_moov"),
    SegmentFormat.MKV: (),
}
_STREAM_RE = re.compile(
    r"^\s*Stream #\d+:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: (?P<kind>\w+): (?P<rest>.*)$"
)
_REFUSED_RE = re.compile(
    re.escape(UNSUPPORTED_CODEC_MARK) + r" (?P<codec>\S+) in stream #(?P<out>\d+)"
)
# 5.1 says kB, 9.0.2 KiB: both 1024 bytes.
_SIZES_RE = re.compile(r"\bvideo:(?P<video>\d+)(?:kB|KiB) audio:(?P<audio>\d+)(?:kB|KiB)\b")
_FRAME_RE = re.compile(r"\bframe=\s*(?P<frames>\d+)")
_SIZE_RE = re.compile(r"^(?P<width>\d+)x(?P<height>\d+)\b")
_FPS_RE = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<k>k?) fps\b")
_DECODER_RE = re.compile(r"[a-z0-9_]+")
_KBPS_RE = re.compile(r"^(?P<kbps>\d+) kb/s\b")  # the last part may end in (default)
_HZ_RE = re.compile(r"^(?P<hz>\d+) Hz\b")
_CHANNELS_RE = re.compile(r"^(?P<count>\d+) channels$")
_LAYOUT_CHANNELS = {
    "mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6,
    "6.1": 7, "7.1": 8,
}  # fmt: skip


class RecordMode(StrEnum):
    AS_IS = "as_is"  # every stream recorded is copied: no decoding, no CPU
    TRANSCODE_AUDIO = "transcode_audio"  # video copied, audio to AAC (recorder_audio_transcoded)
    UNSUPPORTED = "unsupported"  # the recorder cannot record this stream into this format


class ProbeVia(StrEnum):
    MEDIAMTX = "mediamtx"  # what the recorder reads: MediaMTX's copy of the camera
    SOURCE = "source"  # the camera itself
    SYNTHETIC = "synthetic"  # a test:// pattern vmsd draws and encodes itself


@dataclass(frozen=True, slots=True)
class VideoInfo:
    codec: str
    profile: str | None
    width: int | None
    height: int | None
    fps: float | None  # as the stream declares it, else as counted
    bitrate_bits: float | None


@dataclass(frozen=True, slots=True)
class AudioInfo:
    codec: str
    profile: str | None
    sample_rate: int | None
    channels: int | None
    bitrate_bits: float | None  # measured when copied, else as declared (PCM declares it)


@dataclass(frozen=True, slots=True)
class RecordVerdict:
    mode: RecordMode
    format: SegmentFormat
    audio: bool  # audio goes into the recording (recording.audio, and the stream has some)
    reason: str


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one probe run's stderr says."""

    opened: bool  # FFmpeg described the input: the source answered with a stream
    video: VideoInfo | None
    audio: AudioInfo | None
    refused_out: int | None  # the output stream the container has no tag for
    refused_codec: str | None
    measured_s: float | None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    via: ProbeVia
    video: VideoInfo | None
    audio: AudioInfo | None
    verdict: RecordVerdict | None  # None when the stream could not be read
    failure: RunFailure | None
    measured_s: float | None
    elapsed_s: float
    note: str | None = None


def build_stream_probe_argv(
    ffmpeg: str,
    source: RecorderInput,
    description: Path | None,
    fmt: SegmentFormat,
    *,
    audio: bool,
    transcode_audio: bool,
) -> list[str]:
    """Read MEASURE_S of the stream into the segment container, as the recorder would."""
    return [
        ffmpeg,
        *("-hide_banner", "-nostdin", "-loglevel", "info"),
        *input_args(source, description),
        *codec_args(source, audio, transcode_audio),
        *("-t", f"{MEASURE_S:g}", "-f", MUXERS[fmt], *_CONTAINER_OPTIONS[fmt]),
        "pipe:1",
    ]


def parse_run(stderr: Sequence[str]) -> RunReport:
    """FFmpeg's stderr (lines; progress lines split at their carriage returns) -> RunReport."""
    video_line = audio_line = None
    opened = in_input = False
    for line in stderr:
        if line.startswith("Input #"):
            opened = in_input = True
        elif line.startswith(("Output #", "Stream mapping:")):
            in_input = False
        elif in_input and (match := _STREAM_RE.match(line)):
            if match["kind"] == "Video" and video_line is None:
                video_line = match["rest"]
            elif match["kind"] == "Audio" and audio_line is None:
                audio_line = match["rest"]
    text = "\n".join(stderr)
    refused = _REFUSED_RE.search(text)
    measured = parse_probe_duration(text)
    measured = measured if measured is not None and measured > 0 else None
    sizes = list(_SIZES_RE.finditer(text))
    frames = [int(m["frames"]) for m in _FRAME_RE.finditer(text)]
    video_kib = int(sizes[-1]["video"]) if sizes else None
    audio_kib = int(sizes[-1]["audio"]) if sizes else None
    return RunReport(
        opened=opened,
        video=_video(video_line, video_kib, measured, frames[-1] if frames else None),
        audio=_audio(audio_line, audio_kib, measured),
        refused_out=int(refused["out"]) if refused else None,
        refused_codec=refused["codec"] if refused else None,
        measured_s=measured if sizes else None,
    )


def _parts(rest: str) -> list[str]:
    """A stream line's description split at the commas outside parentheses and brackets
    (`yuv420p(tv, smpte170m, progressive)` is one part)."""
    parts, depth, current = [], 0, ""
    for ch in rest:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return [part for part in parts if part]


def _codec(first: str) -> tuple[str, str | None]:
    """`h264 (High) (avc1 / 0x31637661)` -> ("h264", "High"). FFmpeg's groups after the codec
    name: the decoder's name where it differs (`flv1 (flv)`: lower-case, a C identifier),
    the profile (`LC`, `Main 10`: libavcodec's names all begin upper-case), the tag (`/`)."""
    codec = first.split(" ", 1)[0]
    groups = re.findall(r"\(([^()]*)\)", first)
    profiles = [g for g in groups if " / " not in g and not _DECODER_RE.fullmatch(g)]
    return codec, profiles[0] if profiles else None


def _rate(kib: int | None, measured_s: float | None) -> float | None:
    if kib is None or measured_s is None or kib == 0:
        return None
    return round(kib * 1024 * 8 / measured_s)


def _declared_bits(parts: Sequence[str]) -> float | None:
    for part in parts:
        if match := _KBPS_RE.match(part):
            return float(match["kbps"]) * 1000
    return None


def _video(
    line: str | None, kib: int | None, measured_s: float | None, frames: int | None
) -> VideoInfo | None:
    if line is None:
        return None
    parts = _parts(line)
    codec, profile = _codec(parts[0])
    width = height = None
    fps = None
    for part in parts[1:]:
        if width is None and (size := _SIZE_RE.match(part)):
            width, height = int(size["width"]), int(size["height"])
        elif fps is None and (rate := _FPS_RE.match(part)):
            fps = float(rate["value"]) * (1000 if rate["k"] else 1)
    if fps is None and frames and measured_s:
        fps = round(frames / measured_s, 1)
    bitrate = _rate(kib, measured_s) or _declared_bits(parts)
    return VideoInfo(codec, profile, width, height, fps, bitrate)


def _audio(line: str | None, kib: int | None, measured_s: float | None) -> AudioInfo | None:
    if line is None:
        return None
    parts = _parts(line)
    codec, profile = _codec(parts[0])
    sample_rate = channels = None
    for part in parts[1:]:
        if sample_rate is None and (hz := _HZ_RE.match(part)):
            sample_rate = int(hz["hz"])
        elif channels is None:
            layout = part.split("(", 1)[0]
            count = _CHANNELS_RE.match(part)
            channels = int(count["count"]) if count else _LAYOUT_CHANNELS.get(layout)
    bitrate = _rate(kib, measured_s) or _declared_bits(parts)
    return AudioInfo(codec, profile, sample_rate, channels, bitrate)


@dataclass(frozen=True, slots=True)
class ProbeRun:
    """One finished probe run: its stderr, exit status, seconds, and whether the probe's
    bound ended it (`timed_out_after`: that bound)."""

    stderr: tuple[str, ...]
    returncode: int | None
    ran_s: float
    timed_out_after: float | None = None


def judge(
    runs: Sequence[ProbeRun],
    fmt: SegmentFormat,
    *,
    audio: bool,
    via: ProbeVia,
    elapsed_s: float,
) -> ProbeResult | None:
    """The probe's result from its runs so far (the copying run, then perhaps the
    transcoding one); None when the copying run's verdict, audio to AAC, needs the
    transcoding run to confirm it."""
    first = parse_run(runs[0].stderr)
    verdict = _first_verdict(first, runs[0], fmt, audio=audio)
    if verdict is None:
        return _failed(via, first, runs[0], elapsed_s)
    if verdict.mode is not RecordMode.TRANSCODE_AUDIO:
        return ProbeResult(
            via, first.video, first.audio, verdict, None, first.measured_s, elapsed_s
        )
    if len(runs) < 2:
        return None
    second = parse_run(runs[1].stderr)
    if runs[1].returncode != 0 or runs[1].timed_out_after is not None or second.measured_s is None:
        return _failed(via, first, runs[1], elapsed_s)
    # The second run's audio bytes are vmsd's AAC: the camera's audio is the first run's, at
    # the bitrate it declares (G.711 and PCM do).
    return ProbeResult(via, second.video, first.audio, verdict, None, second.measured_s, elapsed_s)


def _first_verdict(
    report: RunReport, run: ProbeRun, fmt: SegmentFormat, *, audio: bool
) -> RecordVerdict | None:
    """The copying run's verdict; None when it could not read the stream."""
    if run.timed_out_after is not None:
        return None
    if report.refused_out == _VIDEO_OUT:
        reason = f"{report.refused_codec} video cannot be recorded as {fmt}"
        return RecordVerdict(RecordMode.UNSUPPORTED, fmt, False, reason)
    if report.refused_out == _AUDIO_OUT:
        reason = f"{report.refused_codec} audio cannot be copied into {fmt}: vmsd records it as AAC"
        return RecordVerdict(RecordMode.TRANSCODE_AUDIO, fmt, True, reason)
    if report.opened and report.video is None:
        return RecordVerdict(RecordMode.UNSUPPORTED, fmt, False, "the stream has no video")
    if run.returncode != 0 or report.measured_s is None:
        return None
    records_audio = audio and report.audio is not None
    return RecordVerdict(RecordMode.AS_IS, fmt, records_audio, _as_is_reason(report, audio))


def _as_is_reason(report: RunReport, audio: bool) -> str:
    if report.audio is None:
        return "video copied as it comes (the stream has no audio)"
    if not audio:
        return "video copied as it comes; audio not recorded (recording.audio is false)"
    return "video and audio copied as they come"


def _failed(via: ProbeVia, report: RunReport, run: ProbeRun, elapsed_s: float) -> ProbeResult:
    failure = run_failure(run, via_mediamtx=via is ProbeVia.MEDIAMTX)
    return ProbeResult(via, report.video, report.audio, None, failure, None, elapsed_s)


def run_failure(run: ProbeRun, *, via_mediamtx: bool) -> RunFailure:
    """Why a probe run could not read the stream, in the recorder's classes (failures.py).

    Through MediaMTX a 404 is MediaMTX having no stream for the path (no_source_yet: the
    caller may ask the source itself), and a 401 is vmsd's own reader grant refused, never
    the camera's password (MediaMTX holds that)."""
    if run.timed_out_after is not None:
        return RunFailure(FailureClass.TIMEOUT, f"no stream within {run.timed_out_after:g} s")
    failure = classify_run(run.stderr, ran_s=run.ran_s, recorded=False, via_mediamtx=False)
    if via_mediamtx and failure.failure is FailureClass.NOT_FOUND:
        return RunFailure(failure.failure, failure.message, no_source_yet=True)
    if via_mediamtx and failure.failure is FailureClass.UNAUTHORIZED:
        message = f"MediaMTX refused vmsd's reader grant: {failure.message}"
        return RunFailure(FailureClass.CRASHED, message)
    return failure


def synthetic_result(pattern: SyntheticPattern, fmt: SegmentFormat) -> ProbeResult:
    """A test:// pattern has no stream to read until vmsd encodes it: what it will record."""
    video = VideoInfo("h264", None, pattern.width, pattern.height, float(pattern.fps), None)
    reason = "vmsd draws this test pattern and encodes it (libx264) as it records"
    verdict = RecordVerdict(RecordMode.AS_IS, fmt, False, reason)
    return ProbeResult(ProbeVia.SYNTHETIC, video, None, verdict, None, None, 0.0)
