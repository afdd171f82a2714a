"""Error text for configuration problems: one line per problem, with its key path
(`cameras[1].name: must match ... (got "Front Door")`), never echoing a secret. The same
lines serve `vmsd check-config` and the API's 422 details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from vmsd.core.redact import redact_text


def format_key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(root)"


def _got(value: Any) -> str:
    if isinstance(value, str):
        return f'"{redact_text(value)}"'
    if isinstance(value, SecretStr):
        return "(secret)"
    return repr(value)


def format_pydantic_error(error: Mapping[str, Any], variable: str | None = None) -> str:
    """One pydantic error -> `key.path: human message (got value)`; with the environment
    `variable` that set the key: `VMSD_SERVER_PORT (server.port): ...`."""
    loc = tuple(error["loc"])
    key = format_key_path(loc) if variable is None else f"{variable} ({format_key_path(loc)})"
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    # Never echo a secret back, even in an error message.
    # A source may carry credentials in a shape redaction cannot recognise (spaces, bad URL).
    secret = any(str(p) in ("password", "url", "key", "source", "secret") for p in loc)
    # Nor a whole mapping or list (a model-level error's input is the entire camera).
    echo = not secret and not isinstance(value, Mapping | list | tuple)
    got = f" (got {_got(value)})" if echo else ""
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "string_pattern_mismatch":
        return f"{key}: must match {ctx['pattern']}{got}"
    bounds = {
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
    }
    if kind in bounds:
        op, bound = bounds[kind]
        return f"{key}: must be {op} {ctx[bound]}{got}"
    if kind == "enum":
        return f"{key}: must be one of {ctx['expected']}{got}"
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        has_got = "(got" in message
        return f"{key}: {message}{'' if has_got else got}"
    message = str(error["msg"])
    message = message[0].lower() + message[1:]
    return f"{key}: {message}{got}"


def field_errors(err: PydanticValidationError) -> list[dict[str, str]]:
    details = []
    for e in err.errors():
        line = format_pydantic_error(e)
        key = format_key_path(tuple(e["loc"]))
        details.append({"field": key, "message": line.removeprefix(f"{key}: ")})
    return details
