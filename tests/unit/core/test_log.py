from __future__ import annotations

import io
import json
import logging

import pytest
from pydantic import SecretStr

from vmsd.core.log import (
    LogFormat,
    LogLevel,
    configure_logging,
    get_logger,
    redact_event,
    redact_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("open rtsps://u:p%40ss@cam/x failed", "open rtsps://u:***@cam/x failed"),
        ("postgresql://vmsd:pw@db:5432/vmsd", "postgresql://vmsd:***@db:5432/vmsd"),
        ("rtmp://user:pa:ss@host/app", "rtmp://user:***@host/app"),
        ("http://example.com/no/creds", "http://example.com/no/creds"),
        ("rtsp://onlyuser@cam/x", "rtsp://onlyuser@cam/x"),
        ("two: rtsp://a:b@h1/x rtsp://c:d@h2/y", "two: rtsp://a:***@h1/x rtsp://c:***@h2/y"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_event_by_key_and_value() -> None:
    event = {
        "event": "x",
        "password": "hunter2",
        "token": "vmsd_abc",
        "camera": {"source": "rtsp://u:hunter2@cam/1", "password": "hunter2"},
        "secret_obj": SecretStr("hunter2"),
        "stderr_tail": ["Opening rtsp://u:hunter2@cam/1 failed"],
    }
    out = json.dumps(redact_event(None, "info", event))
    assert "hunter2" not in out
    assert "vmsd_abc" not in out


def test_json_lines_with_redaction_for_stdlib_and_structlog() -> None:
    stream = io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=stream)
    get_logger("vmsd.test").info("camera_added", source="rtsp://u:pw123@cam/x")
    logging.getLogger("asyncpg").warning("connect to postgresql://a:pw456@db failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "camera_added"
    assert lines[0]["level"] == "info"
    assert lines[0]["timestamp"].endswith("Z")
    assert lines[1]["logger"] == "asyncpg"
    assert "pw123" not in stream.getvalue() and "pw456" not in stream.getvalue()


def _fail_with_secrets() -> None:
    password = "local-s3cret-pw"
    url = "http://127.0.0.1:8481/hooks/mediamtx/auth?key=hook-key-123"
    raise RuntimeError(f"cannot open rtsp://admin:msg-pw-456@cam/x via {url} ({len(password)})")


@pytest.mark.parametrize("fmt", [LogFormat.JSON, LogFormat.CONSOLE])
def test_a_logged_traceback_shows_no_locals_and_no_secrets(fmt: LogFormat) -> None:
    """Frames' local variables are not rendered; the exception's text is redacted."""
    stream = io.StringIO()
    configure_logging(LogLevel.INFO, fmt, stream=stream)
    try:
        _fail_with_secrets()
    except RuntimeError:
        get_logger("vmsd.test").exception("handler_failed")
        logging.getLogger("aiohttp.server").error("unhandled", exc_info=True)
    text = stream.getvalue()
    assert text.count("cannot open rtsp://admin:***@cam/x") >= 2  # both tracebacks, redacted
    for secret in ("local-s3cret-pw", "hook-key-123", "msg-pw-456"):
        assert secret not in text, text
