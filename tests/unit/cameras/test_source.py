"""Camera sources: validation, synthetic patterns, credentials split out and put back, what the
API shows; and CameraConfig's cross-field rules as `vmsd.config` reports them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from vmsd.config.load import validate_config
from vmsd.core.errors import ConfigError
from vmsd.core.sources import (
    SOURCE_SCHEMES,
    SYNTHETIC_DEFAULT_FPS,
    SYNTHETIC_DEFAULT_SIZE,
    SyntheticPattern,
    display_source,
    is_synthetic,
    parse_synthetic,
    split_credentials,
    validate_source,
    with_credentials,
)

# --- validate_source -----------------------------------------------------------------------

_NETWORK_SCHEMES = [s for s in SOURCE_SCHEMES if s != "test"]


def test_scheme_list() -> None:
    assert set(SOURCE_SCHEMES) == {
        "rtsp",
        "rtsps",
        "rtmp",
        "rtmps",
        "http",
        "https",
        "srt",
        "udp+mpegts",
        "test",
    }


@pytest.mark.parametrize("scheme", _NETWORK_SCHEMES)
@pytest.mark.parametrize(
    "rest",
    ["cam.local:1234/stream", "192.168.1.20:1234", "[fd00::20]:1234/a/b?c=d", "cam:1234/x#f"],
)
def test_every_scheme_with_host_and_port_is_accepted(scheme: str, rest: str) -> None:
    source = f"{scheme}://{rest}"
    assert validate_source(source) == source


@pytest.mark.parametrize(
    "source",
    [
        "publisher",
        "rtsp://cam/stream",
        "rtsps://cam",
        "rtmp://cam/live/key",
        "rtmps://cam/live/key",
        "http://cam/index.m3u8",
        "https://cam/index.m3u8",
        "rtsp://10.0.0.5:554/Streaming/Channels/101?transportmode=unicast",
        "rtsp://cam/x?a=%20b",
        "srt://cam:9000?streamid=read:cam",
        "udp+mpegts://238.0.0.1:1234",
        "test://",
        "test://?size=320x240&fps=10",
        "rtsp://cam/" + "a" * (2048 - len("rtsp://cam/")),
    ],
)
def test_valid_sources(source: str) -> None:
    assert validate_source(source) == source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("rtsp://", "a rtsp:// source needs a host"),
        ("rtsp:///stream", "a rtsp:// source needs a host"),
        ("rtsp://:554/stream", "a rtsp:// source needs a host"),
        ("rtsp://user:pw@/stream", "a rtsp:// source needs a host"),
        ("rtsp:cam", "a rtsp:// source needs a host"),
        ("http://", "a http:// source needs a host"),
        ("udp+mpegts://:1234", "a udp+mpegts:// source needs a host"),
        ("udp+mpegts://238.0.0.1", "a udp+mpegts:// source needs a port"),
        ("udp+mpegts://238.0.0.1/x", "a udp+mpegts:// source needs a port"),
        ("srt://cam", "a srt:// source needs a port"),
        ("srt://cam?streamid=x", "a srt:// source needs a port"),
        ("ftp://cam/x", "must be 'publisher' or a URL starting with rtsp://, rtsps://"),
        ("file:///etc/passwd", "must be 'publisher' or a URL"),
        ("udp://238.0.0.1:1234", "must be 'publisher' or a URL"),
        ("whep://cam/x", "must be 'publisher' or a URL"),
        ("rtp://cam:5004", "must be 'publisher' or a URL"),
        ("cam.local/stream", "must be 'publisher' or a URL"),
        ("", "must be 'publisher' or a URL"),
        ("Publisher", "must be 'publisher' or a URL"),
        ("publisher ", "must be a URL without spaces"),
        ("rtsp://cam/a b", "must be a URL without spaces"),
        (" rtsp://cam/x", "must be a URL without spaces"),
        ("rtsp://cam/x\n", "must be a URL without spaces"),
        ("rtsp://cam/\tx", "must be a URL without spaces"),
        ("rtsp://cam/\u00a0x", "must be a URL without spaces"),
        (
            "rtsp://cam/" + "a" * (2049 - len("rtsp://cam/")),
            "must be at most 2048 characters",
        ),
        ("rtsp://cam:99999/x", "is not a valid URL"),
        ("rtsp://cam:port/x", "is not a valid URL"),
        ("rtsp://[fd00::1/x", "is not a valid URL"),
        ("test://host", "a test:// source takes only"),
        ("test://?size=big", "test:// size must be WxH"),
    ],
)
def test_invalid_sources(source: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        validate_source(source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("RTSP://cam/x", "rtsp://cam/x"),
        ("Rtmp://Cam/Live", "rtmp://Cam/Live"),  # only the scheme: the rest may be case-sensitive
        ("SRT://cam:9000", "srt://cam:9000"),
        ("UDP+MPEGTS://238.0.0.1:1234", "udp+mpegts://238.0.0.1:1234"),
        ("TEST://?fps=5", "test://?fps=5"),
        ("RTSP://User:PassWord@cam/x", "rtsp://User:PassWord@cam/x"),
    ],
)
def test_scheme_is_lower_cased(source: str, expected: str) -> None:
    """MediaMTX matches source prefixes case-sensitively (internal/conf/path.go)."""
    assert validate_source(source) == expected
    assert validate_source(expected) == expected
    if "@" not in source:
        config = validate_config({"cameras": [{"name": "cam", "source": source}]})
        assert config.cameras[0].source == expected


@pytest.mark.parametrize("source", ["rtsp://cam/\x00x", "rtsp://cam/x\x7f", "rtmp://cam/\x1bk"])
def test_control_characters_are_rejected(source: str) -> None:
    with pytest.raises(ValueError):
        validate_source(source)


@pytest.mark.parametrize(
    "source",
    ["rtsp://admin:hunter2#1@cam/x", "rtsp://admin:hunter2?@cam/x", "rtsp://admin:hunter2/@cam/x"],
)
def test_invalid_url_message_does_not_echo_the_password(source: str) -> None:
    with pytest.raises(ValueError) as err:
        validate_source(source)
    assert "hunter2" not in str(err.value)


def test_unencoded_slash_in_numeric_password_is_not_accepted() -> None:
    with pytest.raises(ValueError):
        validate_source("rtsp://admin:12/34@cam/x")


def test_is_synthetic() -> None:
    assert is_synthetic("test://")
    assert is_synthetic("TEST://?fps=5")
    assert not is_synthetic("publisher")
    assert not is_synthetic("rtsp://test/x")
    assert not is_synthetic("testing://x")


# --- parse_synthetic -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("test://", SyntheticPattern(*SYNTHETIC_DEFAULT_SIZE, SYNTHETIC_DEFAULT_FPS)),
        ("test://?", SyntheticPattern(640, 360, 15)),
        ("test:///", SyntheticPattern(640, 360, 15)),
        ("test://?size=1280x720", SyntheticPattern(1280, 720, 15)),
        ("test://?fps=30", SyntheticPattern(640, 360, 30)),
        ("test://?fps=25&size=320x240", SyntheticPattern(320, 240, 25)),
        ("test://?size=16x16", SyntheticPattern(16, 16, 15)),
        ("test://?size=1920x1080", SyntheticPattern(1920, 1080, 15)),
        ("test://?size=0640x0360", SyntheticPattern(640, 360, 15)),
        ("test://?fps=1", SyntheticPattern(640, 360, 1)),
        ("test://?fps=60", SyntheticPattern(640, 360, 60)),
        ("test://?fps=10&fps=20", SyntheticPattern(640, 360, 20)),  # the last one counts
    ],
)
def test_parse_synthetic(source: str, expected: SyntheticPattern) -> None:
    assert parse_synthetic(source) == expected
    assert validate_source(source) == source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("test://?size=15x16", "test:// size must be even, at least 16x16 and at most 1920x1080"),
        ("test://?size=16x15", "test:// size must be even"),
        ("test://?size=641x360", "test:// size must be even"),
        ("test://?size=14x14", "test:// size must be even, at least 16x16"),
        ("test://?size=16x14", "test:// size must be even, at least 16x16"),
        ("test://?size=1922x1080", "test:// size must be even, at least 16x16 and at most"),
        ("test://?size=1920x1082", "test:// size must be even, at least 16x16 and at most"),
        ("test://?size=2560x1440", "test:// size must be even, at least 16x16 and at most"),
        ("test://?size=4x4", 'test:// size must be WxH, e.g. 640x360 (got "4x4")'),
        ("test://?size=10000x16", 'test:// size must be WxH, e.g. 640x360 (got "10000x16")'),
        ("test://?size=640", 'test:// size must be WxH, e.g. 640x360 (got "640")'),
        ("test://?size=640x", 'test:// size must be WxH, e.g. 640x360 (got "640x")'),
        ("test://?size=x360", 'test:// size must be WxH, e.g. 640x360 (got "x360")'),
        ("test://?size=640X360", 'test:// size must be WxH, e.g. 640x360 (got "640X360")'),
        ("test://?size=640*360", 'test:// size must be WxH, e.g. 640x360 (got "640*360")'),
        ("test://?size=-640x360", 'test:// size must be WxH, e.g. 640x360 (got "-640x360")'),
        ("test://?size=", 'test:// size must be WxH, e.g. 640x360 (got "")'),
        ("test://?size=640x360&size=big", 'test:// size must be WxH, e.g. 640x360 (got "big")'),
        ("test://?fps=0", 'test:// fps must be a whole number from 1 to 60 (got "0")'),
        ("test://?fps=61", 'test:// fps must be a whole number from 1 to 60 (got "61")'),
        ("test://?fps=-1", 'test:// fps must be a whole number from 1 to 60 (got "-1")'),
        ("test://?fps=1.5", 'test:// fps must be a whole number from 1 to 60 (got "1.5")'),
        ("test://?fps=fast", 'test:// fps must be a whole number from 1 to 60 (got "fast")'),
        ("test://?fps=", 'test:// fps must be a whole number from 1 to 60 (got "")'),
        ("test://?fps", 'test:// fps must be a whole number from 1 to 60 (got "")'),
        ("test://?bitrate=1", "test:// knows only size and fps (got bitrate)"),
        ("test://?FPS=5", "test:// knows only size and fps (got FPS)"),
        ("test://?size=640x360&z=1&a=2", "test:// knows only size and fps (got a, z)"),
        ("test://host", "a test:// source takes only ?size=WxH&fps=N (e.g. test://?size=640x360)"),
        ("test://host?size=640x360", "a test:// source takes only ?size=WxH&fps=N"),
        ("test://user:pw@", "a test:// source takes only ?size=WxH&fps=N"),
        ("test:///pattern", "a test:// source takes only ?size=WxH&fps=N"),
    ],
)
def test_parse_synthetic_errors(source: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_synthetic(source)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        validate_source(source)


def test_superscript_fps_gets_the_fps_message() -> None:
    with pytest.raises(ValueError, match="fps must be a whole number"):
        parse_synthetic("test://?fps=²")


# --- credentials: split out, put back, displayed -------------------------------------------

ROUND_TRIPS = [
    ("rtsp://cam/x", "admin", "secret"),
    ("rtsp://cam:554/x?channel=1&subtype=0", "admin", "p@ss:w/rd%#?&="),
    ("rtsp://cam/x", "ad@min:x", "@:/%#"),
    ("rtsps://[fd00::20]:322/x", "us:er@", "p@ss"),
    ("rtmp://cam/live/key", "ünï", "pässwörd✓ 密码"),
    ("http://cam/x.m3u8", "admin", ""),
    ("srt://cam:9000?streamid=read:x", None, "only-a-password"),
    ("rtsp://cam/x", "only-a-user", None),
    ("udp+mpegts://238.0.0.1:1234", "mpegts-user", "mpegts-pass"),
    ("rtsp://cam/x", "admin", "%41%2F literally"),
    ("rtsp://cam/x", "admin", "plus+and space"),
    ("rtsp://cam/x#frag", "admin", "a#b"),
]


@pytest.mark.parametrize(("source", "username", "password"), ROUND_TRIPS)
def test_credentials_round_trip(source: str, username: str | None, password: str | None) -> None:
    url = with_credentials(source, username, password)
    assert split_credentials(url) == (source, username, password)
    parts, original = urlsplit(url), urlsplit(source)
    # The special characters never confuse where the host is.
    assert (parts.hostname, parts.port, parts.path, parts.query, parts.fragment) == (
        original.hostname,
        original.port,
        original.path,
        original.query,
        original.fragment,
    )
    assert validate_source(url) == url


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("rtsp://user:pa%40ss@host/x", ("rtsp://host/x", "user", "pa@ss")),
        ("rtsp://host/x", ("rtsp://host/x", None, None)),
        ("publisher", ("publisher", None, None)),
        ("test://?fps=5", ("test://?fps=5", None, None)),
        ("rtsp://user@host/x", ("rtsp://host/x", "user", None)),
        ("rtsp://:pw@host/x", ("rtsp://host/x", None, "pw")),
        ("rtsp://user:@host/x", ("rtsp://host/x", "user", "")),
        ("rtsp://u:p@ss@host:554/x", ("rtsp://host:554/x", "u", "p@ss")),  # raw '@' too
        ("rtsp://u:p:ss@host/x", ("rtsp://host/x", "u", "p:ss")),
        ("rtsp://u:p@host/x?a=1&b=@#frag", ("rtsp://host/x?a=1&b=@#frag", "u", "p")),
        ("rtsp://u%3Ax:p%25@[fd00::1]:554", ("rtsp://[fd00::1]:554", "u:x", "p%")),
    ],
)
def test_split_credentials(source: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_credentials(source) == expected


@pytest.mark.parametrize(
    ("source", "username", "password", "expected"),
    [
        ("rtsp://cam/x", "admin", "p@ss:w/rd", "rtsp://admin:p%40ss%3Aw%2Frd@cam/x"),
        ("rtsp://cam/x", "admin", None, "rtsp://admin@cam/x"),
        ("rtsp://cam/x", None, "pw", "rtsp://:pw@cam/x"),
        ("rtsp://cam/x", None, None, "rtsp://cam/x"),
        ("rtsp://cam:8554/x?a=1", "a b", "c d", "rtsp://a%20b:c%20d@cam:8554/x?a=1"),
        ("publisher", "admin", "secret", "publisher"),
        ("test://?fps=5", "admin", "secret", "test://?fps=5"),
    ],
)
def test_with_credentials(
    source: str, username: str | None, password: str | None, expected: str
) -> None:
    assert with_credentials(source, username, password) == expected


@pytest.mark.parametrize(
    ("source", "username", "password", "expected"),
    [
        ("rtsp://cam/x", None, None, "rtsp://cam/x"),
        ("rtsp://cam/x", "admin", "secret", "rtsp://admin:***@cam/x"),
        ("rtsp://cam/x", "admin", None, "rtsp://admin@cam/x"),
        ("rtsp://cam/x", None, "secret", "rtsp://:***@cam/x"),
        ("rtsp://cam/x", "ad min", "secret", "rtsp://ad%20min:***@cam/x"),
        ("publisher", "door", "secret", "publisher"),
        ("test://?fps=5", None, None, "test://?fps=5"),
    ],
)
def test_display_source(
    source: str, username: str | None, password: str | None, expected: str
) -> None:
    assert display_source(source, username, password) == expected


@pytest.mark.parametrize(("source", "username", "password"), ROUND_TRIPS)
def test_display_source_never_contains_the_password(
    source: str, username: str | None, password: str | None
) -> None:
    shown = display_source(source, username, password)
    if password:
        assert password not in shown
        assert quote(password, safe="") not in shown
        assert "***" in shown


# --- CameraConfig's cross-field rules, through validate_config ------------------------------

TWICE = "credentials given twice: inside the source URL and as username/password"
SYNTHETIC_CREDS = "a test:// source takes no username or password"
TOGETHER = "username and password go together: give both or neither"
PUBLISHER_CREDS = (
    "a publisher camera needs username and password: the credentials it publishes with"
)


def _problems(cameras: list[Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        validate_config({"cameras": cameras})
    assert err.value.code == "config_invalid"
    return err.value.details


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"source": "rtsp://u:pw@cam/x", "username": "u", "password": "pw"}, TWICE),
        ({"source": "rtsp://u:pw@cam/x", "password": "other"}, TWICE),
        ({"source": "rtsp://u:pw@cam/x", "username": "v"}, TWICE),
        ({"source": "rtsp://u@cam/x", "password": "pw"}, TWICE),
        ({"source": "rtsp://:pw@cam/x", "username": "u"}, TWICE),
        ({"source": "test://", "username": "u"}, SYNTHETIC_CREDS),
        ({"source": "test://?fps=5", "password": "pw"}, SYNTHETIC_CREDS),
        ({"source": "test://", "username": "u", "password": "pw"}, SYNTHETIC_CREDS),
        ({"source": "publisher"}, PUBLISHER_CREDS),
        ({"source": "publisher", "username": None, "password": None}, PUBLISHER_CREDS),
        ({"source": "publisher", "username": "", "password": ""}, PUBLISHER_CREDS),
        ({"source": "publisher", "username": "u"}, TOGETHER),
        ({"source": "publisher", "password": "pw"}, TOGETHER),
        ({"source": "publisher", "username": "u", "password": ""}, TOGETHER),
        ({"source": "publisher", "username": "", "password": "pw"}, TOGETHER),
        ({"source": "rtsp://cam/x", "username": "u"}, TOGETHER),
        ({"source": "rtmp://cam/live", "password": "pw"}, TOGETHER),
        ({"source": "http://cam/x.m3u8", "username": "u", "password": ""}, TOGETHER),
    ],
)
def test_camera_cross_field_rules(entry: dict[str, Any], message: str) -> None:
    ok = {"name": "ok", "source": "publisher", "username": "u", "password": "pw"}
    problems = _problems([ok, ok | {"name": "ok2"}, {"name": "bad", **entry}])
    assert problems == [f"cameras[2]: {message}"]


def test_every_camera_problem_is_reported_with_its_index() -> None:
    problems = _problems(
        [
            {"name": "a", "source": "publisher"},
            {"name": "b", "source": "test://", "password": "pw"},
            {"name": "c", "source": "rtsp://u:pw@cam/x", "username": "u"},
            {"name": "d", "source": "rtsp://cam/x"},
        ]
    )
    assert problems == [
        f"cameras[0]: {PUBLISHER_CREDS}",
        f"cameras[1]: {SYNTHETIC_CREDS}",
        f"cameras[2]: {TWICE}",
    ]


@pytest.mark.parametrize(
    "entry",
    [
        {"source": "publisher", "username": "u", "password": "pw"},
        {"source": "rtsp://u:pw@cam/x"},
        {"source": "rtsp://cam/x", "username": "u", "password": "pw"},
        {"source": "rtsp://u:pw@cam/x", "username": "", "password": None},
        {"source": "rtsp://cam/x", "username": "", "password": ""},
        {"source": "test://?size=320x240"},
        {"source": "test://", "username": ""},
        {"source": "srt://cam:9000"},
    ],
)
def test_camera_cross_field_rules_accept(entry: dict[str, Any]) -> None:
    config = validate_config({"cameras": [{"name": "cam", **entry}]})
    assert config.cameras[0].source == entry["source"]


@pytest.mark.parametrize("source", ["rtmp://u@cam/live", "rtmp://:pw@cam/live"])
def test_one_half_of_the_credentials_in_the_url(source: str) -> None:
    assert _problems([{"name": "cam", "source": source}]) == [f"cameras[0]: {TOGETHER}"]


# Every entry holds the password "hunter2" (or "hunter 2") somewhere and is invalid.
LEAKS = [
    pytest.param({"source": "rtsp://u:hunter2@cam/x", "username": "u"}, id="twice-url"),
    pytest.param({"source": "rtsp://u:pw@cam/x", "password": "hunter2"}, id="twice-field"),
    pytest.param({"source": "test://", "password": "hunter2"}, id="synthetic-password"),
    pytest.param({"source": "publisher", "password": "hunter2"}, id="publisher-no-user"),
    pytest.param({"source": "rtsp://u:hunter2@cam:99999/x"}, id="bad-port"),
    pytest.param({"source": "ftp://u:hunter2@cam/x"}, id="bad-scheme"),
    pytest.param({"source": "rtsp://u:hunter2@cam/x y"}, id="space-in-path"),
    pytest.param({"source": "rtsp://u:hunter2@/x"}, id="no-host"),
    pytest.param({"source": "srt://u:hunter2@cam/x"}, id="srt-no-port"),
    pytest.param({"source": "rtsp://u:p@ss:hunter2@[fd00::1/x"}, id="bad-ipv6"),
    pytest.param({"source": "test://u:hunter2@"}, id="synthetic-userinfo"),
    pytest.param({"source": "rtsp://u:hunter2@cam/" + "a" * 2100}, id="too-long"),
    pytest.param({"source": ["rtsp://u:hunter2@cam/x"]}, id="source-as-list"),
    pytest.param({"source": {"url": "rtsp://u:hunter2@cam/x"}}, id="source-as-mapping"),
    pytest.param({"source": "rtsp://cam/x", "password": ["hunter2"]}, id="password-as-list"),
    pytest.param({"source": "rtsp://cam/x", "password": 12345}, id="password-as-number"),
    pytest.param(
        {"source": "rtsp://u:hunter2@cam/x", "description": "x" * 501}, id="other-field-bad"
    ),
    *[
        pytest.param({"source": source}, id=f"unencoded-{name}")
        for name, source in [
            ("hash", "rtsp://admin:hunter2#1@cam/x"),
            ("question-mark", "rtsp://admin:hunter2?@cam/x"),
            ("slash", "rtsp://u:hunter2/x@cam:99999/x"),
        ]
    ],
    pytest.param(
        {"source": "rtsp://u:hunter 2@cam/x"},
        id="space-in-password",
    ),
]


@pytest.mark.parametrize("entry", LEAKS)
def test_no_password_in_any_error_line(entry: dict[str, Any]) -> None:
    problems = _problems([{"name": "cam", **entry}])
    assert problems
    for line in problems:
        assert line.startswith("cameras[0]")
        assert "hunter" not in line
        assert "12345" not in line


def test_camera_entry_that_is_a_url_is_redacted() -> None:
    assert _problems(["rtsp://u:hunter2@cam/x"]) == [
        "cameras[0]: input should be a valid dictionary or instance of CameraConfig "
        '(got "rtsp://u:***@cam/x")'
    ]
