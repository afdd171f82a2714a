"""Grants: the credentials vmsd mints for reads through MediaMTX, one path each.

Each grant is a fresh random user and password that allows `read` of one MediaMTX path until
it is revoked, and, when issued with a lifetime, only until it expires. In memory only: a
restart revokes them all. Two tables use it, told apart by their user-name prefix (the auth
decision, access/mediamtx_auth.py, binds each to what it may do):

- reader grants (READER_USER_PREFIX): one recorder run's or snapshot grab's read of its camera.
  The run revokes its grant when FFmpeg has exited; no lifetime, no cap. The grant never
  appears in an argv (FFmpeg reads it from a 0600 input file, see recorder/inputs.py), and
  should it leak anyway it opens one camera for the seconds-to-hours of that one run, never
  the API, metrics, pprof, publishing or another camera.
- live-view grants (LIVE_USER_PREFIX): one browser's WebRTC (WHEP) read, `webrtc` only.
  MediaMTX authenticates a WHEP reader once, when the session is created by the POST of the
  offer (internal/servers/webrtc/http_server.go, `onWHIPPost` -> `newSession`; PATCH and
  DELETE carry only the session's secret UUID), so the grant needs to live only as long as
  that one POST. The proxy revokes it as soon as MediaMTX has answered; the lifetime
  (console.live_credential_seconds) bounds it should that not happen, and the cap
  (console.max_live_sessions) bounds the table. The credential never leaves vmsd (the proxy
  puts it in its own request to MediaMTX, the browser never sees it).
"""

from __future__ import annotations

import hmac
import itertools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

READER_USER_PREFIX = "vmsd-reader-"
LIVE_USER_PREFIX = "vmsd-live-"


@dataclass(frozen=True, slots=True)
class Grant:
    user: str
    password: str
    path: str
    expires_monotonic: float = math.inf  # inf: until revoked


class Grants:
    """`max_grants`: at most that many at once, issuing past it drops the oldest (a capped
    table holds grants needed for seconds, so the oldest is the one least likely still in
    use); None: no cap. The clock (monotonic seconds) is injected."""

    def __init__(
        self,
        user_prefix: str,
        *,
        max_grants: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._grants: dict[str, Grant] = {}  # insertion order: oldest first
        self._max = max_grants
        self._clock = clock
        # A per-start random part plus a counter: a user name is never reused within a start,
        # and a name seen before a restart means nothing after it.
        self._prefix = f"{user_prefix}{secrets.token_hex(4)}-"
        self._counter = itertools.count(1)

    def issue(self, path: str, *, lifetime_s: float | None = None) -> Grant:
        """A grant for `path`, valid until revoked or, with `lifetime_s`, until it expires."""
        now = self._clock()
        self._prune(now)
        while self._max is not None and self._grants and len(self._grants) >= self._max:
            del self._grants[next(iter(self._grants))]
        grant = Grant(
            f"{self._prefix}{next(self._counter)}",
            secrets.token_urlsafe(24),
            path,
            math.inf if lifetime_s is None else now + lifetime_s,
        )
        self._grants[grant.user] = grant
        return grant

    def revoke(self, user: str) -> None:
        self._grants.pop(user, None)

    def allows_read(self, user: str, password: str, path: str) -> bool:
        """Constant-time on the password; an unknown, revoked or expired grant never matches."""
        grant = self._grants.get(user)
        if grant is None:
            return False
        ok = hmac.compare_digest(password.encode(), grant.password.encode())
        return ok and grant.path == path and self._clock() < grant.expires_monotonic

    def _prune(self, now: float) -> None:
        for user in [u for u, g in self._grants.items() if g.expires_monotonic <= now]:
            del self._grants[user]

    def __len__(self) -> int:
        return len(self._grants)
