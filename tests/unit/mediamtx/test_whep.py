"""The WHEP proxy's pure parts: the session table (bounded, expiring, one principal's and one
camera's), MediaMTX's answers read and refused, and the live view switched off."""

from __future__ import annotations

from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from vmsd.access.grants import LIVE_USER_PREFIX, Grants
from vmsd.config.load import ConfigHolder
from vmsd.config.schema import Config
from vmsd.core.errors import BadRequestError, NotFoundError, UnavailableError
from vmsd.mediamtx.whep import (
    SESSION_KEEP_S,
    LiveSessions,
    LiveView,
    LiveViewOffError,
    MediaMtxBadAnswerError,
    _refused,
    _session_location,
    basic_authorization,
)

SECRET = "6f1c7a2e-0b9d-4f3e-8a51-2c4d6e8f0a1b"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_found_by_its_camera_and_owner_only() -> None:
    sessions = LiveSessions(8, Clock())
    sid = sessions.add("door", "user:alice", f"/door/whep/{SECRET}")
    assert sessions.find("door", "user:alice", sid) == f"/door/whep/{SECRET}"
    for camera, owner, session in (
        ("yard", "user:alice", sid),
        ("door", "user:bob", sid),
        ("door", "user:alice", "A" * 22),
        ("door", "user:alice", sid + "x"),
        ("door", "user:alice", "../" * 8),
    ):
        with pytest.raises(NotFoundError):
            sessions.find(camera, owner, session)
    sessions.forget(sid)
    with pytest.raises(NotFoundError):
        sessions.find("door", "user:alice", sid)


def test_the_table_is_bounded_least_recently_used_first() -> None:
    sessions = LiveSessions(2, Clock())
    first = sessions.add("door", "o", "/door/whep/1")
    second = sessions.add("door", "o", "/door/whep/2")
    sessions.find("door", "o", first)  # now the most recently used
    third = sessions.add("door", "o", "/door/whep/3")
    assert len(sessions) == 2
    assert sessions.find("door", "o", first) and sessions.find("door", "o", third)
    with pytest.raises(NotFoundError):
        sessions.find("door", "o", second)


def test_a_session_unused_for_its_keep_time_is_forgotten() -> None:
    clock = Clock()
    sessions = LiveSessions(8, clock)
    kept = sessions.add("door", "o", "/door/whep/1")
    dropped = sessions.add("door", "o", "/door/whep/2")
    clock.now += SESSION_KEEP_S - 1
    sessions.find("door", "o", kept)  # used: its time starts again
    clock.now += 1
    with pytest.raises(NotFoundError):
        sessions.find("door", "o", dropped)
    assert sessions.find("door", "o", kept) == "/door/whep/1"


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(values))


def test_mediamtx_location_must_be_this_cameras_session() -> None:
    assert _session_location(headers(Location=f"/door/whep/{SECRET}"), "door") == (
        f"/door/whep/{SECRET}"
    )
    assert _session_location(headers(Location=f"/door/whep/{SECRET}?a=b"), "door") == (
        f"/door/whep/{SECRET}"
    )
    for location in (
        f"/yard/whep/{SECRET}",
        f"/door/whip/{SECRET}",
        "/door/whep/",
        f"/door/whep/{SECRET}/../../x",
        f"http://elsewhere/door/whep/{SECRET}",
        "",
    ):
        with pytest.raises(MediaMtxBadAnswerError):
            _session_location(headers(Location=location), "door")
    with pytest.raises(MediaMtxBadAnswerError):
        _session_location(headers(), "door")


def test_mediamtx_refusals_become_api_errors() -> None:
    bad = _refused(400, b'{"error": "invalid SDP\\u0007: no media"}', "door")
    assert isinstance(bad, BadRequestError)
    assert str(bad) == "MediaMTX refused the offer: invalid SDP: no media"
    assert str(_refused(400, b"<html>", "door")).endswith("no reason given")
    assert isinstance(_refused(404, b"{}", "door"), UnavailableError)
    for status in (401, 403, 500, 302):
        assert isinstance(_refused(status, b"", "door"), MediaMtxBadAnswerError)


def test_basic_authorization() -> None:
    assert basic_authorization("vmsd-live-1", "pw") == "Basic dm1zZC1saXZlLTE6cHc="


@pytest.mark.parametrize(
    ("mediamtx_on", "live_view", "message"),
    [
        (False, True, "mediamtx.mode is off"),
        (True, False, "console.live_view"),
    ],
)
async def test_the_live_view_is_off_without_mediamtx_or_when_turned_off(
    mediamtx_on: bool, live_view: bool, message: str
) -> None:
    config = Config.model_validate({"console": {"live_view": live_view}})
    grants = Grants(LIVE_USER_PREFIX, max_grants=4)
    view = LiveView(ConfigHolder(config, Path("x.yml")), grants, mediamtx_on=mediamtx_on)
    with pytest.raises(LiveViewOffError, match=message):
        view.check_on()
    with pytest.raises(LiveViewOffError):
        await view.start("door", "user:alice", b"v=0\r\n")
    with pytest.raises(LiveViewOffError):
        await view.stop("door", "user:alice", "A" * 22)
