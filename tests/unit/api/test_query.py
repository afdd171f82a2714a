"""Parameter models: RFC 3339 times, query booleans, lists, one value per scalar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from multidict import MultiDict

from vmsd.api.events import EventsQuery, StreamHeaders
from vmsd.api.query import IdPath, parse_rfc3339, read_params
from vmsd.api.recordings import RecordingsQuery
from vmsd.api.tokens import TokensQuery
from vmsd.core.errors import ValidationError

RANGE = {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20t10:00:00z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T10:00:00.5+01:30", datetime(2026, 11, 20, 10, 0, 0, 500000,
                                                  timezone(timedelta(hours=1, minutes=30)))),
        ("2026-11-20T10:00:00.123456789-05:00", datetime(2026, 11, 20, 10, 0, 0, 123456,
                                                          timezone(timedelta(hours=-5)))),
    ],
)
def test_rfc3339_times(raw: str, expected: datetime) -> None:
    assert parse_rfc3339(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-20T10:00:00",  # no offset: ambiguous
        "2026-11-20",
        "20261120T100000Z",  # ISO 8601 basic: fromisoformat takes it, RFC 3339 does not
        "2026-11-20 10:00:00Z",
        "\uff12026-11-20T10:00:00Z",  # a fullwidth digit
        "2026-13-01T00:00:00Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T10:00:60Z",
        "2026-11-20T10:00:00+24:00",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: not storable
        "2026-11-20T10:00:00Z\n",
    ],
)
def test_not_rfc3339(raw: str) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_rfc3339(raw)


def test_query_lists_defaults_and_bounds() -> None:
    q = read_params(RecordingsQuery, MultiDict([*RANGE.items(), ("camera", "a"), ("camera", "b")]))
    assert q.camera == ["a", "b"]
    assert q.limit == 100
    assert q.cursor is None
    assert read_params(RecordingsQuery, MultiDict({**RANGE, "limit": "1000"})).limit == 1000


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({**RANGE, "order": "newest"}, "order"),
        ({**RANGE, "limit": "0"}, "limit"),
        ({**RANGE, "limit": "1001"}, "limit"),
        ({**RANGE, "limit": "\u0665"}, "limit"),
        ({**RANGE, "camera": ""}, "camera"),
        ({**RANGE, "cursor": ""}, "cursor"),
    ],
)
def test_bad_query_names_the_parameter(query: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        read_params(RecordingsQuery, MultiDict(query))
    assert [d["field"] for d in caught.value.details] == [field]


@pytest.mark.parametrize(
    ("query", "window"),
    [
        ({}, (None, None, True)),  # no range: the latest first
        ({"start": RANGE["start"]}, (RANGE["start"], None, False)),  # from then on
        ({"end": RANGE["end"]}, (None, RANGE["end"], True)),  # the latest before end
        (RANGE, (RANGE["start"], RANGE["end"], False)),  # a range: oldest first, as before
        ({**RANGE, "order": "desc"}, (RANGE["start"], RANGE["end"], True)),
        ({"order": "asc"}, (None, None, False)),
    ],
)
def test_recordings_window_bounds_and_order(
    query: dict[str, str], window: tuple[str | None, str | None, bool]
) -> None:
    got = read_params(RecordingsQuery, MultiDict(query)).window(None)
    start, end, newest_first = window
    assert got.start == (parse_rfc3339(start) if start else None)
    assert got.end == (parse_rfc3339(end) if end else None)
    assert got.newest_first is newest_first
    assert got.cameras is None


def test_a_plus_sent_unencoded_arrives_as_a_space_and_is_read_as_plus() -> None:
    """`?start=2026-12-01T10:00:00+00:00` typed into curl: form decoding makes the `+` a
    space. In the offset's place that can only be the `+`; anywhere else a space is refused,
    and a JSON body (which nothing decodes) keeps RFC 3339 strict."""
    q = read_params(RecordingsQuery, MultiDict({"start": "2026-12-01T10:00:00 01:00"}))
    assert q.start == datetime(2026, 12, 1, 9, tzinfo=UTC)
    for bad in ("2026-12-01 10:00:00 01:00", "2026-12-01T10:00:00  01:00", "2026-12-01T10:00:00 "):
        with pytest.raises(ValidationError):
            read_params(RecordingsQuery, MultiDict({"start": bad}))
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339("2026-12-01T10:00:00 01:00")
    assert parse_rfc3339("2026-12-01T10:00:00 01:00", decoded_plus=True) == datetime(
        2026, 12, 1, 9, tzinfo=UTC
    )


def test_a_scalar_given_twice_is_refused() -> None:
    with pytest.raises(ValidationError):
        read_params(RecordingsQuery, MultiDict([*RANGE.items(), ("limit", "5"), ("limit", "6")]))


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("false", False)])
def test_query_booleans_are_true_or_false(raw: str, value: bool) -> None:
    assert read_params(TokensQuery, MultiDict({"include_revoked": raw})).include_revoked is value


@pytest.mark.parametrize("raw", ["1", "yes", "True", "on", ""])
def test_other_booleans_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        read_params(TokensQuery, MultiDict({"include_revoked": raw}))


def test_unknown_query_parameters_are_ignored_and_choices_checked() -> None:
    assert read_params(EventsQuery, MultiDict({"_": "123"})).order == "desc"
    with pytest.raises(ValidationError):
        read_params(EventsQuery, MultiDict({"type": "no_such_event"}))
    with pytest.raises(ValidationError):
        read_params(EventsQuery, MultiDict({"order": "sideways"}))


def test_header_parameters_by_their_http_name() -> None:
    assert read_params(StreamHeaders, {"Last-Event-ID": "42"}).last_event_id == 42
    assert read_params(StreamHeaders, {}).last_event_id is None


def test_path_id() -> None:
    assert read_params(IdPath, {"id": "9"}).id == 9
    with pytest.raises(ValidationError):
        read_params(IdPath, {"id": "0"})
