"""Why FFmpeg could not read a camera, from its stderr: one stable class a viewer may see
(the stderr itself names hosts, ports and paths, so it is for operators only). Pure.

The lines matched are FFmpeg's own (libavformat's rtsp, http, tcp, srt and rtmp protocols;
9.0.2, the bundled one, and Debian's 5.1 word a few differently), as real runs against closed
ports, an unresolvable host, and an RTSP server with credentials and a wrong path print
them, and MediaMTX's source errors (gortsplib's status lines, Go's dial errors); tests/unit/
recorder/test_failures.py holds them. What stderr cannot tell, the run can:
how long it lasted (a silent server), whether it recorded first (a lost source), whether it
read through MediaMTX (whose 404 means "no source yet", not "no such stream").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from vmsd.core.errors import UnavailableError
from vmsd.core.redact import redact_text
from vmsd.recorder.ffmpeg import RTSP_SOCKET_TIMEOUT_US

STDERR_DETAIL_LINES = 5
# A run that ends with "Invalid data found" no sooner than this waited for FFmpeg's socket
# timeout: a server that accepted and said nothing. Garbage is refused within a second
# (measured: 0.02-0.1 s against 5.1-5.3 s for a silent RTSP server, both FFmpeg builds).
SILENT_SERVER_S = 0.8 * RTSP_SOCKET_TIMEOUT_US / 1e6
MESSAGE_MAX_CHARS = 300
_CONTEXT_ADDRESS_RE = re.compile(r"^\[(\w[\w#:/]*) @ 0x[0-9a-f]+\] ")


class FailureClass(StrEnum):
    UNAUTHORIZED = "unauthorized"  # credentials missing or refused (401, 403, SRT passphrase)
    NOT_FOUND = "not_found"  # the host answers, the stream is not there (404)
    UNREACHABLE = "unreachable"  # the name does not resolve, or no route to the host
    REFUSED = "refused"  # the host is there, nothing listens on the port
    TIMEOUT = "timeout"  # connected or connecting, no answer in time
    UNSUPPORTED = "unsupported"  # an answer vmsd cannot use (not that protocol, a codec)
    SOURCE_LOST = "source_lost"  # it recorded, then the source ended the stream, no error named
    DISK_FULL = "disk_full"  # the recording's file system is full (not the camera's doing)
    STORAGE_UNAVAILABLE = "storage_unavailable"  # the storage root went away (nor this)
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
            r"|Failed to resolve hostname|nodename nor servname|no such host",
            re.IGNORECASE,
        ),
    ),
    (FailureClass.REFUSED, re.compile(r"Connection refused", re.IGNORECASE)),
    # Not a bare "timeout": FFmpeg prints its own URLs, `tcp://h:554?timeout=5000000`.
    (FailureClass.TIMEOUT, re.compile(r"timed out|i/o timeout", re.IGNORECASE)),
    (
        FailureClass.UNSUPPORTED,
        re.compile(
            r"Could not find tag for codec|not currently supported in container"
            r"|Protocol not found|Unsupported (codec|transport|protocol)",
            re.IGNORECASE,
        ),
    ),
    # Garbage, or (after the socket timeout: classify_run) a server that never answered.
    (FailureClass.UNSUPPORTED, re.compile(r"Invalid data found when processing input")),
)
_INVALID_DATA = _RULES[-1][1]
# What a lost source ends with (a camera rebooting, a server stopping): a better message
# than FFmpeg's last line, which is its final progress line.
_LOST_RE = re.compile(r"End of file|Connection reset by peer|Broken pipe|Failed reading")

# What a viewer is told, one short sentence per class.
FAILURE_MESSAGES = {
    FailureClass.UNAUTHORIZED: "the camera refused the credentials",
    FailureClass.NOT_FOUND: "the camera has no stream at that path",
    FailureClass.UNREACHABLE: "the camera's host cannot be reached",
    FailureClass.REFUSED: "the camera refused the connection",
    FailureClass.TIMEOUT: "the camera did not answer in time",
    FailureClass.UNSUPPORTED: "the camera's stream is not in a form vmsd can read",
    FailureClass.SOURCE_LOST: "the camera ended the stream",
    FailureClass.DISK_FULL: "the recording's disk is full",
    FailureClass.STORAGE_UNAVAILABLE: "the recording's storage is not available",
    FailureClass.CRASHED: "reading from the camera failed",
}


def classify_failure(stderr: Iterable[str]) -> FailureClass:
    """The class of a failed FFmpeg run from its stderr lines (any number, any order).

    A caveat from real runs: an RTSP server that accepts the connection and then says nothing
    ends, after FFmpeg's socket timeout, with "Invalid data found when processing input", as a
    server that answers garbage does; both are UNSUPPORTED here.
    """
    return _first_match(list(stderr))[0]


def _first_match(lines: Sequence[str]) -> tuple[FailureClass, str | None]:
    """The class and the line that told it (None: no rule matched, CRASHED)."""
    for failure, pattern in _RULES:
        for line in lines:
            if pattern.search(line):
                return failure, line
    return FailureClass.CRASHED, None


@dataclass(frozen=True, slots=True)
class RunFailure:
    """A failed recorder run as the operator is told it: the class and the one line of
    FFmpeg's stderr (redacted already) that says most."""

    failure: FailureClass
    message: str
    # Read through MediaMTX, which answered 404: the path has no source (yet). Not the
    # camera's class: MediaMTX's own state (hooks, poll) tells the camera's.
    no_source_yet: bool = False


def classify_run(
    stderr: Sequence[str], *, ran_s: float, recorded: bool, via_mediamtx: bool
) -> RunFailure:
    """A recorder run's failure from its stderr and what the run did (see module doc)."""
    failure, line = _first_match(stderr)
    if failure is FailureClass.UNSUPPORTED and line is not None and _INVALID_DATA.search(line):
        if ran_s >= SILENT_SERVER_S:
            failure = FailureClass.TIMEOUT
    elif failure is FailureClass.CRASHED and recorded:
        failure = FailureClass.SOURCE_LOST
    if line is None:
        lost = [text for text in stderr if _LOST_RE.search(text)]
        line = lost[-1] if lost else (stderr[-1] if stderr else "")
    message = failure_message(line)
    if via_mediamtx and failure is FailureClass.NOT_FOUND:
        return RunFailure(failure, message, no_source_yet=True)
    if via_mediamtx and failure is FailureClass.UNAUTHORIZED:
        # vmsd's own reader grant refused by vmsd's own auth endpoint: a vmsd bug, never the
        # camera's credentials (MediaMTX holds those).
        return RunFailure(FailureClass.CRASHED, f"MediaMTX refused the recorder: {message}")
    return RunFailure(failure, message)


def failure_message(line: str) -> str:
    """A stderr line as a last_error message: redacted, without FFmpeg's context address
    (`[rtsp @ 0x5622b8f03c40]` -> `[rtsp]`), bounded."""
    text = _CONTEXT_ADDRESS_RE.sub(r"[\1] ", redact_text(line.strip()))
    return text[:MESSAGE_MAX_CHARS]


class CameraUnavailableError(UnavailableError):
    """A camera could not be read: its class for everyone, FFmpeg's stderr for operators."""

    code = "camera_unavailable"


def failure_detail(failure: FailureClass) -> dict[str, str | None]:
    """The error detail every role may see, in the API's one detail shape (README: Errors):
    `{"field": null, "message": <the class's sentence>, "reason": <class>}`."""
    return {"field": None, "message": FAILURE_MESSAGES[failure], "reason": failure.value}


def stderr_detail(tail: Sequence[str]) -> dict[str, str | list[str] | None]:
    """The detail for operators and admins only: FFmpeg's last stderr lines, redacted."""
    return {"field": None, "message": "FFmpeg's last stderr lines", "ffmpeg_stderr": list(tail)}


def camera_unavailable(message: str, stderr: Sequence[str]) -> CameraUnavailableError:
    """The API error for a failed FFmpeg read: `message` with the class's sentence, its
    failure_detail, and as internal details the last stderr lines, redacted."""
    failure = classify_failure(stderr)
    tail = [redact_text(line) for line in stderr[-STDERR_DETAIL_LINES:]]
    return CameraUnavailableError(
        f"{message}: {FAILURE_MESSAGES[failure]}",
        [failure_detail(failure)],
        internal_details=[stderr_detail(tail)] if tail else [],
    )
