"""Grants (access/grants.py), as both tables use them: reader grants (no lifetime, no cap) and
live-view grants (a lifetime and a cap), and the auth decision for live-view grants: `read`
over `webrtc` of one path, until the grant expires or is revoked; everything else is a
denial. The decision for reader grants is in test_mediamtx_auth's table."""

from __future__ import annotations

import json

import pytest

from vmsd.access.grants import LIVE_USER_PREFIX, READER_USER_PREFIX, Grant, Grants
from vmsd.access.mediamtx_auth import AuthContext, Decision, decide, parse_auth_request
from vmsd.cameras.model import Camera
from vmsd.config.cameras import RtspTransport
from vmsd.config.recording import RecordingOverrides, RetentionOverrides


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def camera(name: str, *, enabled: bool = True) -> Camera:
    return Camera(
        name=name,
        source="rtsp://10.0.0.5:554/stream",
        username=None,
        password=None,
        rtsp_transport=RtspTransport.TCP,
        enabled=enabled,
        record=True,
        recording=RecordingOverrides(),
        retention=RetentionOverrides(),
        description="",
        location="",
        managed_by="config",
    )


def live_grants(max_grants: int, clock: Clock) -> Grants:
    return Grants(LIVE_USER_PREFIX, max_grants=max_grants, clock=clock)


CAMERAS = {"door": camera("door"), "yard": camera("yard"), "off": camera("off", enabled=False)}


def ask(
    grants: Grants,
    grant: Grant,
    *,
    path: str | None = None,
    action: str = "read",
    protocol: str = "webrtc",
    password: str | None = None,
) -> Decision:
    doc = {
        "ip": "127.0.0.1",
        "user": grant.user,
        "password": grant.password if password is None else password,
        "token": "",
        "action": action,
        "path": grant.path if path is None else path,
        "protocol": protocol,
        "id": "3f1b7c1e-6a3f-4a59-9d37-0c2d4e6f8a10",
        "query": "",
    }
    ctx = AuthContext(
        CAMERAS, lambda _t: None, "internal", lambda _p: "x", live_allowed=grants.allows_read
    )
    return decide(parse_auth_request(json.dumps(doc).encode()), ctx)


def test_a_live_grant_reads_its_path_over_webrtc_until_it_expires() -> None:
    clock = Clock()
    grants = live_grants(8, clock)
    grant = grants.issue("door", lifetime_s=60)
    assert grant.user.startswith(LIVE_USER_PREFIX)
    assert ask(grants, grant) == Decision(True, "live_grant", grant.user)
    clock.now += 59.9
    assert ask(grants, grant).allow
    clock.now += 0.1
    assert ask(grants, grant) == Decision(False, "bad_live_grant", grant.user)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"path": "yard"}, "bad_live_grant"),
        ({"path": "off"}, "unknown_path"),
        ({"path": "ghost"}, "unknown_path"),
        ({"password": "x" * 32}, "bad_live_grant"),
        ({"password": ""}, "bad_live_grant"),
        *(({"protocol": p}, "live_grant_is_webrtc_read_only") for p in ("rtsp", "hls", "srt")),
        *(
            ({"action": a, "protocol": p}, "live_grant_is_webrtc_read_only")
            for a, p in (("publish", "webrtc"), ("playback", ""), ("api", ""), ("metrics", ""))
        ),
    ],
)
def test_a_live_grant_allows_nothing_else(change: dict[str, str], reason: str) -> None:
    grants = live_grants(8, Clock())
    grant = grants.issue("door", lifetime_s=60)
    decision = ask(grants, grant, **change)
    assert (decision.allow, decision.reason) == (False, reason)


def test_a_revoked_grant_is_refused_and_names_are_never_reused() -> None:
    grants = live_grants(8, Clock())
    first = grants.issue("door", lifetime_s=60)
    grants.revoke(first.user)
    second = grants.issue("door", lifetime_s=60)
    assert second.user != first.user and second.password != first.password
    assert not ask(grants, first).allow
    assert ask(grants, second).allow
    assert not grants.allows_read(second.user, first.password, "door")


def test_the_table_is_bounded_and_drops_expired_grants_first() -> None:
    clock = Clock()
    grants = live_grants(3, clock)
    old = grants.issue("door", lifetime_s=10)
    clock.now += 10  # old has expired
    kept = [grants.issue("door", lifetime_s=60) for _ in range(3)]
    assert len(grants) == 3
    assert not grants.allows_read(old.user, old.password, "door")
    assert all(grants.allows_read(g.user, g.password, "door") for g in kept)
    newest = grants.issue("yard", lifetime_s=60)  # full: the oldest live one goes
    assert len(grants) == 3
    assert not grants.allows_read(kept[0].user, kept[0].password, "door")
    assert grants.allows_read(newest.user, newest.password, "yard")


def test_without_live_grants_the_context_refuses_them() -> None:
    grant = live_grants(8, Clock()).issue("door", lifetime_s=60)
    doc = {
        "user": grant.user,
        "password": grant.password,
        "action": "read",
        "path": "door",
        "protocol": "webrtc",
    }
    ctx = AuthContext(CAMERAS, lambda _t: None, "internal", lambda _p: "x")
    decision = decide(parse_auth_request(json.dumps(doc).encode()), ctx)
    assert (decision.allow, decision.reason) == (False, "bad_live_grant")


def test_without_a_lifetime_or_a_cap_a_grant_holds_until_revoked() -> None:
    clock = Clock()
    grants = Grants(READER_USER_PREFIX, clock=clock)
    first = grants.issue("door")
    many = [grants.issue("yard") for _ in range(500)]  # no cap: none is dropped
    clock.now += 10 * 365 * 86400.0
    assert first.user.startswith(READER_USER_PREFIX)
    assert len(grants) == 501
    assert grants.allows_read(first.user, first.password, "door")
    assert all(grants.allows_read(g.user, g.password, "yard") for g in many)
    grants.revoke(first.user)
    grants.revoke(first.user)  # twice, or an unknown user: nothing to do
    grants.revoke("nobody")
    assert len(grants) == 500
    assert not grants.allows_read(first.user, first.password, "door")


@pytest.mark.parametrize("prefix", [READER_USER_PREFIX, LIVE_USER_PREFIX])
def test_only_the_grants_own_password_and_path_match(prefix: str) -> None:
    grants = Grants(prefix, max_grants=8, clock=Clock())
    grant = grants.issue("door", lifetime_s=60)
    other = grants.issue("door", lifetime_s=60)
    password = grant.password
    assert grants.allows_read(grant.user, password, "door")
    # Every near miss is refused, and none raises: hmac.compare_digest takes ASCII text only,
    # so the compare is on the UTF-8 bytes, and a non-ASCII password is just a wrong one.
    # (Lone surrogates never get here: parse_auth_request refuses them.)
    for wrong in (
        "",
        password[:-1],
        password + "x",
        password[:-1] + ("a" if password[-1] != "a" else "b"),
        password.upper() if password.upper() != password else password.lower(),
        "é" * len(password),
        other.password,
    ):
        assert not grants.allows_read(grant.user, wrong, "door"), wrong
    for path in ("yard", "", "door/", "Door", "door\x00"):
        assert not grants.allows_read(grant.user, password, path), path
    assert not grants.allows_read(other.user, password, "door")  # another grant's user
    assert not grants.allows_read(prefix + "1", password, "door")  # a guessed name


def test_the_tables_user_names_are_told_apart_by_their_prefix() -> None:
    """mediamtx_auth routes a user by its prefix: a live-view grant must never look like a
    reader grant (which reads over any protocol), nor the other way round."""
    reader = Grants(READER_USER_PREFIX).issue("door")
    live = Grants(LIVE_USER_PREFIX).issue("door", lifetime_s=60)
    assert not reader.user.startswith(LIVE_USER_PREFIX)
    assert not live.user.startswith(READER_USER_PREFIX)
    assert not READER_USER_PREFIX.startswith(LIVE_USER_PREFIX)
    assert not LIVE_USER_PREFIX.startswith(READER_USER_PREFIX)
    # Two tables of one kind (two starts) never share a name either.
    assert Grants(READER_USER_PREFIX).issue("door").user != reader.user
