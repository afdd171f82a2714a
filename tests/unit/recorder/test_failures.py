"""classify_failure over FFmpeg's own stderr, captured from real runs of Debian's 5.1 and the
bundled 9.0.2 (tests/integration/test_ffmpeg_failures.py produces them live). Credentials
FFmpeg printed are *** here."""

from __future__ import annotations

import pytest

from vmsd.core.errors import UnavailableError
from vmsd.recorder.failures import (
    FAILURE_MESSAGES,
    SILENT_SERVER_S,
    STDERR_DETAIL_LINES,
    FailureClass,
    RunFailure,
    camera_unavailable,
    classify_failure,
    classify_run,
    failure_message,
)

# Each case: the whole stderr of one failed run, `-loglevel error`, as FFmpeg printed it.
REAL_STDERR = {
    # 9.0.2 (bundled), reading through an ffconcat input file as vmsd does
    "v9_rtsp_401": [
        "[rtsp @ 0x5622b8f03c40] method DESCRIBE failed: 401 (Unauthorized)",
        "[in#0 @ 0x5622b8efa200] Impossible to open 'rtsp://127.0.0.1:43977/cam1'",
        "[in#0 @ 0x5622b8ef9e80] Error opening input: Server returned 401 Unauthorized "
        "(authorization failed)",
        "Error opening input file d.ffconcat.",
        "Error opening input files: Server returned 401 Unauthorized (authorization failed)",
    ],
    "v9_rtsp_404": [
        "[rtsp @ 0x56353878fc80] method DESCRIBE failed: 404 (Not Found)",
        "[in#0 @ 0x563538786200] Impossible to open 'rtsp://admin:***@127.0.0.1:43977/nope'",
        "[in#0 @ 0x563538785e80] Error opening input: Server returned 404 Not Found",
        "Error opening input file d.ffconcat.",
        "Error opening input files: Server returned 404 Not Found",
    ],
    "v9_refused": [
        "[tcp @ 0x564d49931cc0] Connection to tcp://127.0.0.1:1?timeout=3000000 failed: "
        "Connection refused",
        "[in#0 @ 0x564d49925200] Impossible to open 'rtsp://127.0.0.1:1/cam1'",
        "[in#0 @ 0x564d49924e80] Error opening input: Connection refused",
        "Error opening input file d.ffconcat.",
        "Error opening input files: Connection refused",
    ],
    "v9_dns": [
        "[tcp @ 0x5621157b8d00] Failed to resolve hostname nonexistent.invalid: "
        "Name or service not known",
        "[in#0 @ 0x5621157ac200] Impossible to open 'rtsp://nonexistent.invalid/cam1'",
        "[in#0 @ 0x5621157abe80] Error opening input: Input/output error",
        "Error opening input file d.ffconcat.",
        "Error opening input files: Input/output error",
    ],
    "v9_http_silent": [
        "[http @ 0x55fcbe491380] Error reading HTTP response: Connection timed out",
        "[in#0 @ 0x55fcbe487200] Impossible to open 'http://127.0.0.1:43679/x'",
        "[in#0 @ 0x55fcbe486e80] Error opening input: Connection timed out",
        "Error opening input file d.ffconcat.",
        "Error opening input files: Connection timed out",
    ],
    # An RTSP server that accepts and never answers (5.13 s: the socket timeout) and one that
    # answers HTTP (0.02 s): the same lines; classify_run tells them apart by the duration.
    "v9_rtsp_silent": [
        "[in#0 @ 0x55f8aa0b01c0] Impossible to open 'rtsp://127.0.0.1:33637/x'",
        "[in#0 @ 0x55f8aa0afe40] Error opening input: Invalid data found when processing input",
        "Error opening input file /tmp/tmpdxrlp9p8/d.ffconcat.",
        "Error opening input files: Invalid data found when processing input",
    ],
    "v9_mp4_codec": [
        "[mp4 @ 0x564387beb900] Could not find tag for codec pcm_mulaw in stream #0, codec not "
        "currently supported in container",
        "[out#0/mp4 @ 0x564387beb7c0] Could not write header (incorrect codec parameters ?): "
        "Invalid argument",
        "[af#0:0 @ 0x564387bed6c0] Error sending frames to consumers: Invalid argument",
    ],
    # Debian's 5.1, plain -i
    # GStreamer RTSP server with --user/--password, no or wrong credentials
    "rtsp_401": [
        "[rtsp @ 0x56152c28c9c0] method DESCRIBE failed: 401 Unauthorized",
        "rtsp://127.0.0.1:42659/cam1: Server returned 401 Unauthorized (authorization failed)",
    ],
    # the same, read through an ffconcat input file (how vmsd's recorders open a camera)
    "rtsp_401_ffconcat": [
        "[rtsp @ 0x55889b7d9400] method DESCRIBE failed: 401 Unauthorized",
        "[concat @ 0x55889b7cf9c0] Impossible to open 'rtsp://127.0.0.1:39423/cam1'",
        "d.ffconcat: Server returned 401 Unauthorized (authorization failed)",
    ],
    "rtsp_404": [
        "[rtsp @ 0x555c826a79c0] method DESCRIBE failed: 404 Not Found",
        "rtsp://admin:***@127.0.0.1:42659/nope: Server returned 404 Not Found",
    ],
    "tcp_refused": [
        "[tcp @ 0x563883b5b880] Connection to tcp://127.0.0.1:1?timeout=3000000 failed: "
        "Connection refused",
        "rtsp://127.0.0.1:1/cam1: Connection refused",
    ],
    "rtmp_refused": [
        "[tcp @ 0x55d49b894cc0] Connection to tcp://127.0.0.1:1?tcp_nodelay=0 failed: "
        "Connection refused",
        "[rtmp @ 0x55d49b8941c0] Cannot open connection tcp://127.0.0.1:1?tcp_nodelay=0",
        "rtmp://127.0.0.1:1/x: Connection refused",
    ],
    "dns": [
        "[tcp @ 0x5610c5411880] Failed to resolve hostname nonexistent.invalid: "
        "Name or service not known",
        "rtsp://nonexistent.invalid/cam1: Input/output error",
    ],
    # the dns line with getaddrinfo's EAI_AGAIN text (a box with no DNS server answering)
    "dns_offline": [
        "[tcp @ 0x5610c5411880] Failed to resolve hostname cam.example: "
        "Temporary failure in name resolution",
        "rtsp://cam.example/x: Input/output error",
    ],
    "no_route": [
        "[tcp @ 0x5561aaadf940] Connection to tcp://[2001:db8::1]:554?timeout=2000000 failed: "
        "No route to host",
        "rtsp://[2001:db8::1]/x: No route to host",
    ],
    "http_silent": ["http://127.0.0.1:46811/x: Connection timed out"],
    "rtmp_silent": [
        "[rtmp @ 0x5636109cb1c0] Cannot read RTMP handshake response",
        "rtmp://127.0.0.1:46811/x: Connection timed out",
    ],
    "http_401": [
        "http://127.0.0.1:45609/auth?token=***: Server returned 401 Unauthorized "
        "(authorization failed)"
    ],
    "http_403": ["http://127.0.0.1:45609/forbidden: Server returned 403 Forbidden (access denied)"],
    "http_404": ["http://127.0.0.1:45609/missing: Server returned 404 Not Found"],
    "http_500": ["http://127.0.0.1:45609/error: Server returned 5XX Server Error reply"],
    # an HTTP server spoken to as RTSP; also what a silent RTSP server ends with
    "rtsp_garbage": ["rtsp://127.0.0.1:45609/x: Invalid data found when processing input"],
    "srt_bad_passphrase": [
        "21:48:37.460268/SRT:RcvQ:w1!W:SRT.cn: processAsyncConnectRequest: REJECT reported "
        "from HS processing: Incorrect passphrase - not processing further",
        "[srt @ 0x55ce2a84e1c0] Connection to srt://127.0.0.1:40123?passphrase=*** failed: "
        "Input/output error",
        "srt://127.0.0.1:40123?passphrase=***: Input/output error",
    ],
    "srt_passphrase_missing": [
        "21:48:37.579289/SRT:RcvQ:w1!W:SRT.cn: processAsyncConnectRequest: REJECT reported "
        "from HS processing: Password required or unexpected - not processing further",
        "[srt @ 0x563b7e5a21c0] Connection to srt://127.0.0.1:40123 failed: Input/output error",
        "srt://127.0.0.1:40123: Input/output error",
    ],
    "srt_nobody": [
        "[srt @ 0x55fb40c071c0] Connection to srt://127.0.0.1:9?passphrase=***&streamid=read:"
        "cam:u:*** failed: Input/output error",
        "srt://127.0.0.1:9?passphrase=***&streamid=read:cam:u:***: Input/output error",
    ],
    "mp4_codec": [
        "[mp4 @ 0x5612ef11ae40] Could not find tag for codec pcm_mulaw in stream #0, codec not "
        "currently supported in container",
        "Could not write header for output file #0 (incorrect codec parameters ?): "
        "Invalid argument",
        "Error initializing output stream 0:0 -- ",
    ],
    "http_truncated": [
        "[http @ 0x55e8a641c1c0] Stream ends prematurely at 200000, should be 18446744073709551615",
        "    Last message repeated 1 times",
        "http://127.0.0.1:45609/garbage: Input/output error",
    ],
    # MediaMTX's own log of a source it pulls (`[path cam] [RTSP source] ...`): the 401 line as
    # MediaMTX's issue tracker quotes it (#3115); the others in gortsplib's and Go's net
    # wording (net.OpError, net.DNSError), written here, not captured: no MediaMTX binary.
    "mtx_401": ["ERR [path ipc001] [RTSP source] bad status code: 401 (Unauthorized)"],
    "mtx_404": ["ERR [path cam] [RTSP source] bad status code: 404 (Not Found)"],
    "mtx_refused": [
        "ERR [path cam] [RTSP source] dial tcp 127.0.0.1:554: connect: connection refused"
    ],
    "mtx_dns": ["ERR [path cam] [RTSP source] dial tcp: lookup nonexistent.invalid: no such host"],
    "mtx_no_route": [
        "ERR [path cam] [RTSP source] dial tcp 10.9.9.9:554: connect: no route to host"
    ],
    "mtx_timeout": [
        "ERR [path cam] [RTSP source] read tcp 10.0.0.2:40000->10.9.9.9:554: i/o timeout"
    ],
}

EXPECTED = {
    "v9_rtsp_401": FailureClass.UNAUTHORIZED,
    "v9_rtsp_404": FailureClass.NOT_FOUND,
    "v9_refused": FailureClass.REFUSED,
    "v9_dns": FailureClass.UNREACHABLE,
    "v9_http_silent": FailureClass.TIMEOUT,
    "v9_rtsp_silent": FailureClass.UNSUPPORTED,
    "v9_mp4_codec": FailureClass.UNSUPPORTED,
    "rtsp_401": FailureClass.UNAUTHORIZED,
    "rtsp_401_ffconcat": FailureClass.UNAUTHORIZED,
    "rtsp_404": FailureClass.NOT_FOUND,
    "tcp_refused": FailureClass.REFUSED,
    "rtmp_refused": FailureClass.REFUSED,
    "dns": FailureClass.UNREACHABLE,
    "dns_offline": FailureClass.UNREACHABLE,
    "no_route": FailureClass.UNREACHABLE,
    "http_silent": FailureClass.TIMEOUT,
    "rtmp_silent": FailureClass.TIMEOUT,
    "http_401": FailureClass.UNAUTHORIZED,
    "http_403": FailureClass.UNAUTHORIZED,
    "http_404": FailureClass.NOT_FOUND,
    "http_500": FailureClass.CRASHED,
    "rtsp_garbage": FailureClass.UNSUPPORTED,
    "srt_bad_passphrase": FailureClass.UNAUTHORIZED,
    "srt_passphrase_missing": FailureClass.UNAUTHORIZED,
    "srt_nobody": FailureClass.CRASHED,
    "mp4_codec": FailureClass.UNSUPPORTED,
    "http_truncated": FailureClass.CRASHED,
    "mtx_401": FailureClass.UNAUTHORIZED,
    "mtx_404": FailureClass.NOT_FOUND,
    "mtx_refused": FailureClass.REFUSED,
    "mtx_dns": FailureClass.UNREACHABLE,
    "mtx_no_route": FailureClass.UNREACHABLE,
    "mtx_timeout": FailureClass.TIMEOUT,
}


@pytest.mark.parametrize("case", sorted(REAL_STDERR))
def test_real_ffmpeg_stderr(case: str) -> None:
    assert classify_failure(REAL_STDERR[case]) is EXPECTED[case]


# Told by what the run did or by the recorder's storage checks, not by a stderr line.
NOT_FROM_STDERR = {
    FailureClass.SOURCE_LOST,
    FailureClass.DISK_FULL,
    FailureClass.STORAGE_UNAVAILABLE,
}


def test_every_case_has_an_expectation() -> None:
    assert set(REAL_STDERR) == set(EXPECTED)
    # every class told by stderr is reached by a real run
    assert set(EXPECTED.values()) == set(FailureClass) - NOT_FROM_STDERR


def _run(case: str, ran_s: float = 0.1, recorded: bool = False, via: bool = False) -> RunFailure:
    return classify_run(REAL_STDERR[case], ran_s=ran_s, recorded=recorded, via_mediamtx=via)


def test_a_silent_server_is_a_timeout_garbage_is_unsupported() -> None:
    assert _run("v9_rtsp_silent", ran_s=5.13).failure is FailureClass.TIMEOUT
    assert _run("v9_rtsp_silent", ran_s=0.02).failure is FailureClass.UNSUPPORTED
    assert _run("rtsp_garbage", ran_s=SILENT_SERVER_S).failure is FailureClass.TIMEOUT
    # A codec the container refuses is unsupported however long the run took.
    assert _run("v9_mp4_codec", ran_s=60).failure is FailureClass.UNSUPPORTED


def test_a_run_that_recorded_and_ended_without_an_error_lost_its_source() -> None:
    assert _run("http_500", recorded=True).failure is FailureClass.SOURCE_LOST
    assert _run("http_500", recorded=False).failure is FailureClass.CRASHED
    # A named error wins over "it recorded before".
    assert _run("v9_refused", recorded=True).failure is FailureClass.REFUSED


def test_the_message_is_the_telling_line_without_the_context_address() -> None:
    assert _run("v9_rtsp_401").message == "[rtsp] method DESCRIBE failed: 401 (Unauthorized)"
    assert _run("v9_dns").message == (
        "[tcp] Failed to resolve hostname nonexistent.invalid: Name or service not known"
    )
    assert (
        _run("http_500").message
        == "http://127.0.0.1:45609/error: Server returned 5XX Server Error reply"
    )


def test_the_message_is_redacted_and_bounded() -> None:
    line = "[rtsp @ 0x1a] rtsp://admin:pw@10.0.0.1/x?token=abc: " + "x" * 1000
    message = failure_message(line)
    assert message.startswith("[rtsp] rtsp://admin:***@10.0.0.1/x?token=***: x")
    assert "pw" not in message and "abc" not in message and len(message) == 300


def test_behind_mediamtx_a_404_is_no_source_yet_and_a_401_is_vmsd_s_own_bug() -> None:
    waiting = _run("v9_rtsp_404", via=True)
    assert waiting.no_source_yet and waiting.failure is FailureClass.NOT_FOUND
    assert not _run("v9_rtsp_404").no_source_yet
    refused = _run("v9_rtsp_401", via=True)
    assert refused.failure is FailureClass.CRASHED
    assert refused.message.startswith("MediaMTX refused the recorder: ")
    assert _run("v9_rtsp_401").failure is FailureClass.UNAUTHORIZED


def test_the_cause_wins_over_the_error_it_causes_in_any_line_order() -> None:
    # "Input/output error" follows the name resolution failure that caused it.
    assert classify_failure(reversed(REAL_STDERR["dns"])) is FailureClass.UNREACHABLE


def test_a_timeout_option_in_a_url_is_not_a_timeout() -> None:
    line = "[tcp @ 0x1] Connection to tcp://h:554?timeout=5000000 failed: Input/output error"
    assert classify_failure([line]) is FailureClass.CRASHED


def test_no_stderr_is_a_crash() -> None:
    assert classify_failure([]) is FailureClass.CRASHED


def test_every_class_has_a_message() -> None:
    assert set(FAILURE_MESSAGES) == set(FailureClass)


def test_camera_unavailable_splits_class_and_stderr() -> None:
    stderr = [f"noise {i}" for i in range(10)] + [
        "rtsp://admin:pw@10.1.2.3:554/x?token=abc: Server returned 401 Unauthorized"
    ]
    err = camera_unavailable("no picture from camera 'door'", stderr)
    assert isinstance(err, UnavailableError)
    assert err.code == "camera_unavailable"
    assert err.http_status == 503
    assert err.message == "no picture from camera 'door': the camera refused the credentials"
    assert err.details == [
        {"field": None, "message": "the camera refused the credentials", "reason": "unauthorized"}
    ]
    [internal] = err.internal_details
    assert (internal["field"], internal["message"]) == (None, "FFmpeg's last stderr lines")
    tail = internal["ffmpeg_stderr"]
    assert len(tail) == STDERR_DETAIL_LINES
    assert tail[-1] == "rtsp://admin:***@10.1.2.3:554/x?token=***: Server returned 401 Unauthorized"


def test_camera_unavailable_without_stderr_has_no_internal_details() -> None:
    err = camera_unavailable("no picture", [])
    assert err.details[0]["reason"] == "crashed"
    assert err.internal_details == []
