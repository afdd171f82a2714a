"""MediaMTX's password verdicts, kept briefly: MediaMTX asks about a user:password on every
RTSP/HLS/WebRTC connection, and argon2 (~85 ms) cannot run per request on a hot path whose
p99 is 2 ms. Keyed by HMAC-SHA256 under a random key made at each start, so the memory holds
no password and no fast hash of one an attacker could test guesses against. Pure: an
injected monotonic clock, a bounded number of entries."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_VERDICTS = 10_000


@dataclass(frozen=True, slots=True)
class Verdict:
    user_id: int | None  # None: the credential was wrong


class VerdictCache:
    def __init__(
        self,
        ttl_s: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_VERDICTS,
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._max = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[float, Verdict]] = OrderedDict()
        # Bumped by clear(): a verification that began before a change must not store its
        # verdict (made against the old hash or role) after the change dropped the rest.
        self.generation = 0

    def key(self, name: str, password: str) -> bytes:
        message = name.encode("utf-8", "surrogatepass") + b"\0"
        message += password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, key: bytes) -> Verdict | None:
        """The kept verdict, if younger than the ttl; None: ask argon2."""
        item = self._entries.get(key)
        if item is None:
            return None
        if self._clock() >= item[0]:
            del self._entries[key]
            return None
        return item[1]

    def put(self, key: bytes, verdict: Verdict, generation: int) -> None:
        if generation != self.generation:
            return
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl_s(), verdict)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)  # the oldest first

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)
