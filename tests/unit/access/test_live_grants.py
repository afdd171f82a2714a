"""Live-view grants and the auth decision for them: `read` over `webrtc` of one path, until
the grant expires or is revoked; everything else is a denial."""

from __future__ import annotations

import json

import pytest

from vmsd.access.live_grants import LIVE_USER_PREFIX, LiveGrant, LiveGrants
from vmsd.access.mediamtx_auth import AuthContext, Decision, decide, parse_auth_request
from vmsd.cameras.model import Camera
from vmsd.config.schema import RecordingOverrides, RetentionOverrides, RtspTransport


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


CAMERAS = {"door": camera("door"), "yard": camera("yard"), "off": camera("off", enabled=False)}


def ask(
    grants: LiveGrants,
    grant: LiveGrant,
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
    grants = LiveGrants(8, clock)
    grant = grants.issue("door", 60)
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
    grants = LiveGrants(8, Clock())
    grant = grants.issue("door", 60)
    decision = ask(grants, grant, **change)  # type: ignore[arg-type]
    assert (decision.allow, decision.reason) == (False, reason)


def test_a_revoked_grant_is_refused_and_names_are_never_reused() -> None:
    grants = LiveGrants(8, Clock())
    first = grants.issue("door", 60)
    grants.revoke(first.user)
    second = grants.issue("door", 60)
    assert second.user != first.user and second.password != first.password
    assert not ask(grants, first).allow
    assert ask(grants, second).allow
    assert not grants.allows_read(second.user, first.password, "door")


def test_the_table_is_bounded_and_drops_expired_grants_first() -> None:
    clock = Clock()
    grants = LiveGrants(3, clock)
    old = grants.issue("door", 10)
    clock.now += 10  # old has expired
    kept = [grants.issue("door", 60) for _ in range(3)]
    assert len(grants) == 3
    assert not grants.allows_read(old.user, old.password, "door")
    assert all(grants.allows_read(g.user, g.password, "door") for g in kept)
    newest = grants.issue("yard", 60)  # full: the oldest live one goes
    assert len(grants) == 3
    assert not grants.allows_read(kept[0].user, kept[0].password, "door")
    assert grants.allows_read(newest.user, newest.password, "yard")


def test_without_live_grants_the_context_refuses_them() -> None:
    grant = LiveGrants(8, Clock()).issue("door", 60)
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
