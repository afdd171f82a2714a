"""Credential redaction for free text. Pure; used by logging and by every error message that
echoes user input."""

from __future__ import annotations

import re

REDACTED = "***"

# scheme://user:password@host  ->  scheme://user:***@host. The password part runs to the
# last '@' before whitespace, so passwords containing '@', ':' or even an unencoded '/' are
# covered; a path containing '@' is over-redacted, which is the safe side.
_URL_CREDENTIALS_RE = re.compile(
    r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<secret>\S*)(?P<at>@)"
)


def redact_text(text: str) -> str:
    """Strip URL credentials from free text (FFmpeg stderr, exception messages, URLs)."""
    return _URL_CREDENTIALS_RE.sub(lambda m: f"{m.group('prefix')}{REDACTED}{m.group('at')}", text)
