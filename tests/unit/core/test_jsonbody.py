"""load_json / load_json_object: strict JSON from untrusted bytes, every failure a ValueError."""

from __future__ import annotations

import pytest

from vmsd.core.jsonbody import load_json, load_json_object


def test_a_plain_object() -> None:
    raw = '{"a": "é", "b": [1, 2.5, null, true], "c": {"d": "\\u00e9"}}'.encode()
    assert load_json_object(raw) == {"a": "é", "b": [1, 2.5, None, True], "c": {"d": "é"}}


def test_escaped_lone_surrogate_is_left_to_the_caller() -> None:
    """JSON allows the escape; whether a field may hold it is the caller's rule."""
    assert load_json_object(b'{"a": "\\ud800"}') == {"a": "\ud800"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": 1, "a": 1}', "duplicate key"),
        (b'{"a": {"b": 1, "b": 2}}', "duplicate key"),
        (b'[{"b": 1, "b": 2}]', "duplicate key"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),
        ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": 1} x', "not JSON"),
        (b"", "not JSON"),
    ],
)
def test_strictness(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_json(raw)


@pytest.mark.parametrize("raw", [b"[]", b"null", b"1", b'"a"'])
def test_only_an_object_is_an_object(raw: bytes) -> None:
    load_json(raw)
    with pytest.raises(ValueError, match="not a JSON object"):
        load_json_object(raw)
