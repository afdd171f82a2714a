"""schemathesis hooks (loaded by the `hooks` key of the run's config, in the schemathesis
process): the rules between parameters that JSON Schema cannot state, applied to the
requests schemathesis generates as valid, so that "valid data accepted" means valid by the
whole documented contract. Requests generated as invalid are left as they are.

- a time range's end is after its start, and a range is short (the timeline takes 31 days,
  an export exports.max_range_hours): start/end, since/until; a playback's duration is 1 s
  to exports.max_range_hours, and it starts within the last minutes (what was recorded);
- a `cursor` is one this API handed out: a string that only matches the cursor pattern is
  not one, so valid requests go without (the cursors themselves are tested in
  tests/integration/test_recordings_api.py and test_events_api.py);
- a shareable link asks for a life of at most auth.links.max_expires_in (7 days here), and
  a valid link is one the API made: a token that only matches the pattern never is (the
  fixture's, given in $VMSD_SCHEMATHESIS_LINKS);
- a valid PATCH of a camera is one of the API's own camera, and a DELETE that removed it puts
  it back, so the PATCH cases reach their work (without, schemathesis warns of missing test
  data: every valid PATCH was a 404 or a 409).

schemathesis re-validates a case a hook changed, so the check still judges what is sent.

The live view's bodies (an SDP offer, a trickle-ICE fragment) are text: they go on the wire
as schemathesis sends text/plain.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

from tests.daemon_client import request
from vmsd.core.units import parse_duration_s, parse_text_duration_s

# The fixture's camera (tests/e2e/test_schemathesis.py): recreated after a DELETE removed it.
API_CAMERA = {"name": "api-camera", "source": "rtsp://192.0.2.1/x", "record": False}

schemathesis.serializer.alias(["application/sdp", "application/trickle-ice-sdpfrag"], "text/plain")

RANGE = timedelta(minutes=10)
MAX_LINK_S = 7 * 86400.0  # auth.links.max_expires_in's default
LINK_PATHS = ("/api/v1/recordings/{id}/link", "/api/v1/exports/{id}/link")
LINKS_ENV = "VMSD_SCHEMATHESIS_LINKS"
PAIRS = (("start", "end"), ("since", "until"))
PLAYBACK_PATHS = ("/api/v1/cameras/{name}/playback", "/api/v1/cameras/{name}/playback/plan")
PLAYBACK_S = (1.0, 24 * 3600.0)  # exports.max_range_hours's default


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _seconds(duration: Any) -> float:
    """A duration the API takes, in seconds; 0 for none (left to the API to judge)."""
    try:
        return parse_duration_s(duration)
    except ValueError:
        return 0.0


def _ordered(values: dict[str, Any]) -> None:
    for first, second in PAIRS:
        start, end = _time(values.get(first)), _time(values.get(second))
        if start is None or end is None or start < end <= start + RANGE:
            continue
        try:
            values[second] = (start + RANGE).isoformat()
        except OverflowError:  # start is at the end of time: move start back instead
            values[first] = (end - RANGE).isoformat()


def _playback_range(values: dict[str, Any]) -> None:
    try:
        seconds = parse_text_duration_s(values.get("duration"))
    except ValueError:
        return  # not one the API takes: left to the API to judge
    if not PLAYBACK_S[0] <= seconds <= PLAYBACK_S[1]:
        values["duration"] = "60"
        seconds = 60.0
    start = _time(values.get("start"))
    if start is not None:
        # A valid request plays what the fixture's cameras recorded (the last minutes), so it
        # reaches the streaming; a start drawn anywhere in time would all but always be a 404
        # (nothing recorded), which the playback tests check themselves.
        now = datetime.now(UTC)
        if not now - timedelta(minutes=10) <= start <= now:
            values["start"] = (now - timedelta(seconds=30)).isoformat()


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if isinstance(case.query, dict):
        _ordered(case.query)
        case.query.pop("cursor", None)
        if case.path in PLAYBACK_PATHS:
            _playback_range(case.query)
    if isinstance(case.body, dict):
        _ordered(case.body)
        if case.path in LINK_PATHS and _seconds(case.body.get("expires_in")) > MAX_LINK_S:
            case.body["expires_in"] = "1h"
    if case.path == "/api/v1/links/{token}" and os.environ.get(LINKS_ENV):
        tokens = json.loads(os.environ[LINKS_ENV])
        token = tokens[hash(str(case.path_parameters)) % len(tokens)]
        case.path_parameters = {**(case.path_parameters or {}), "token": token}
    if case.method.upper() == "PATCH" and case.path == "/api/v1/cameras/{name}":
        # A valid PATCH is one of a camera the API may change: the config file's are
        # read-only (409), any other name is no camera (404).
        case.path_parameters = {**(case.path_parameters or {}), "name": API_CAMERA["name"]}


@schemathesis.hook
def after_call(context: schemathesis.HookContext, case: schemathesis.Case, response: Any) -> None:
    if case.method.upper() != "DELETE" or case.path != "/api/v1/cameras/{name}":
        return
    if (case.path_parameters or {}).get("name") != API_CAMERA["name"]:
        return
    if response.status_code != 204:
        return
    sent = response.request
    base = sent.url.split("/api/v1/cameras/", 1)[0]
    auth = {"Authorization": sent.headers["Authorization"]}
    request("POST", f"{base}/api/v1/cameras", body=API_CAMERA, headers=auth).ok()
