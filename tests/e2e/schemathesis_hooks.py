"""schemathesis hooks (loaded by the `hooks` key of the run's config, in the schemathesis
process): the rules between parameters that JSON Schema cannot state, applied to the
requests schemathesis generates as valid, so that "valid data accepted" means valid by the
whole documented contract. Requests generated as invalid are left as they are.

- a time range's end is after its start, and a range is short (the timeline takes 31 days,
  an export exports.max_range_hours): start/end, since/until;
- a `cursor` is one this API handed out: a string that only matches the cursor pattern is
  not one, so valid requests go without (the cursors themselves are tested in
  tests/integration/test_recordings_api.py and test_events_api.py).

schemathesis re-validates a case a hook changed, so the check still judges what is sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import schemathesis

RANGE = timedelta(minutes=10)
PAIRS = (("start", "end"), ("since", "until"))


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _ordered(values: dict[str, Any]) -> None:
    for first, second in PAIRS:
        start, end = _time(values.get(first)), _time(values.get(second))
        if start is None or end is None or start < end <= start + RANGE:
            continue
        try:
            values[second] = (start + RANGE).isoformat()
        except OverflowError:  # start is at the end of time: move start back instead
            values[first] = (end - RANGE).isoformat()


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if isinstance(case.query, dict):
        _ordered(case.query)
        case.query.pop("cursor", None)
    if isinstance(case.body, dict):
        _ordered(case.body)
