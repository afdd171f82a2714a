"""The per-request costs this part adds: a shareable link's signature made and checked, and
the API rate limit's bucket check (the middleware runs it on every authenticated request).

Usage: python bench/links_ratelimit.py [--n 200000] [--principals 10000]

Printed: microseconds per call (median of 5 rounds) for LinkSigner.sign, LinkSigner.verify
of a good token, of a token with a wrong signature and of one too long, RateLimiter.check for
one principal and round-robin over --principals principals (the LRU bound's worst case: every
call evicts), and a link's token length. Pure functions only: no I/O, no event loop.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from vmsd.access.links import MAX_TOKEN_CHARS, LinkClaims, LinkKind, LinkSigner, link_key
from vmsd.access.principal import PrincipalKind
from vmsd.access.ratelimit import RateLimiter
from vmsd.access.scope import CameraScope

ROUNDS = 5


def per_call_us(fn: Callable[[int], object], n: int) -> float:
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for i in range(n):
            fn(i)
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--principals", type=int, default=10_000)
    args = parser.parse_args()
    n = args.n

    signer = LinkSigner(link_key(b"bench credential key"))
    now = time.time()
    claims = LinkClaims(
        LinkKind.RECORDING,
        123456,
        int(now) + 3600,
        PrincipalKind.USER,
        42,
        CameraScope.parse(["gate-1", "group:yard"]),
    )
    token = signer.sign(claims)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    too_long = "A" * (MAX_TOKEN_CHARS + 1)
    print(f"link token: {len(token)} characters (at most {MAX_TOKEN_CHARS})")
    cases: list[tuple[str, Callable[[int], object]]] = [
        ("LinkSigner.sign", lambda _: signer.sign(claims)),
        ("LinkSigner.verify (good)", lambda _: signer.verify(token, now)),
        ("LinkSigner.verify (bad signature)", lambda _: signer.verify(forged, now)),
        ("LinkSigner.verify (too long)", lambda _: signer.verify(too_long, now)),
    ]
    for name, fn in cases:
        print(f"{name:36} {per_call_us(fn, n):7.2f} us")

    clock = [0.0]

    def tick() -> float:
        clock[0] += 0.0001
        return clock[0]

    one = RateLimiter(tick)
    single = per_call_us(lambda _: one.check("token:ci", 50.0, 200), n)
    print(f"{'RateLimiter.check (one principal)':36} {single:7.2f} us")
    labels = [f"user:u{i}" for i in range(args.principals + 1)]
    many = RateLimiter(tick, max_principals=args.principals)
    churn = per_call_us(lambda i: many.check(labels[i % len(labels)], 50.0, 200), n)
    name = f"RateLimiter.check ({args.principals} + 1, evicting)"
    print(f"{name:36} {churn:7.2f} us ({len(many)} buckets kept)")


if __name__ == "__main__":
    main()
