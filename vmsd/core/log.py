"""structlog configuration and the redaction processor.

Configured once per process. JSON lines to stdout when not on a TTY (journald stores them),
a console renderer on a TTY. stdlib loggers (aiohttp.access, asyncpg) go through the same chain.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from enum import StrEnum
from typing import Any

import structlog

from vmsd.core.redact import redact_field
from vmsd.core.redact import redact_text as redact_text  # re-exported: tests, older callers


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    AUTO = "auto"  # console on a TTY, JSON otherwise (journald)
    JSON = "json"
    CONSOLE = "console"


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: secrets by key name, credentials inside any string value."""
    for key, value in list(event_dict.items()):
        event_dict[key] = redact_field(key, value)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_event,
    ]


def configure_logging(
    level: LogLevel = LogLevel.INFO,
    fmt: LogFormat = LogFormat.AUTO,
    stream: Any = None,
) -> None:
    out = stream if stream is not None else sys.stdout
    as_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not out.isatty())
    renderer: Any
    # A traceback is rendered without its frames' local variables (a request's URL with the
    # hook key, a camera's password), then redacted like every other field.
    if as_json:
        tracebacks: Any = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        tracebacks = structlog.processors.format_exc_info  # plain text, no locals
        renderer = structlog.dev.ConsoleRenderer()
    final: list[Any] = [tracebacks, redact_event, renderer]

    numeric_level = logging.getLevelName(level.value.upper())
    structlog.configure(
        processors=[
            # First: a debug line below the configured level costs one check, not the chain
            # (the auth hook logs every decision at debug).
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # asyncpg and aiohttp.access are routed through the same chain; keep their chatter at
    # the daemon's level (aiohttp.access at info gives one line per request).
    for name in ("asyncpg", "aiohttp.access", "aiohttp.server"):
        logging.getLogger(name).setLevel(numeric_level)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    return structlog.stdlib.get_logger(name, **initial)
