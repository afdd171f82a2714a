"""The e2e tests' client of a running daemon, over urllib (their code is synchronous): one
request function that answers every status rather than raising, a login, and a poller.

`DaemonProcess.request` and its neighbours put these on the daemon's own URL; the functions
take a whole URL for what is not the API (MediaMTX's hooks listener, a shareable link).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, TypedDict, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
# Loopback answers within seconds; a hung request fails the test after this.
TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Message  # names case-insensitive; one header repeated: [] gives the first
    body: bytes

    def json(self) -> Any:
        """The body as JSON; None when it is empty, its text when it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode(errors="replace")

    def ok(self) -> Any:
        """`json()` of a 2xx answer; any other status fails the test, with the body."""
        assert 200 <= self.status < 300, (self.status, self.body[:2000])
        return self.json()


class Options(TypedDict, total=False):
    """`request`'s keywords, for the methods that pass them on."""

    body: Any
    data: bytes | None
    token: str | None
    session: str | None
    headers: Mapping[str, str] | None
    timeout_s: float


def request(
    method: str,
    url: str,
    *,
    body: Any = None,
    data: bytes | None = None,
    token: str | None = None,
    session: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
) -> Answer:
    """`body` goes as JSON, `data` as it is (both as application/json unless `headers` say
    otherwise); `token` as a bearer token, `session` as a same-origin browser's `vmsd_session`
    cookie. An event stream never ends: its body is not read, its status and headers are the
    answer."""
    if body is not None:
        data = json.dumps(body).encode()
    sent: dict[str, str] = {}
    if data is not None:
        sent["Content-Type"] = "application/json"
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if session is not None:
        parts = urlsplit(url)
        sent["Cookie"] = f"vmsd_session={session}"
        sent["Origin"] = f"{parts.scheme}://{parts.netloc}"
    sent.update(headers or {})
    req = urllib.request.Request(url, data, sent, method=method)  # noqa: S310 - http:// tests
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            streams = "event-stream" in resp.headers.get("Content-Type", "")
            return Answer(resp.status, resp.headers, b"" if streams else resp.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.headers, err.read())


def login(base_url: str, user: str, password: str, timeout_s: float = TIMEOUT_S) -> str:
    """The value of the `vmsd_session` cookie a login as `user` sets."""
    answer = request(
        "POST",
        base_url + "/api/v1/auth/login",
        body={"username": user, "password": password},
        timeout_s=timeout_s,
    )
    assert answer.status == 200, (user, answer.status, answer.body)
    cookie = answer.headers["Set-Cookie"]
    match = re.match(r"vmsd_session=([^;]+);", cookie)
    assert match, cookie
    return match.group(1)


def until(what: str, probe: Callable[[], T], timeout_s: float = 60.0, every_s: float = 0.3) -> T:
    """`probe()`'s first truthy value, asked every `every_s`; none within `timeout_s` fails
    the test, naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"no {what} within {timeout_s} s")
