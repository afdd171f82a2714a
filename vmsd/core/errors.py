"""The error hierarchy. Each class carries the API code and HTTP status it maps to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h; systemd's ExecStartPre= stops on it.
# EX_TEMPFAIL: what the daemon needs is held by another process (a port, the state dir) or is
# not there yet (an address of this host): trying again may work, and the unit's
# Restart=on-failure does (78 is in its RestartPreventExitStatus=, 75 is not).
EXIT_TEMPFAIL = 75


class VmsdError(Exception):
    """Base of every error vmsd raises on purpose.

    `details` go to every client that may make the request; `internal_details` (FFmpeg's
    stderr, hosts, ports, paths: redacted, but still the camera network's layout) only to
    operator and admin roles.

    A detail is either a mapping in the API's one detail shape, `{"field": <key or None>,
    "message": ...}` plus only the extra keys the README documents for the code, or a plain
    line (what the CLI and the logs print: a ConfigError's `key: problem`, a StoreError's
    cause), which the API shows as `{"field": null, "message": <line>}`
    (vmsd.api.middleware.error_detail).
    """

    code = "internal_error"
    http_status = 500

    def __init__(
        self,
        message: str,
        details: Sequence[Any] = (),
        *,
        internal_details: Sequence[Any] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.internal_details = list(internal_details)


class ConfigError(VmsdError):
    """The configuration is invalid; `details` holds one line per problem."""

    code = "config_invalid"
    http_status = 422


class ValidationError(VmsdError):
    code = "validation_failed"
    http_status = 422


class BadRequestError(VmsdError):
    code = "bad_request"
    http_status = 400


class UnauthorizedError(VmsdError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(VmsdError):
    code = "forbidden"
    http_status = 403


class NotFoundError(VmsdError):
    code = "not_found"
    http_status = 404


class ConflictError(VmsdError):
    code = "conflict"
    http_status = 409


class TooManyRequestsError(VmsdError):
    """A login locked out or a principal past its rate limit; `retry_after_s` becomes the
    Retry-After header (whole seconds, at least 1)."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnavailableError(VmsdError):
    code = "unavailable"
    http_status = 503


class StoreError(VmsdError):
    code = "store_error"
    http_status = 503


class StateDirLockedError(VmsdError):
    """Another vmsd process already owns the state directory."""

    code = "state_dir_locked"
    http_status = 503


class StartupError(VmsdError):
    """The daemon cannot start. `config_key` is the configuration key to look at, `cause` says
    what is wrong with it, `exit_status` whether the configuration or the box must change
    (EXIT_CONFIG) or a later attempt may work (EXIT_TEMPFAIL)."""

    code = "startup_failed"

    def __init__(self, config_key: str, cause: str, *, exit_status: int = EXIT_CONFIG) -> None:
        super().__init__(f"{config_key}: {cause}")
        self.config_key = config_key
        self.cause = cause
        self.exit_status = exit_status


class UnsupportedMediaTypeError(VmsdError):
    code = "unsupported_media_type"
    http_status = 415


MAX_ERROR_CHARS = 300


def describe_error(err: BaseException) -> str:
    """One line for health and logs: the innermost error of an ExceptionGroup, with its type
    (a TaskGroup wraps the real cause)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    line = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return line[:MAX_ERROR_CHARS]
