"""Camera source URLs: validation, credentials split out and put back, synthetic patterns.

Pure. Credentials never stay inside a stored source URL: they are split into
username/password (encrypted at rest) and joined back only for the process that needs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

from vmsd.core.redact import REDACTED, redact_text

PUBLISHER = "publisher"
SYNTHETIC_SCHEME = "test"
SOURCE_SCHEMES = (
    "rtsp",
    "rtsps",
    "rtmp",
    "rtmps",
    "http",
    "https",
    "srt",
    "udp+mpegts",
    SYNTHETIC_SCHEME,
)
_SIZE_RE = re.compile(r"^(\d{2,4})x(\d{2,4})$", re.ASCII)
SYNTHETIC_DEFAULT_SIZE = (640, 360)
SYNTHETIC_DEFAULT_FPS = 15
SYNTHETIC_MAX_SIZE = (1920, 1080)


@dataclass(frozen=True, slots=True)
class SyntheticPattern:
    """`test://?size=640x360&fps=15`: a moving test pattern made by FFmpeg's lavfi."""

    width: int
    height: int
    fps: int


def validate_source(source: str) -> str:
    """The source (scheme lower-cased) if valid; raises ValueError with an operator-readable
    message."""
    if source == PUBLISHER:
        return source
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in source):
        raise ValueError("must be a URL without spaces or control characters")
    if len(source) > 2048:
        raise ValueError("must be at most 2048 characters")
    # urllib's own messages can quote parts of the URL (a password among them): never echoed.
    try:
        parts = urlsplit(source)
        port = parts.port
    except ValueError as err:
        raise ValueError(
            "is not a valid URL (characters such as / ? # @ in a password must be "
            "percent-encoded: %2F %3F %23 %40)"
        ) from err
    if "@" not in parts.netloc and "@" in source.partition("://")[2]:
        # rtsp://user:pa/ss@host parses as host "user"; the password would stay in the URL.
        raise ValueError(
            "has an '@' after the host: a password containing / ? or # must be "
            "percent-encoded (%2F %3F %23)"
        )
    scheme = parts.scheme.lower()
    if scheme not in SOURCE_SCHEMES:
        allowed = ", ".join(f"{s}://" for s in SOURCE_SCHEMES)
        raise ValueError(f"must be 'publisher' or a URL starting with {allowed}")
    # MediaMTX matches schemes case-sensitively: store them lower-case.
    source = scheme + source[len(parts.scheme) :]
    if scheme == SYNTHETIC_SCHEME:
        if not is_synthetic(source):  # "test:" or "test:x": not the pattern every reader knows
            raise ValueError("a test source starts with test:// (e.g. test://?size=640x360)")
        parse_synthetic(source)
        return source
    if not parts.hostname:
        raise ValueError(f"a {scheme}:// source needs a host")
    if scheme in ("udp+mpegts", "srt") and port is None:
        raise ValueError(f"a {scheme}:// source needs a port")
    return source


def parse_synthetic(source: str) -> SyntheticPattern:
    parts = urlsplit(source)
    if parts.netloc or parts.path not in ("", "/"):
        raise ValueError("a test:// source takes only ?size=WxH&fps=N (e.g. test://?size=640x360)")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"size", "fps"})
    if unknown:
        raise ValueError(f"test:// knows only size and fps (got {', '.join(unknown)})")
    width, height = SYNTHETIC_DEFAULT_SIZE
    if "size" in query:
        match = _SIZE_RE.match(query["size"][-1])
        if match is None:
            raise ValueError(f'test:// size must be WxH, e.g. 640x360 (got "{query["size"][-1]}")')
        width, height = int(match[1]), int(match[2])
        if (
            width % 2
            or height % 2
            or width > SYNTHETIC_MAX_SIZE[0]
            or height > SYNTHETIC_MAX_SIZE[1]
            or min(width, height) < 16
        ):
            raise ValueError("test:// size must be even, at least 16x16 and at most 1920x1080")
    fps = SYNTHETIC_DEFAULT_FPS
    if "fps" in query:
        raw = query["fps"][-1]
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 60:
            raise ValueError(f'test:// fps must be a whole number from 1 to 60 (got "{raw}")')
        fps = int(raw)
    return SyntheticPattern(width, height, fps)


def is_synthetic(source: str) -> bool:
    return source.lower().startswith(f"{SYNTHETIC_SCHEME}://")


def split_credentials(source: str) -> tuple[str, str | None, str | None]:
    """`rtsp://user:pa%40ss@host/x` -> (`rtsp://host/x`, "user", "pa@ss")."""
    if source == PUBLISHER:
        return source, None, None
    parts = urlsplit(source)
    if "@" not in parts.netloc:
        return source, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if has_password else None


def with_credentials(source: str, username: str | None, password: str | None) -> str:
    """The URL a process connects to: credentials percent-encoded into the userinfo."""
    if source == PUBLISHER or (username is None and password is None) or is_synthetic(source):
        return source
    parts = urlsplit(source)
    userinfo = quote(username or "", safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(
        (parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, parts.fragment)
    )


def display_source(source: str, username: str | None, password: str | None) -> str:
    """What the API shows: the user if any, the password and every secret parameter
    (`?token=`, `?passphrase=`, SRT stream id credentials) as ***. `restore_secrets` puts the
    stored values back when a client sends this form back."""
    if username is not None or password is not None:
        shown = REDACTED if password is not None else None
        source = with_credentials(source, username, shown).replace("%2A%2A%2A", REDACTED)
    return redact_text(source)
