"""What MediaMTX's log says about the source it pulls for a path: the failure's class, or that
the source is ready again. Pure.

With MediaMTX managed, MediaMTX pulls the camera and the recorder reads MediaMTX, so FFmpeg only
sees MediaMTX's "no stream yet" (404); the camera's own answer (a 401, a refused port, a name
that does not resolve) is only in MediaMTX's log line for the path. Where the lines come from,
in bluenviron/mediamtx (read in the versions the index holds, not in tagged v1.18/v1.20 trees:
the failure line is worded the same in the older `internal/core/static_source_handler.go` and
in `internal/staticsources/handler.go` at commit 01fead40, which has the MoQ source of v1.19+;
"ready" has two wordings, both matched, the release that switched is not pinned):

* A failed run of a source, retried every 5 s: the handler logs `err.Error()` at error level
  through the source, which prefixes its name (`internal/staticsources/rtsp/source.go`:
  "[RTSP source] "; the RTMP, HLS, SRT and WebRTC sources alike), through the path
  (`internal/core/path.go`: "[path <name>] "):
  `2025/01/31 12:00:00 ERR [path cam1] [RTSP source] bad status code: 401 (Unauthorized)`.
  The error texts are gortsplib's and Go's, which vmsd.recorder.failures already classifies.
* Ready: `internal/core/path.go` setAvailable, `INF [path cam1] stream is available and
  online, 1 track (H264)` ("stream is available, ..." without "online" is alwaysAvailable's
  offline placeholder: not the source); the older `static_source_handler.go` SetReady,
  `INF [path cam1] [RTSP source] ready: 1 track (H264)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmsd.recorder.failures import FailureClass, classify_failure, failure_message

# MediaMTX path names have no space or bracket (internal/conf/path.go's name check).
_PATH_RE = re.compile(r"^path (\S+)$")
_SOURCE_RE = re.compile(r"^\[(\w[\w+\- ]*) source\] (.*)$")
_ONLINE_RE = re.compile(r"^stream is available and online\b")
_SOURCE_READY_RE = re.compile(r"^ready: ")
# gortsplib's read timeouts once connected (pkg/liberrors/client.go: ErrClientTCPTimeout,
# ErrClientUDPTimeout, ErrClientNoUDPPacketsRecently). Matched here only, on the whole text:
# FFmpeg prints "UDP timeout, retrying with TCP" on a fallback that works.
_GORTSPLIB_TIMEOUT_RE = re.compile(r"^(?:TCP timeout|UDP timeout|no UDP packets received\b)")
# Go's io.EOF and ECONNRESET: the camera ended the connection, no error named.
_LOST_RE = re.compile(r"^EOF$|connection reset by peer|broken pipe", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SourceReport:
    """One line's news about a path's source: `failure` None means it is ready."""

    path: str
    failure: FailureClass | None
    message: str  # redacted, bounded (failure_message)


def classify_path_line(level: str, component: str, message: str) -> SourceReport | None:
    """The report in a parsed MediaMTX log line (parse_mediamtx_log_line), None if it has
    none (not a path's line, not its source's failure or readiness)."""
    path = _PATH_RE.match(component)
    if path is None:
        return None
    name = path.group(1)
    if level == "INF" and _ONLINE_RE.match(message):
        return SourceReport(name, None, failure_message(message))
    source = _SOURCE_RE.match(message)
    if source is None:
        return None
    text = source.group(2)
    if level == "INF" and _SOURCE_READY_RE.match(text):
        return SourceReport(name, None, failure_message(message))
    if level != "ERR":  # warnings (packets lost, decode errors) do not stop the source
        return None
    return SourceReport(name, _source_failure(text), failure_message(message))


def _source_failure(text: str) -> FailureClass:
    if _GORTSPLIB_TIMEOUT_RE.match(text):
        return FailureClass.TIMEOUT
    failure = classify_failure([text])
    if failure is FailureClass.CRASHED and _LOST_RE.search(text):
        return FailureClass.SOURCE_LOST
    return failure
