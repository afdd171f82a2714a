"""Credential redaction for free text and URLs. Pure; used by logging, the API's display of a
camera's source and every error message that echoes user input.

Two kinds of secret are found: the password of a URL's userinfo (`rtsp://user:pw@host`) and
the value of a secret query or fragment parameter (`?token=`, `;passphrase=`, `#access_token=`,
SRT's `streamid` credentials). Each secret has a *slot* (its kind and name, with the
occurrence), so a redacted URL echoed back can get its secrets from the stored one
(`restore_secrets`) instead of storing `***`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pydantic import SecretStr

REDACTED = "***"

# scheme://user:password@host  ->  scheme://user:***@host. The password part runs to the
# last '@' before whitespace, so passwords containing '@', ':' or even an unencoded '/' are
# covered; a path containing '@' is over-redacted, which is the safe side.
_USERINFO = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:(?P<secret>\S*)@")
# `name=` right after a query/fragment separator. Only the name is matched: a value is not
# consumed, so `?a=1#token=x` still finds `token` (a non-secret value never hides a name).
_PARAM_RE = re.compile(r"[?&;#](?P<name>[A-Za-z0-9_.~%+\-]{1,64})=")
# A secret value runs to the next parameter separator, whitespace, quote or angle bracket;
# not to '#', so an unencoded '#' inside a secret cannot leave its tail shown.
_VALUE_END_RE = re.compile(r"[&;\s\"'<>]")

# Parameter names (lower-case, '-' as '_') whose value is a secret: exact names, and
# suffixes (`x_api_key`, `access_token`, `client_secret`, `x_amz_signature`).
SECRET_PARAM_NAMES = frozenset(
    {"pass", "pwd", "key", "jwt", "auth", "authorization", "sig", "passphrase"}
)
SECRET_PARAM_SUFFIXES = (
    "password",
    "passwd",
    "secret",
    "token",
    "_key",
    "apikey",
    "signature",
    "credential",
    "credentials",
)
# Keys of a log event, an event payload or any mapping whose values are secrets, besides
# the secret parameter names (`password`, `token`, `hook_secret`, `api_key` ...).
SECRET_KEYS = frozenset({"dsn", "database_url"})
STREAMID = "streamid"
# SRT's standard stream id (`#!::m=request,r=path,u=user,s=pass`, Haivision's access
# control convention, as MediaMTX reads it): every key but these carries a secret (`s`, or
# other servers' `token=`/`secret=`).
_STREAMID_PLAIN_KEYS = frozenset({"m", "r", "h", "t", "u"})
_STREAMID_STANDARD = "#!::"


@dataclass(frozen=True, slots=True)
class SecretSpan:
    """`text[start:end]` is a secret; `slot` names its place (`userinfo#0`, `param:token#1`,
    `streamid:s#0`) the same way in any URL that has a secret there."""

    slot: str
    start: int
    end: int


def is_secret_param(name: str) -> bool:
    """Whether a query/fragment parameter (percent-encoded or not, any case) holds a secret."""
    normal = unquote(name).lower().replace("-", "_")
    return normal in SECRET_PARAM_NAMES or normal.endswith(SECRET_PARAM_SUFFIXES)


def is_secret_key(key: object) -> bool:
    """Whether a mapping key (a log event's, an event payload's) names a secret value."""
    return isinstance(key, str) and (key.lower() in SECRET_KEYS or is_secret_param(key))


def redact_field(key: object, value: Any) -> Any:
    """One key and its value as logs and events may show them."""
    if value is not None and is_secret_key(key):
        return REDACTED
    return redact_value(value)


def redact_value(value: Any) -> Any:
    """Strings, SecretStr and any nesting of mappings, lists and tuples, redacted."""
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_field(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def find_secrets(text: str) -> list[SecretSpan]:
    """Every secret in `text`, in order, none overlapping another."""
    # Most log values and stderr lines have neither: a few substring checks, no regex.
    raw: list[tuple[str, int, int]] = []
    if "@" in text and "://" in text:
        raw += [("userinfo", m.start("secret"), m.end("secret")) for m in _USERINFO.finditer(text)]
    if "=" in text and any(sep in text for sep in "?&;#"):
        for match in _PARAM_RE.finditer(text):
            raw.extend(_param_secrets(text, match))
    if not raw:
        return []
    raw.sort(key=lambda item: item[1])
    spans: list[SecretSpan] = []
    seen: dict[str, int] = {}
    end = -1
    for kind, start, stop in raw:
        if start < end or start == stop:  # inside a secret already found, or empty
            continue
        count = seen.get(kind, 0)
        seen[kind] = count + 1
        spans.append(SecretSpan(f"{kind}#{count}", start, stop))
        end = stop
    return spans


def _param_secrets(text: str, match: re.Match[str]) -> list[tuple[str, int, int]]:
    name = unquote(match["name"]).lower()
    start = match.end()
    stop = _VALUE_END_RE.search(text, start)
    end = stop.start() if stop is not None else len(text)
    if end > start and text[end - 1] == ":":  # FFmpeg's "<url>: <error>", not the value's
        end -= 1
    if name == STREAMID:
        return _streamid_secrets(text[start:end], start)
    if is_secret_param(name):
        return [(f"param:{name.replace('-', '_')}", start, end)]
    return []


def _streamid_secrets(value: str, offset: int) -> list[tuple[str, int, int]]:
    """The credentials inside an SRT stream id; its mode and path stay readable."""
    whole = [(f"param:{STREAMID}", offset, offset + len(value))]
    if value == REDACTED:
        return whole
    if "%" in value:  # percent-encoded: positions inside do not map, hide it whole if needed
        return whole if _streamid_secrets(unquote(value), 0) else []
    found: list[tuple[str, int, int]] = []
    if value.startswith(_STREAMID_STANDARD):
        pos = offset + len(_STREAMID_STANDARD)
        for pair in value[len(_STREAMID_STANDARD) :].split(","):
            key, has_value, _ = pair.partition("=")
            if has_value and key not in _STREAMID_PLAIN_KEYS:
                found.append((f"streamid:{key}", pos + len(key) + 1, pos + len(pair)))
            pos += len(pair) + 1
        return found
    # MediaMTX's own syntax: action:path[:query] or action:path:user:pass[:query]; the
    # query may carry a token (jwt=...). Past five parts it is no syntax we know: all hidden.
    parts = value.split(":")
    if len(parts) > 5:
        return [("streamid:3", offset + len(":".join(parts[:3])) + 1, offset + len(value))]
    secret_parts = {3: (2,), 4: (3,), 5: (3, 4)}.get(len(parts), ())
    pos = offset
    for index, part in enumerate(parts):
        if index in secret_parts:
            found.append((f"streamid:{index}", pos, pos + len(part)))
        pos += len(part) + 1
    return found


def redact_text(text: str) -> str:
    """Strip URL credentials and secret parameter values from free text (FFmpeg stderr,
    exception messages, log values, URLs shown by the API)."""
    spans = find_secrets(text)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for span in spans:
        out += [text[pos : span.start], REDACTED]
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def restore_secrets(text: str, current: str) -> str:
    """`text` (a URL as the API showed it, maybe edited) with each `***` standing for a secret
    replaced by the secret in the same slot of `current` (the stored URL, credentials
    included). Raises ValueError naming a `***` slot that `current` has no secret for."""
    placeholders = [s for s in find_secrets(text) if text[s.start : s.end] == REDACTED]
    if not placeholders:
        return text
    known = {s.slot: current[s.start : s.end] for s in find_secrets(current)}
    out = text
    for span in reversed(placeholders):
        secret = known.get(span.slot)
        if secret is None:
            raise ValueError(
                f"has {REDACTED} (a redacted secret) as its {_describe_slot(span.slot)}, and "
                "there is no stored value to keep: send the real value"
            )
        out = out[: span.start] + secret + out[span.end :]
    return out


def _describe_slot(slot: str) -> str:
    kind, _, _ = slot.rpartition("#")
    if kind == "userinfo":
        return "password"
    if kind.startswith("param:"):
        return f"{kind.removeprefix('param:')} parameter"
    return f"stream id credential ({kind.removeprefix('streamid:')})"
