"""Reader grants: the credential one recorder run or snapshot grab reads its camera with
through MediaMTX.

Each grant is a fresh random user and password that allows `read` of one MediaMTX path, and
lives only as long as the run that asked for it: the run revokes it when FFmpeg has exited. It
never appears in an argv (FFmpeg reads it from a 0600 input file, see recorder/inputs.py), and
should it leak anyway it opens one camera for the seconds-to-hours of that one run, never the
API, metrics, pprof, publishing or another camera. In memory only: a restart revokes them all.
"""

from __future__ import annotations

import hmac
import itertools
import secrets
from dataclasses import dataclass

READER_USER_PREFIX = "vmsd-reader-"


@dataclass(frozen=True, slots=True)
class ReaderGrant:
    user: str
    password: str
    path: str


class ReaderGrants:
    def __init__(self) -> None:
        self._grants: dict[str, ReaderGrant] = {}
        # A per-start random part plus a counter: a user name is never reused within a start,
        # and a name seen before a restart means nothing after it.
        self._prefix = f"{READER_USER_PREFIX}{secrets.token_hex(4)}-"
        self._counter = itertools.count(1)

    def issue(self, path: str) -> ReaderGrant:
        grant = ReaderGrant(
            f"{self._prefix}{next(self._counter)}", secrets.token_urlsafe(24), path
        )
        self._grants[grant.user] = grant
        return grant

    def revoke(self, user: str) -> None:
        self._grants.pop(user, None)

    def allows_read(self, user: str, password: str, path: str) -> bool:
        """Constant-time on the password; a revoked or unknown user never matches."""
        grant = self._grants.get(user)
        if grant is None:
            return False
        ok = hmac.compare_digest(password.encode(), grant.password.encode())
        return ok and grant.path == path

    def __len__(self) -> int:
        return len(self._grants)
