"""The listeners' protocol log (aiohttp's RequestHandler logger): a request aiohttp cannot
parse is one line at info at most, without the traceback whose locals hold the request line."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from aiohttp.http_exceptions import BadStatusLine, HttpProcessingError, LineTooLong

import vmsd.runtime.sites  # noqa: F401 - it configures the logger

SECRET_LINE = "POST /hooks/mediamtx/auth?key=the-hook-secret HTTP/1.1 x"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger("vmsd.http")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def _log(level: int, exc: BaseException) -> None:
    try:
        raise exc
    except BaseException as err:  # as aiohttp does: handle_error(exc_info=exc)
        logging.getLogger("vmsd.http").log(
            level, "Error handling request from %s", "127.0.0.1", exc_info=err
        )


@pytest.mark.parametrize(
    "exc", [BadStatusLine(SECRET_LINE), LineTooLong(SECRET_LINE, "8190")], ids=type
)
def test_a_client_error_is_an_info_line_without_traceback(
    records: list[logging.LogRecord], exc: HttpProcessingError
) -> None:
    _log(logging.ERROR, exc)
    [record] = records
    assert (record.levelname, record.getMessage()) == ("INFO", "http_bad_request")
    assert record.exc_info is None and record.exc_text is None


def test_a_debug_line_stays_debug(records: list[logging.LogRecord]) -> None:
    _log(logging.DEBUG, BadStatusLine(SECRET_LINE))
    assert [(r.levelname, r.exc_info) for r in records] == [("DEBUG", None)]


def test_dropped_when_info_is_off(records: list[logging.LogRecord]) -> None:
    logging.getLogger("vmsd.http").setLevel(logging.WARNING)
    _log(logging.ERROR, BadStatusLine(SECRET_LINE))
    assert records == []


@pytest.mark.parametrize(
    "exc", [RuntimeError("a bug"), HttpProcessingError(code=500, message="x")], ids=repr
)
def test_a_server_error_keeps_its_traceback(
    records: list[logging.LogRecord], exc: BaseException
) -> None:
    _log(logging.ERROR, exc)
    [record] = records
    assert record.levelname == "ERROR" and record.exc_info is not None
