"""MediaMTX's kept password verdicts: keyed, expiring, bounded, dropped at once on a change."""

from __future__ import annotations

from vmsd.access.verdicts import Verdict, VerdictCache


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_verdict_is_kept_for_the_ttl_only() -> None:
    clock = Clock()
    cache = VerdictCache(lambda: 60.0, clock)
    key = cache.key("alice", "secret")
    cache.put(key, Verdict(7), cache.generation)
    assert cache.get(key) == Verdict(7)
    clock.now += 59.9
    assert cache.get(key) == Verdict(7)
    clock.now += 0.1
    assert cache.get(key) is None


def test_keys_tell_name_and_password_apart_and_differ_per_start() -> None:
    cache = VerdictCache(lambda: 60.0)
    assert cache.key("ab", "c") != cache.key("a", "bc")  # the NUL separates them
    assert cache.key("a", "b") == cache.key("a", "b")
    assert VerdictCache(lambda: 60.0).key("a", "b") != cache.key("a", "b")
    assert len(cache.key("a", "b")) == 32


def test_clear_drops_everything_and_refuses_a_verdict_begun_before_it() -> None:
    cache = VerdictCache(lambda: 60.0)
    key = cache.key("alice", "secret")
    cache.put(key, Verdict(None), cache.generation)
    begun = cache.generation
    cache.clear()
    assert cache.get(key) is None
    cache.put(key, Verdict(7), begun)  # verified against the users before the change
    assert cache.get(key) is None
    cache.put(key, Verdict(7), cache.generation)
    assert cache.get(key) == Verdict(7)


def test_the_number_of_entries_is_bounded() -> None:
    cache = VerdictCache(lambda: 60.0, max_entries=10)
    keys = [cache.key("u", str(i)) for i in range(25)]
    for key in keys:
        cache.put(key, Verdict(None), cache.generation)
    assert len(cache) == 10
    assert cache.get(keys[0]) is None and cache.get(keys[-1]) == Verdict(None)
