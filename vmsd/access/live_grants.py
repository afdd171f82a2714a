"""Live-view grants: the credential vmsd hands MediaMTX for one browser's WebRTC (WHEP) read.

Each grant is a fresh random user and password that allows `read` over `webrtc` of one
MediaMTX path, and only until it expires: MediaMTX authenticates a WHEP reader once, when the
session is created by the POST of the offer (internal/servers/webrtc/http_server.go,
`onWHIPPost` -> `newSession`; PATCH and DELETE carry only the session's secret UUID), so the
grant needs to live only as long as that one POST. The proxy revokes it as soon as MediaMTX
has answered; the expiry (console.live_credential_seconds) bounds it should that not happen.
The credential never leaves vmsd (the proxy puts it in its own request to MediaMTX, the
browser never sees it). In memory only: a restart revokes them all. The clock is injected.
"""

from __future__ import annotations

import hmac
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

LIVE_USER_PREFIX = "vmsd-live-"


@dataclass(frozen=True, slots=True)
class LiveGrant:
    user: str
    password: str
    path: str
    expires_monotonic: float


class LiveGrants:
    """At most `max_grants` at once: issuing past it drops the oldest (a grant is needed for
    seconds, so the oldest is the one least likely still in use)."""

    def __init__(self, max_grants: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._grants: dict[str, LiveGrant] = {}  # insertion order: oldest first
        self._max = max_grants
        self._clock = clock
        # As for reader grants: a name is never reused within a start, nor across starts.
        self._prefix = f"{LIVE_USER_PREFIX}{secrets.token_hex(4)}-"
        self._counter = itertools.count(1)

    def issue(self, path: str, lifetime_s: float) -> LiveGrant:
        now = self._clock()
        self._prune(now)
        while len(self._grants) >= self._max:
            del self._grants[next(iter(self._grants))]
        grant = LiveGrant(
            f"{self._prefix}{next(self._counter)}",
            secrets.token_urlsafe(24),
            path,
            now + lifetime_s,
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
