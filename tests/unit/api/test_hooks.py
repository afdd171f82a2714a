"""The availability hook's body: what `vmsd hook` sends is accepted, anything else is a 400 or
a 422 naming each bad field, and no message echoes what was sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vmsd.api.hooks import MAX_SOURCE_CHARS, AvailabilityReport, parse_availability
from vmsd.core.errors import BadRequestError, ValidationError

SECRETISH = "hunter2"


def report(**fields: Any) -> bytes:
    doc: dict[str, Any] = {"path": "front", "source_type": "rtspSource", "source_id": ""}
    doc.update(fields)
    return json.dumps(doc).encode()


def test_what_vmsd_hook_sends() -> None:
    uuid = "4d2c3f0e-8a5b-4f7e-9a51-3c1f0b6d2e7a"
    assert parse_availability(report(source_type="rtspSession", source_id=uuid)) == (
        AvailabilityReport("front", "rtspSession", uuid)
    )


def test_source_fields_are_optional_and_unknown_keys_ignored() -> None:
    raw = json.dumps({"path": "cam-1_b", "future": {"x": [1, None]}}).encode()
    assert parse_availability(raw) == AvailabilityReport("cam-1_b", "", "")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"path=front", id="form"),
        pytest.param(b'{"path": "front"', id="truncated"),
        pytest.param(b'{"path": "front", "path": "../x"}', id="duplicate-key"),
        pytest.param(b'{"path": "front", "source_id": NaN}', id="nan"),
        pytest.param(b'{"path": "\xff"}', id="not-utf8"),
        pytest.param(b'{"path": "\xed\xa0\x80"}', id="raw-surrogate"),
        pytest.param('{"path": "front"}'.encode("utf-16"), id="utf-16"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-nested"),
    ],
)
def test_not_strict_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequestError):
        parse_availability(raw)


@pytest.mark.parametrize("raw", [b"[]", b'["front"]', b'"front"', b"null", b"1"])
def test_not_an_object_is_invalid(raw: bytes) -> None:
    with pytest.raises(ValidationError, match="JSON object"):
        parse_availability(raw)


BAD_PATHS = [
    "", "../front", "/front", "front/", "front/../front", "%2e%2e%2ffront", "..%2Ffront",
    "Front", "front\n", "\nfront", "front\x00", "front\r\n", "fr ont", "-front", "_front",
    "front.", "a" * 64, "all", "all_others", "\ud800", "fr\u00f6nt",
    "\uff46\uff52\uff4f\uff4e\uff54",  # fullwidth
]  # fmt: skip


@pytest.mark.parametrize("path", BAD_PATHS, ids=repr)
def test_path_must_be_a_camera_name(path: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_availability(report(path=path))
    assert [d["field"] for d in err.value.details] == ["path"]


WRONG_TYPES = [None, 0, 1.5, True, False, [], [SECRETISH], {}, {"v": SECRETISH}]


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("key", ["path", "source_type", "source_id"])
def test_wrong_types_are_named_not_echoed(key: str, value: Any) -> None:
    with pytest.raises(ValidationError) as err:
        parse_availability(report(**{key: value}))
    assert [d["field"] for d in err.value.details] == [key]
    assert SECRETISH not in json.dumps(err.value.details) + err.value.message


@pytest.mark.parametrize(
    "value",
    ["a" * (MAX_SOURCE_CHARS + 1), "rtsp\x00Source", "rtsp\nSource", "\x1b[31m", "\ud800"],
    ids=["overlong", "nul", "newline", "escape", "lone-surrogate"],
)
@pytest.mark.parametrize("key", ["source_type", "source_id"])
def test_source_fields_are_short_printable_strings(key: str, value: str) -> None:
    assert parse_availability(report(**{key: "a" * MAX_SOURCE_CHARS}))
    with pytest.raises(ValidationError) as err:
        parse_availability(report(**{key: value}))
    assert [d["field"] for d in err.value.details] == [key]


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as err:
        parse_availability(report(path="../x", source_type=1, source_id=[]))
    assert [d["field"] for d in err.value.details] == ["path", "source_type", "source_id"]
