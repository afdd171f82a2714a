"""classify_path_line over MediaMTX's own log lines for a path's source.

The lines are MediaMTX's formats (bluenviron/mediamtx): a failed source run is logged by
internal/staticsources/handler.go (`s.instance.Log(logger.Error, err.Error())`, before it
internal/core/static_source_handler.go, alike), the source prefixing its name
(internal/staticsources/rtsp/source.go: "[RTSP source] ") and the path its own
(internal/core/path.go: "[path <name>] "). The 401 line is the one MediaMTX's issue tracker
quotes from a real camera (bluenviron/mediamtx#3115, v1.5/v1.6); the other error texts are
gortsplib's (pkg/liberrors/client.go: "bad status code: %d (%s)", "TCP timeout") and Go's net
package's wording (net.OpError, net.DNSError), written here: no MediaMTX binary runs here.
Ready: path.go's setAvailable ("stream is available and online, %s") and the older
static_source_handler.go's SetReady ("ready: %s"), with defs.MediasInfo's "1 track (H264)".
"""

from __future__ import annotations

import pytest

from vmsd.mediamtx.pathlog import SourceReport, classify_path_line
from vmsd.mediamtx.process import parse_mediamtx_log_line
from vmsd.recorder.failures import FailureClass

STAMP = "2025/01/31 12:00:00"


def classify(line: str) -> SourceReport | None:
    parsed = parse_mediamtx_log_line(line)
    assert parsed is not None, line
    return classify_path_line(*parsed)


FAILURES = [
    (
        "ERR [path ipc001] [RTSP source] bad status code: 401 (Unauthorized)",
        "ipc001",
        FailureClass.UNAUTHORIZED,
    ),
    (
        "ERR [path cam] [RTSP source] bad status code: 403 (Forbidden)",
        "cam",
        FailureClass.UNAUTHORIZED,
    ),
    (
        "ERR [path cam] [RTSP source] bad status code: 404 (Not Found)",
        "cam",
        FailureClass.NOT_FOUND,
    ),
    (
        "ERR [path cam] [RTSP source] dial tcp 127.0.0.1:554: connect: connection refused",
        "cam",
        FailureClass.REFUSED,
    ),
    (
        "ERR [path cam] [RTSP source] dial tcp: lookup nonexistent.invalid: no such host",
        "cam",
        FailureClass.UNREACHABLE,
    ),
    (
        "ERR [path cam] [RTSP source] dial tcp 10.9.9.9:554: connect: no route to host",
        "cam",
        FailureClass.UNREACHABLE,
    ),
    (
        "ERR [path cam] [RTSP source] dial tcp 10.9.9.9:554: i/o timeout",
        "cam",
        FailureClass.TIMEOUT,
    ),
    ("ERR [path cam] [RTSP source] TCP timeout", "cam", FailureClass.TIMEOUT),
    ("ERR [path cam] [RTSP source] UDP timeout", "cam", FailureClass.TIMEOUT),
    (
        "ERR [path cam] [RTSP source] no UDP packets received (maybe there's a firewall/NAT "
        "in between)",
        "cam",
        FailureClass.TIMEOUT,
    ),
    ("ERR [path cam] [RTSP source] EOF", "cam", FailureClass.SOURCE_LOST),
    (
        "ERR [path cam] [RTSP source] read tcp 10.0.0.2:40000->10.0.0.5:554: read: "
        "connection reset by peer",
        "cam",
        FailureClass.SOURCE_LOST,
    ),
    (
        "ERR [path cam] [RTMP source] dial tcp 127.0.0.1:1935: connect: connection refused",
        "cam",
        FailureClass.REFUSED,
    ),
    (
        "ERR [path yard/north] [SRT source] dial udp: lookup cam.invalid: no such host",
        "yard/north",
        FailureClass.UNREACHABLE,
    ),
    # Not named by any rule: the class is crashed, the message still says what it was.
    (
        "ERR [path cam] [RTSP source] must be in state [initial], while is in state [play]",
        "cam",
        FailureClass.CRASHED,
    ),
]


@pytest.mark.parametrize(("line", "path", "failure"), FAILURES)
def test_a_failed_source_is_its_class(line: str, path: str, failure: FailureClass) -> None:
    report = classify(f"{STAMP} {line}")
    assert report is not None
    assert (report.path, report.failure) == (path, failure)
    assert report.message == line.split("] ", 1)[1]  # the source's name and its error


@pytest.mark.parametrize(
    "line",
    [
        "INF [path cam1] stream is available and online, 1 track (H264)",
        "INF [path cam1] stream is available and online, 2 tracks (H264, MPEG-4 Audio)",
        "INF [path cam1] [RTSP source] ready: 1 track (H264)",
    ],
)
def test_a_ready_source_is_no_failure(line: str) -> None:
    report = classify(f"{STAMP} {line}")
    assert report == SourceReport("cam1", None, line.split("] ", 1)[1])


@pytest.mark.parametrize(
    "line",
    [
        # Lifecycle and warnings of a source that goes on: nothing to report.
        "INF [path cam1] [RTSP source] started",
        "INF [path cam1] [RTSP source] stopped: path is closing",
        "DEB [path cam1] [RTSP source] connecting",
        "WAR [path cam1] [RTSP source] 12 RTP packets lost",
        # alwaysAvailable's offline placeholder, not the source.
        "INF [path cam1] stream is available, 1 track (H264)",
        # A path's other parts and other components.
        "ERR [path cam1] [recorder] open /rec/cam1.mp4: no space left on device",
        "INF [path cam1] runOnAvailable command launched",
        "ERR [RTSP] [conn 127.0.0.1:40000] bad status code: 401 (Unauthorized)",
        "INF [RTSP] listener opened on :8554 (TCP)",
    ],
)
def test_other_lines_report_nothing(line: str) -> None:
    assert classify(f"{STAMP} {line}") is None


def test_the_message_is_redacted() -> None:
    report = classify(
        f"{STAMP} ERR [path cam] [RTSP source] dial rtsp://admin:hunter2@10.0.0.5:554/s1: "
        "connect: connection refused"
    )
    assert report is not None and report.failure is FailureClass.REFUSED
    assert "hunter2" not in report.message
    assert "admin:***@10.0.0.5" in report.message
