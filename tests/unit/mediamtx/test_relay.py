"""The relay's request rewriting (pure): MediaMTX gets the credential, the client never had it."""

from __future__ import annotations

import base64

import pytest

from vmsd.mediamtx.relay import MAX_BODY_BYTES, RelayProtocolError, RequestRewriter, content_length

REWRITER = RequestRewriter("rtsp://127.0.0.1:40000", "rtsp://127.0.0.1:8554", "pub", "s3cret")
AUTH = b"Authorization: Basic " + base64.b64encode(b"pub:s3cret")


def test_announce_goes_to_mediamtx_with_the_credential() -> None:
    head = (
        b"ANNOUNCE rtsp://127.0.0.1:40000/demo RTSP/1.0\r\n"
        b"Content-Type: application/sdp\r\nCSeq: 2\r\nContent-Length: 120\r\n\r\n"
    )
    assert REWRITER.rewrite(head) == (
        b"ANNOUNCE rtsp://127.0.0.1:8554/demo RTSP/1.0\r\n" + AUTH + b"\r\n"
        b"Content-Type: application/sdp\r\nCSeq: 2\r\nContent-Length: 120\r\n\r\n"
    )


def test_setup_of_a_track_keeps_its_control_path() -> None:
    head = b"SETUP rtsp://127.0.0.1:40000/demo/streamid=0 RTSP/1.0\r\nCSeq: 3\r\n\r\n"
    out = REWRITER.rewrite(head)
    assert out.startswith(b"SETUP rtsp://127.0.0.1:8554/demo/streamid=0 RTSP/1.0\r\n")


def test_a_client_authorization_is_replaced_not_doubled() -> None:
    head = b"RECORD rtsp://127.0.0.1:40000/demo RTSP/1.0\r\nauthorization: Basic eDp5\r\n\r\n"
    out = REWRITER.rewrite(head)
    assert out.count(b"uthorization:") == 1 and AUTH in out


def test_a_uri_for_another_base_is_left_alone() -> None:
    head = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"
    assert REWRITER.rewrite(head).startswith(b"OPTIONS * RTSP/1.0\r\n" + AUTH)


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"ANNOUNCE rtsp://h/x\r\n\r\n",
        b"garbage\r\n\r\n",
        b"ANNOUNCE rtsp://h/x RTSP/1.0\r\nCSeq: 1\r\n",
    ],
    ids=["http", "no-version", "garbage", "unterminated"],
)
def test_what_is_not_an_rtsp_request_is_refused(head: bytes) -> None:
    with pytest.raises(RelayProtocolError):
        REWRITER.rewrite(head)


@pytest.mark.parametrize(
    ("head", "length"),
    [
        (b"ANNOUNCE x RTSP/1.0\r\nContent-Length: 42\r\n\r\n", 42),
        (b"ANNOUNCE x RTSP/1.0\r\ncontent-length:7\r\n\r\n", 7),
        (b"RECORD x RTSP/1.0\r\nCSeq: 4\r\n\r\n", 0),
    ],
)
def test_content_length(head: bytes, length: int) -> None:
    assert content_length(head) == length


@pytest.mark.parametrize(
    "value", [b"-1", b"\xd9\xa3", b"1e3", str(MAX_BODY_BYTES + 1).encode(), b""]
)
def test_a_bad_content_length_is_refused(value: bytes) -> None:
    with pytest.raises(RelayProtocolError):
        content_length(b"ANNOUNCE x RTSP/1.0\r\nContent-Length: " + value + b"\r\n\r\n")
