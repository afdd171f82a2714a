"""Why FFmpeg could not read a camera, from its stderr: one stable class a viewer may see
(the stderr itself names hosts, ports and paths, so it is for operators only). Pure.

The lines matched are FFmpeg's own (libavformat's rtsp, http, tcp, srt and rtmp protocols;
9.0.2, the bundled one, and Debian's 5.1 word a few differently), as real runs against closed
ports, an unresolvable host, and an RTSP server with credentials and a wrong path print
them; tests/unit/recorder/test_failures.py holds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum

from vmsd.core.errors import UnavailableError
from vmsd.core.redact import redact_text

STDERR_DETAIL_LINES = 5


class FailureClass(StrEnum):
    UNAUTHORIZED = "unauthorized"  # credentials missing or refused (401, 403, SRT passphrase)
    NOT_FOUND = "not_found"  # the host answers, the stream is not there (404)
    UNREACHABLE = "unreachable"  # the name does not resolve, or no route to the host
    REFUSED = "refused"  # the host is there, nothing listens on the port
    TIMEOUT = "timeout"  # connected or connecting, no answer in time
    UNSUPPORTED = "unsupported"  # an answer vmsd cannot use (not that protocol, a codec)
    CRASHED = "crashed"  # anything else: FFmpeg failed in a way not classified here


# First match wins, in this order: a 401 is also an "Input/output error" further down the
# same stderr, and a name that does not resolve is the cause of the error that follows it.
_RULES: tuple[tuple[FailureClass, re.Pattern[str]], ...] = (
    (
        FailureClass.UNAUTHORIZED,
        re.compile(
            r"\b40[13] \(?(Unauthorized|Forbidden)\b|authorization failed"
            r"|Incorrect passphrase|Password required|BADSECRET",
            re.IGNORECASE,
        ),
    ),
    (
        FailureClass.NOT_FOUND,
        re.compile(r"\b404 \(?Not Found\b|StreamNotFound|Stream not found", re.IGNORECASE),
    ),
    (
        FailureClass.UNREACHABLE,
        re.compile(
            r"No route to host|Network is unreachable|Host is unreachable"
            r"|Name or service not known|Temporary failure in name resolution"
            r"|Failed to resolve hostname|nodename nor servname",
            re.IGNORECASE,
        ),
    ),
    (FailureClass.REFUSED, re.compile(r"Connection refused", re.IGNORECASE)),
    # Not a bare "timeout": FFmpeg prints its own URLs, `tcp://h:554?timeout=5000000`.
    (FailureClass.TIMEOUT, re.compile(r"timed out", re.IGNORECASE)),
    (
        FailureClass.UNSUPPORTED,
        re.compile(
            r"Could not find tag for codec|not currently supported in container"
            r"|Invalid data found when processing input|Protocol not found"
            r"|Unsupported (codec|transport|protocol)",
            re.IGNORECASE,
        ),
    ),
)

# What a viewer is told, one short sentence per class.
FAILURE_MESSAGES = {
    FailureClass.UNAUTHORIZED: "the camera refused the credentials",
    FailureClass.NOT_FOUND: "the camera has no stream at that path",
    FailureClass.UNREACHABLE: "the camera's host cannot be reached",
    FailureClass.REFUSED: "the camera refused the connection",
    FailureClass.TIMEOUT: "the camera did not answer in time",
    FailureClass.UNSUPPORTED: "the camera's stream is not in a form vmsd can read",
    FailureClass.CRASHED: "reading from the camera failed",
}


def classify_failure(stderr: Iterable[str]) -> FailureClass:
    """The class of a failed FFmpeg run from its stderr lines (any number, any order).

    A caveat from real runs: an RTSP server that accepts the connection and then says nothing
    ends, after FFmpeg's socket timeout, with "Invalid data found when processing input", as a
    server that answers garbage does; both are UNSUPPORTED here.
    """
    lines = list(stderr)
    for failure, pattern in _RULES:
        if any(pattern.search(line) for line in lines):
            return failure
    return FailureClass.CRASHED


class CameraUnavailableError(UnavailableError):
    """A camera could not be read: its class for everyone, FFmpeg's stderr for operators."""

    code = "camera_unavailable"


def failure_detail(failure: FailureClass) -> dict[str, str]:
    """The error detail every role may see: `{"reason": <class>, "message": ...}`."""
    return {"reason": failure.value, "message": FAILURE_MESSAGES[failure]}


def camera_unavailable(message: str, stderr: Sequence[str]) -> CameraUnavailableError:
    """The API error for a failed FFmpeg read: `message` with the class's sentence, its
    failure_detail, and as internal details the last stderr lines, redacted."""
    failure = classify_failure(stderr)
    tail = [redact_text(line) for line in stderr[-STDERR_DETAIL_LINES:]]
    return CameraUnavailableError(
        f"{message}: {FAILURE_MESSAGES[failure]}",
        [failure_detail(failure)],
        internal_details=[{"ffmpeg_stderr": tail}] if tail else [],
    )
