"""Redaction of URL credentials and secret parameters: every form, and the way back."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from vmsd.core.redact import (
    REDACTED,
    find_secrets,
    is_secret_param,
    redact_field,
    redact_text,
    redact_value,
    restore_secrets,
)
from vmsd.core.sources import display_source, split_credentials, with_credentials


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the query's secret parameters, any case
        ("rtsp://cam/x?token=abc123", "rtsp://cam/x?token=***"),
        ("rtsp://cam/x?TOKEN=abc123", "rtsp://cam/x?TOKEN=***"),
        ("rtmp://h/app?user=bob&pass=pw1", "rtmp://h/app?user=bob&pass=***"),
        ("http://h/x?password=a&passwd=b&pwd=c", "http://h/x?password=***&passwd=***&pwd=***"),
        ("http://h/x?secret=a&auth=b&jwt=c", "http://h/x?secret=***&auth=***&jwt=***"),
        ("http://h/x?key=a&api_key=b&apikey=c", "http://h/x?key=***&api_key=***&apikey=***"),
        ("http://h/x?api-key=a&X-Api-Key=b", "http://h/x?api-key=***&X-Api-Key=***"),
        (
            "http://h/x?access_token=a&client_secret=b",
            "http://h/x?access_token=***&client_secret=***",
        ),
        (
            "https://s3/o?X-Amz-Signature=ff&X-Amz-Credential=k",
            "https://s3/o?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        (
            "srt://h:9000?passphrase=longsecret1&latency=200",
            "srt://h:9000?passphrase=***&latency=200",
        ),
        # percent-encoded names ("%74oken" is "token", "pass%77ord" is "password")
        ("http://h/x?%74oken=abc", "http://h/x?%74oken=***"),
        ("http://h/x?pass%77ord=abc&b=1", "http://h/x?pass%77ord=***&b=1"),
        # ';' separators, fragments, repeated parameters
        ("http://h/x?a=1;token=abc;b=2", "http://h/x?a=1;token=***;b=2"),
        ("http://h/cb#access_token=abc&state=1", "http://h/cb#access_token=***&state=1"),
        ("http://h/x?a=1#token=abc", "http://h/x?a=1#token=***"),
        ("http://h/x?token=a&token=b&token=c", "http://h/x?token=***&token=***&token=***"),
        # a value runs to the next & ; whitespace or quote, '#' included (no tail is left)
        ("open 'http://h/x?token=abc' failed", "open 'http://h/x?token=***' failed"),
        ('url="http://h/x?token=abc"', 'url="http://h/x?token=***"'),
        ("http://h/x?token=abc def", "http://h/x?token=*** def"),
        ("http://h/x?token=ab#cd&b=1", "http://h/x?token=***&b=1"),
        ("http://h/x?token=a%26b", "http://h/x?token=***"),
        # userinfo and query secrets together
        ("rtsp://admin:pw@cam/x?token=t", "rtsp://admin:***@cam/x?token=***"),
        # SRT stream ids: MediaMTX's syntax, the standard one, percent-encoded
        ("srt://h:1?streamid=read:cam", "srt://h:1?streamid=read:cam"),
        ("srt://h:1?streamid=read:cam:jwt=eyJ", "srt://h:1?streamid=read:cam:***"),
        ("srt://h:1?streamid=read:cam:bob:pw", "srt://h:1?streamid=read:cam:bob:***"),
        ("srt://h:1?streamid=read:cam:bob:pw:q=1", "srt://h:1?streamid=read:cam:bob:***:***"),
        ("srt://h:1?streamid=a:b:c:d:e:f", "srt://h:1?streamid=a:b:c:***"),
        (
            "srt://h:1?streamid=#!::m=request,r=cam,u=bob,s=pw&latency=200",
            "srt://h:1?streamid=#!::m=request,r=cam,u=bob,s=***&latency=200",
        ),
        (
            "srt://h:1?streamid=#!::r=live/cam,token=t1,m=request",
            "srt://h:1?streamid=#!::r=live/cam,token=***,m=request",
        ),
        ("srt://h:1?streamid=%23%21%3A%3Au%3Dbob%2Cs%3Dpw", "srt://h:1?streamid=***"),
        ("srt://h:1?streamid=read%3Acam", "srt://h:1?streamid=read%3Acam"),
        ("srt://h:1?streamid=live/stream1", "srt://h:1?streamid=live/stream1"),
        # FFmpeg's own lines, as it prints them
        (
            "srt://127.0.0.1:9?passphrase=topsecret123&streamid=read:cam:u:pw: Input/output error",
            "srt://127.0.0.1:9?passphrase=***&streamid=read:cam:u:***: Input/output error",
        ),
        (
            "rtsp://admin:wrong@127.0.0.1:42659/cam1?token=abc: Server returned 401 Unauthorized",
            "rtsp://admin:***@127.0.0.1:42659/cam1?token=***: Server returned 401 Unauthorized",
        ),
        # nothing secret: left alone
        (
            "[tcp @ 0x5638] Connection to tcp://127.0.0.1:1?timeout=3000000 failed",
            "[tcp @ 0x5638] Connection to tcp://127.0.0.1:1?timeout=3000000 failed",
        ),
        (
            "srt://h:1?pkt_size=1316&latency=200&pbkeylen=16",
            "srt://h:1?pkt_size=1316&latency=200&pbkeylen=16",
        ),
        (
            "http://h/x?user=bob&username=bob&tokens_total=3",
            "http://h/x?user=bob&username=bob&tokens_total=3",
        ),
        ("http://h/x?token=", "http://h/x?token="),
        ("password=hunter2 in a sentence", "password=hunter2 in a sentence"),
        ("segment_indexed camera=cam1", "segment_indexed camera=cam1"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "name",
    ["token", "TOKEN", "Password", "%74oken", "x-api-key", "refresh_token", "passphrase", "sig"],
)
def test_secret_parameter_names(name: str) -> None:
    assert is_secret_param(name)


@pytest.mark.parametrize("name", ["user", "username", "timeout", "latency", "pkt_size", "streamid"])
def test_plain_parameter_names(name: str) -> None:
    assert not is_secret_param(name)


def test_slots_name_the_place_of_each_secret() -> None:
    text = "rtsp://u:p@h/x?token=a&Token=b&streamid=#!::u=bob,s=pw"
    assert [(s.slot, text[s.start : s.end]) for s in find_secrets(text)] == [
        ("userinfo#0", "p"),
        ("param:token#0", "a"),
        ("param:token#1", "b"),
        ("streamid:s#0", "pw"),
    ]


def test_a_secret_inside_another_is_found_once() -> None:
    # The userinfo runs to the last '@': the token after it is inside that span already.
    text = "rtsp://u:p@h/x?token=a@b"
    assert [s.slot for s in find_secrets(text)] == ["userinfo#0"]
    assert redact_text(text) == "rtsp://u:***@b"


# --- display_source: what the API shows ----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "username", "password", "expected"),
    [
        ("rtsp://cam/x?token=abc123", None, None, "rtsp://cam/x?token=***"),
        ("rtsp://cam/x?token=abc123", "admin", "pw", "rtsp://admin:***@cam/x?token=***"),
        ("srt://h:1?passphrase=s3cretphrase", None, None, "srt://h:1?passphrase=***"),
        ("srt://h:1?streamid=read:cam:bob:pw", None, None, "srt://h:1?streamid=read:cam:bob:***"),
        ("rtsp://cam/x?channel=1", "admin", None, "rtsp://admin@cam/x?channel=1"),
        ("publisher", "pub", "pw", "publisher"),
    ],
)
def test_display_source_hides_query_secrets(
    source: str, username: str | None, password: str | None, expected: str
) -> None:
    assert display_source(source, username, password) == expected


# --- restore_secrets: a redacted source sent back keeps the stored secrets ------------------


@pytest.mark.parametrize(
    ("source", "username", "password"),
    [
        ("rtsp://cam/x?token=abc123", None, None),
        ("rtsp://cam/x?token=abc123&channel=2", "admin", "p@ss:w/rd"),
        ("srt://h:1?passphrase=s3cretphrase&streamid=read:cam:bob:pw", None, None),
        ("srt://h:1?streamid=#!::m=request,r=cam,u=bob,s=pw", None, None),
        ("srt://h:1?streamid=%23%21%3A%3Au%3Dbob%2Cs%3Dpw", None, None),
        ("http://h/x?token=a&token=b#access_token=c", None, None),
    ],
)
def test_the_displayed_source_sent_back_is_the_stored_one(
    source: str, username: str | None, password: str | None
) -> None:
    stored = with_credentials(source, username, password)
    shown = display_source(source, username, password)
    assert shown != stored
    restored = restore_secrets(shown, stored)
    assert restored == stored
    assert split_credentials(restored) == (source, username, password)


def test_an_edited_source_keeps_the_secrets_by_name() -> None:
    stored = "rtsp://admin:pw@cam/x?token=abc&channel=1"
    edited = "rtsp://admin:***@cam2/y?channel=2&token=***"
    assert restore_secrets(edited, stored) == "rtsp://admin:pw@cam2/y?channel=2&token=abc"


def test_a_new_secret_replaces_the_stored_one() -> None:
    stored = "rtsp://cam/x?token=abc"
    assert restore_secrets("rtsp://cam/x?token=new", stored) == "rtsp://cam/x?token=new"


@pytest.mark.parametrize(
    ("text", "stored", "what"),
    [
        ("rtsp://cam/x?token=***", "rtsp://cam/x", "token parameter"),
        ("rtsp://u:***@cam/x", "rtsp://u@cam/x", "password"),
        ("rtsp://cam/x?token=a&token=***", "rtsp://cam/x?token=a", "token parameter"),
        ("srt://h:1?streamid=read:cam:u:***", "srt://h:1?streamid=read:cam", "stream id"),
        ("rtsp://cam/x?token=***", "", "token parameter"),
    ],
)
def test_a_placeholder_with_nothing_stored_is_refused(text: str, stored: str, what: str) -> None:
    with pytest.raises(ValueError, match=what) as err:
        restore_secrets(text, stored)
    assert REDACTED in str(err.value)


def test_no_placeholder_no_change() -> None:
    assert restore_secrets("rtsp://cam/x?token=abc", "") == "rtsp://cam/x?token=abc"


# --- structured values (log events, event payloads) -----------------------------------------


def test_redact_value_by_key_and_inside_strings() -> None:
    value = {
        "source": "srt://h:1?passphrase=hunter2hunter2",
        "nested": [{"api_key": "hunter2", "url": "http://h/x?jwt=hunter2"}],
        "hook_secret": "hunter2",
        "dsn": "hunter2",
        "obj": SecretStr("hunter2"),
        "tail": ("rtsp://cam/x?token=hunter2: 401",),
        "keys": ["password", "source"],
    }
    out = redact_value(value)
    assert "hunter2" not in json.dumps(out, default=str)
    assert out["keys"] == ["password", "source"]
    assert isinstance(out["tail"], tuple)
    assert redact_field("password", None) is None
