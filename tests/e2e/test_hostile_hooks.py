"""Hostile input to the MediaMTX-facing listener of the real daemon: its auth endpoint and
both availability hooks, over raw loopback TCP (so a request can be anything: a lying
Content-Length, a body that never ends, bytes that are not UTF-8, a repeated key).

Every one is refused: the auth endpoint with a non-2xx (401, or 413/408 for a body refused
unread or too slow), the hooks with a 4xx in the API's {"error": {...}} shape, never a 500.
After each test the daemon must still be itself (autouse `still_serving`): the process alive,
/healthz 200, a well-formed auth request allowed, and the cameras the hostile requests named
unchanged, with no event. MediaMTX runs `external` and is absent: nothing but these requests
touches the cameras' state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from tests.daemon_client import request
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.net import free_port
from tests.paths import REPO_ROOT
from vmsd.access.secrets import HOOK_SECRET_FILE_NAME
from vmsd.api.hooks import BODY_READ_TIMEOUT_S, MAX_HOOK_BODY_BYTES

HOST = "127.0.0.1"
AUTH = "/hooks/mediamtx/auth"
HOOKS = ("/hooks/mediamtx/available", "/hooks/mediamtx/unavailable")
UUID = "4d2c3f0e-8a5b-4f7e-9a51-3c1f0b6d2e7a"
WATCHED = ("gate", "door")  # what hostile requests name; `spare` is for the one good hook
CAMERAS = [
    {"name": "gate", "source": "rtsp://192.0.2.7/h264", "record": False},
    {"name": "door", "source": "publisher", "username": "door", "password": "door-pw-4711",
     "record": False},
    {"name": "spare", "source": "rtsp://192.0.2.8/h264", "record": False},
]  # fmt: skip
MIB = 1024 * 1024


@dataclass
class Target:
    daemon: DaemonProcess
    port: int
    key: str
    viewer: str
    admin: str
    baseline: dict[str, Any]

    def auth_body(self, ip: str = "198.51.100.66", **overrides: Any) -> dict[str, Any]:
        """A read of `gate` with a viewer token, as MediaMTX v1.20 sends it: allowed as is."""
        body = {
            "user": "", "password": "", "token": self.viewer, "ip": ip, "action": "read",
            "path": "gate", "protocol": "rtsp", "id": UUID, "query": "",
            "userAgent": "VLC/3.0.20 LibVLC/3.0.20",
        }  # fmt: skip
        body.update(overrides)
        return body

    def url(self, path: str, key: str | None = None) -> str:
        return f"{path}?key={quote(self.key if key is None else key, safe='')}"

    def api(self, path: str) -> Any:
        status, body = self.daemon.get(path, self.admin)
        assert status == 200, body
        return body

    def watched_state(self) -> dict[str, Any]:
        cameras = {c: self.api(f"/api/v1/cameras/{c}") for c in WATCHED}
        events = self.api("/api/v1/events?" + "&".join(f"camera={c}" for c in WATCHED))
        return {
            "states": {c: (b["state"], b["state_reason"]) for c, b in cameras.items()},
            "events": [e["id"] for e in events["items"]],
        }


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("hostile")
    hooks_port = free_port()
    mediamtx = {
        "mode": "external",
        "base_config": str(REPO_ROOT / "mediamtx.yml"),
        "config_path": str(tmp / "mediamtx" / "mediamtx.yml"),
        "hooks_port": hooks_port,
        "api_port": free_port(),  # nothing listens: MediaMTX is not running here
    }
    # No API rate limit: every hostile request is followed by API reads of the cameras' state,
    # hundreds a second from one token, which is the checking, not the thing checked.
    config = write_config(
        tmp, mediamtx=mediamtx, cameras=CAMERAS, auth={"rate_limit": {"requests_per_second": 0}}
    )
    tokens = [create_token(config, role, role) for role in ("viewer", "admin")]
    daemon = DaemonProcess(config)
    try:
        daemon.start().wait_ready()
        key = (daemon.state_dir / HOOK_SECRET_FILE_NAME).read_text().strip()
        t = Target(daemon, hooks_port, key, tokens[0], tokens[1], {})
        t.baseline = t.watched_state()
        yield t
        assert daemon.stop() == 0
        events = daemon.log_events()
        bad = [
            e for e in events
            if e.get("level") in ("error", "critical") or "Traceback" in json.dumps(e)
        ]  # fmt: skip
        assert bad == [], bad[:3]
        log = daemon.log_text()
        for secret in (key, *tokens, "door-pw-4711"):
            assert secret not in log
    finally:
        daemon.close()


@pytest.fixture(autouse=True)
def still_serving(target: Target) -> Iterator[None]:
    yield
    assert target.daemon.proc is not None and target.daemon.proc.poll() is None, "daemon died"
    assert target.daemon.get("/healthz")[0] == 200
    # From another ip than the hostile requests', so no damping could explain a refusal.
    good = dumps(target.auth_body(ip="192.0.2.50"))
    assert post(target, target.url(AUTH), good) == 200, "a good auth request is refused"
    assert target.watched_state() == target.baseline, "a hostile request changed something"


def post(target: Target, url: str, body: bytes) -> int:
    """What `vmsd hook` does (urllib, a JSON POST): the status."""
    return request("POST", f"http://{HOST}:{target.port}{url}", data=body, timeout_s=10).status


# --- a raw HTTP/1.1 client ---------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def error(self) -> dict[str, Any]:
        """The API's error shape, or the assertion says what came instead."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        doc = json.loads(self.body)
        assert list(doc) == ["error"], doc
        error = doc["error"]
        assert set(error) == {"code", "message", "details"}, doc
        assert isinstance(error["code"], str) and error["code"], doc
        assert isinstance(error["message"], str) and error["message"], doc
        assert isinstance(error["details"], list), doc
        return error  # type: ignore[no-any-return]


def http(
    target: str,
    body: bytes = b"",
    *,
    method: str = "POST",
    content_type: str | None = "application/json",
    content_length: int | None = None,
    headers: tuple[str, ...] = (),
) -> bytes:
    """One request exactly as given: `content_length` may lie; headers are raw lines."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}", "Connection: close", *headers]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_reply(reader: asyncio.StreamReader, head_only: bool = False) -> Reply:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *lines = head.rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    return Reply(int(status_line.split()[1]), headers, await reader.readexactly(length))


async def exchange(port: int, raw: bytes, *, timeout: float = 10.0, head: bool = False) -> Reply:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(raw)
        async with asyncio.timeout(timeout):
            await writer.drain()
            return await read_reply(reader, head_only=head)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def auth_status(target: Target, body: bytes, **kw: Any) -> int:
    reply = await exchange(target.port, http(target.url(AUTH), body, **kw))
    assert reply.body == b"", reply  # MediaMTX reads only the status
    return reply.status


async def hook_error(target: Target, raw: bytes) -> tuple[int, str]:
    reply = await exchange(target.port, raw)
    return reply.status, reply.error()["code"]


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# --- the auth endpoint: bodies -----------------------------------------------------------

STRING_FIELDS = ("user", "password", "token", "ip", "action", "path", "protocol", "query")
WRONG_TYPES = [None, 0, -1, 1.5, 1e308, True, False, [], ["x"], {}, {"v": "x"}]
NOT_JSON = [
    b"", b" ", b"\r\n", b"user=a&password=b", b"<xml/>", b"{", b"}", b'{"action": "read"',
    b'{"a": 1}{"b": 2}', b'{"a": NaN}', b'{"a": Infinity}', b"{'action': 'read'}",
    b'{"action": "read",}', b'{"path": "gate", "path": "gate"}',
    b'{"path": "g\\u0061te", "path": "gate"}',  # the same key once decoded
]  # fmt: skip
NOT_AN_OBJECT = [b"null", b"0", b"true", b'"gate"', b"[]", b"[{}]", b'["gate"]']
NOT_UTF8 = [
    b'{"path": "\xff"}', b"\xff\xfe", b'{"user": "\xc3\x28"}', b'{"user": "\xed\xa0\x80"}',
    b'{"user": "\xc0\xaf"}', b'{"user": "\xf8\x88\x80\x80\x80"}', b"\xef\xbb\xbf{}",
]  # fmt: skip


async def test_a_well_formed_request_is_allowed(target: Target) -> None:
    """The control for everything below: each case is this request with one thing wrong."""
    assert await auth_status(target, dumps(target.auth_body())) == 200


@pytest.mark.parametrize("raw", NOT_JSON + NOT_AN_OBJECT + NOT_UTF8, ids=repr)
async def test_auth_body_not_a_json_object(target: Target, raw: bytes) -> None:
    assert await auth_status(target, raw) == 401


@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("key", [*STRING_FIELDS, "id"])
async def test_auth_wrong_type_for_every_field(target: Target, key: str, value: Any) -> None:
    if key == "id" and value is None:
        pytest.skip("null is what MediaMTX sends as the id of api/metrics/pprof/playback")
    assert await auth_status(target, dumps(target.auth_body(**{key: value}))) == 401


@pytest.mark.parametrize("key", [*STRING_FIELDS, "id"])
async def test_auth_lone_surrogate_in_every_field(target: Target, key: str) -> None:
    good = target.auth_body()
    raw = dumps(good).replace(f'"{key}": "'.encode(), f'"{key}": "\\ud800'.encode(), 1)
    assert b"\\ud800" in raw
    assert await auth_status(target, raw) == 401


@pytest.mark.parametrize("key", [*STRING_FIELDS, "id"])
async def test_auth_nul_in_every_field(target: Target, key: str) -> None:
    value = target.auth_body()[key] + "\x00"
    assert await auth_status(target, dumps(target.auth_body(**{key: value}))) == 401


@pytest.mark.parametrize("key", [*STRING_FIELDS, "id"])
async def test_auth_overlong_field(target: Target, key: str) -> None:
    value = target.auth_body()[key] + "a" * 5000  # the valid value, made too long
    assert await auth_status(target, dumps(target.auth_body(**{key: value}))) == 401


TRAVERSALS = [
    "../gate", "/gate", "gate/", "./gate", "gate/..", "../../etc/passwd", "/etc/passwd",
    "%2e%2e%2fgate", "..%2Fgate", "%2Fgate", "gate%00", "..\\gate", "C:\\gate", "gate\n",
    "GATE", "gate ", " gate", "all", "all_others", "~", "*", "gate/../door",
    "\uff47\uff41\uff54\uff45",  # fullwidth
]  # fmt: skip


@pytest.mark.parametrize("path", TRAVERSALS, ids=repr)
@pytest.mark.parametrize("action", ["read", "playback", "publish"])
async def test_auth_path_is_a_camera_name(target: Target, action: str, path: str) -> None:
    # publish with the door camera's own credentials: only the path is wrong.
    creds = {"user": "door", "password": "door-pw-4711", "token": ""} if action == "publish" else {}
    body = target.auth_body(action=action, path=path, **creds)
    assert await auth_status(target, dumps(body)) == 401


async def test_auth_the_publish_control_is_allowed(target: Target) -> None:
    body = target.auth_body(action="publish", path="door", user="door", password="door-pw-4711")
    assert await auth_status(target, dumps(body | {"token": ""})) == 200


UNKNOWN_ACTIONS = ["", "READ", "read ", " read", "reads", "delete", "admin", "*", "read\x00",
                   "publish,read", "playback/../read", "\u0440ead"]  # fmt: skip


@pytest.mark.parametrize("action", UNKNOWN_ACTIONS, ids=repr)
async def test_auth_unknown_action(target: Target, action: str) -> None:
    assert await auth_status(target, dumps(target.auth_body(action=action))) == 401


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1"])
async def test_auth_valid_body_in_another_encoding(target: Target, encoding: str) -> None:
    body = json.dumps(target.auth_body(userAgent="Lavf/61 \u00e9"), ensure_ascii=False)
    assert await auth_status(target, body.encode(encoding)) == 401


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
     "application/jsonx", "application/json-patch+json", "json", "*/*", "application/xml"],
)  # fmt: skip
async def test_auth_wrong_content_type(target: Target, content_type: str | None) -> None:
    body = dumps(target.auth_body())
    assert await auth_status(target, body, content_type=content_type) == 401


async def test_auth_content_type_with_charset_is_json(target: Target) -> None:
    body = dumps(target.auth_body())
    ctype = "Application/JSON; charset=utf-8"
    assert await auth_status(target, body, content_type=ctype) == 200


@pytest.mark.parametrize(
    ("key", "pairs"),
    [
        ("path", '"path": "gate", "path": "gate"'),  # even the same value twice
        ("path", '"path": "door", "path": "gate"'),
        ("user", '"user": "vmsd-internal", "user": ""'),
        ("token", '"token": "", "token": "{viewer}"'),
        ("token", '"token": "{viewer}", "\\u0074oken": "{viewer}"'),  # the same, escaped
        ("action", '"action": "publish", "action": "read"'),
        ("userAgent", '"userAgent": {"a": 1, "a": 2}'),  # in a key vmsd ignores
    ],
)
async def test_auth_duplicate_keys(target: Target, key: str, pairs: str) -> None:
    rest = {k: v for k, v in target.auth_body().items() if k != key}
    raw = "{" + pairs.replace("{viewer}", target.viewer) + ", " + json.dumps(rest)[1:]
    assert json.loads(raw)  # valid JSON to a lax parser, which keeps the last
    assert await auth_status(target, raw.encode()) == 401


# --- the auth endpoint: the request around the body ---------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "", "?", "?key", "?key=", "?key=wrong", "?KEY={key}", "?Key={key}", "?key={key}x",
        "?key=x{key}", "?key={key}&key=wrong", "?key=wrong&key={key}", "?key={key}&key={key}",
        "?key%3D{key}", "?k%65y={key}x", "?key={key}%00", "?key=%00{key}", "?key=%ED%A0%80",
        "?key=%FF", "?key={upper}", "?key=%20{key}", "?key={key}+", "?key={half}",
    ],
)  # fmt: skip
async def test_auth_hook_key(target: Target, query: str) -> None:
    k = target.key
    raw_query = query.format(key=k, upper=k.upper(), half=k[: len(k) // 2])
    reply = await exchange(target.port, http(AUTH + raw_query, dumps(target.auth_body())))
    assert reply.status == 401, (raw_query, reply)


async def test_auth_hook_key_in_the_body_or_a_header_is_no_key(target: Target) -> None:
    body = dumps(target.auth_body(key=target.key))
    headers = (f"X-Key: {target.key}", f"Authorization: Bearer {target.key}")
    reply = await exchange(target.port, http(AUTH, body, headers=headers))
    assert reply.status == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
@pytest.mark.parametrize("path", [AUTH, *HOOKS])
async def test_wrong_methods(target: Target, path: str, method: str) -> None:
    body = dumps(target.auth_body() if path == AUTH else {"path": "gate"})
    reply = await exchange(target.port, http(target.url(path), body, method=method))
    assert reply.status == 405 and reply.headers["allow"] == "POST"
    assert reply.error()["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", [AUTH, *HOOKS])
async def test_head_is_not_allowed(target: Target, path: str) -> None:
    reply = await exchange(target.port, http(target.url(path), method="HEAD"), head=True)
    assert reply.status == 405


@pytest.mark.parametrize(
    "path",
    ["/", "/hooks", "/hooks/mediamtx", "/hooks/mediamtx/", "/hooks/mediamtx/auth/",
     "/hooks/mediamtx/AUTH", "/hooks/mediamtx/online", "/hooks/mediamtx/../mediamtx/auth",
     "/hooks/mediamtx/%2e%2e/auth", "/api/v1/cameras", "/healthz", "//hooks/mediamtx/auth"],
)  # fmt: skip
async def test_unknown_endpoints(target: Target, path: str) -> None:
    reply = await exchange(target.port, http(target.url(path), dumps({"path": "gate"})))
    assert (reply.status, reply.error()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "request_line",
    ["POST {url} HTTP/1.1 x", "POST {url}\x00 HTTP/1.1", "POST  {url} HTTP/1.1",
     "POST {url} HTTP/9.9", "POST {url}#frag HTTP/1.1", "POST http://x{url}\xff HTTP/1.1",
     "P\xd6ST {url} HTTP/1.1", "POST {url}&" + "a" * 9000 + " HTTP/1.1"],
)  # fmt: skip
async def test_a_request_aiohttp_cannot_parse(target: Target, request_line: str) -> None:
    """aiohttp answers 400 itself, before any handler (no error logged: checked at the end)."""
    head = request_line.format(url=target.url(AUTH)) + "\r\nContent-Length: 0\r\n\r\n"
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        reply = await exchange(target.port, head.encode("latin-1"))
        assert 400 <= reply.status < 500


async def test_a_bad_request_line_is_one_info_line_without_the_key(target: Target) -> None:
    """It used to be an error with a traceback whose locals held the request line, and so
    the hook key (no secret in the log at all: checked at the end)."""
    def logged() -> list[dict[str, Any]]:
        return [e for e in target.daemon.log_events() if e["event"] == "http_bad_request"]

    before = len(logged())
    reply = await exchange(target.port, f"POST {target.url(AUTH)} HTTP/1.1 x\r\n\r\n".encode())
    assert reply.status == 400
    deadline = time.monotonic() + 5
    while len(logged()) == before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [e["level"] for e in logged()[before:]] == ["info"]


@pytest.mark.parametrize(
    "header",
    ["Content-Length: -1", "Content-Length: 1x", "Content-Length: 5\r\nContent-Length: 6",
     "Transfer-Encoding: gzip", "Transfer-Encoding: chunked\r\nContent-Length: 5",
     "X-\x00: y", "Bad Header: y", "X-Long: " + "a" * 9000, ": empty-name"],
)  # fmt: skip
async def test_a_header_aiohttp_cannot_parse(target: Target, header: str) -> None:
    head = f"POST {target.url(AUTH)} HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n{{}}"
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        reply = await exchange(target.port, head.encode("latin-1"))
        assert 400 <= reply.status < 500


async def test_headers_that_never_end_are_cut_off(target: Target) -> None:
    """Slow headers: the listener drops the connection once its idle time is up."""
    reader, writer = await asyncio.open_connection(HOST, target.port)
    try:
        started = time.monotonic()
        writer.write(f"POST {target.url(AUTH)} HTTP/1.1\r\nHost: x\r\n".encode())
        async with asyncio.timeout(BODY_READ_TIMEOUT_S + 5):
            with contextlib.suppress(ConnectionError):
                while await reader.read(1024):
                    pass
        assert time.monotonic() - started < BODY_READ_TIMEOUT_S + 2
    finally:
        writer.close()


# --- sizes and time -----------------------------------------------------------------------


def padded(body: dict[str, Any], size: int) -> bytes:
    raw = dumps(body)
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


async def test_auth_body_at_the_limit_is_read_one_past_is_refused(target: Target) -> None:
    at_limit = padded(target.auth_body(), MAX_HOOK_BODY_BYTES)
    assert len(at_limit) == MAX_HOOK_BODY_BYTES
    assert await auth_status(target, at_limit) == 200
    assert await auth_status(target, padded(target.auth_body(), MAX_HOOK_BODY_BYTES + 1)) == 413


@pytest.mark.parametrize("path", [AUTH, *HOOKS])
@pytest.mark.parametrize("declared", [MAX_HOOK_BODY_BYTES + 1, 10 * MIB, 2**62])
async def test_a_declared_huge_body_is_refused_unread(
    target: Target, path: str, declared: int
) -> None:
    """413 from the headers alone: the client has sent no byte of the body. Then the
    listener closes the connection rather than wait for (and drain) the body."""
    reader, writer = await asyncio.open_connection(HOST, target.port)
    try:
        started = time.monotonic()
        writer.write(http(target.url(path), content_length=declared))
        async with asyncio.timeout(2):
            reply = await read_reply(reader)
            assert await reader.read() == b""  # closed by the server
        assert time.monotonic() - started < 2
    finally:
        writer.close()
    assert reply.status == 413
    if path != AUTH:
        assert reply.error()["code"] == "payload_too_large"


async def _send_while_reading(port: int, head: bytes, chunks: Iterator[bytes]) -> Reply | None:
    """Send a huge body while reading: the answer, or None if the server's reset (it closes
    with the rest of the body unread) reached us before it."""
    reader, writer = await asyncio.open_connection(HOST, port)
    answer = asyncio.ensure_future(read_reply(reader))
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(head)
            for chunk in chunks:
                if answer.done():
                    break
                writer.write(chunk)
                await writer.drain()
        async with asyncio.timeout(5):
            return await answer
    except (ConnectionError, asyncio.IncompleteReadError):
        return None
    finally:
        answer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await answer
        writer.close()


@pytest.mark.parametrize("path", [AUTH, *HOOKS])
async def test_a_10_mib_body_is_refused(target: Target, path: str) -> None:
    body = padded(target.auth_body(), 10 * MIB)
    head = http(target.url(path), content_length=len(body))
    started = time.monotonic()
    reply = await _send_while_reading(
        target.port, head, (body[i : i + MIB] for i in range(0, len(body), MIB))
    )
    assert reply is None or reply.status == 413
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("path", [AUTH, *HOOKS])
async def test_a_chunked_body_past_the_limit_is_refused(target: Target, path: str) -> None:
    """No Content-Length to refuse up front: refused once it grows past the limit."""
    head = http(target.url(path), headers=("Transfer-Encoding: chunked",))
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b" " * 16 * 1024)
    reply = await _send_while_reading(target.port, head, iter([chunk] * 64))
    assert reply is None or reply.status == 413


async def test_a_small_chunked_body_is_read(target: Target) -> None:
    body = dumps(target.auth_body())
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:10], body[10:])) + b"0\r\n\r\n"
    raw = http(target.url(AUTH), chunked, headers=("Transfer-Encoding: chunked",))
    assert (await exchange(target.port, raw)).status == 200


@pytest.mark.parametrize(
    "chunked",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}0\r\n\r\n", b"-2\r\n{}\r\n0\r\n\r\n",
     b"ffffffffffffffffffff\r\n{}\r\n"],
)  # fmt: skip
async def test_a_garbled_chunked_body(target: Target, chunked: bytes) -> None:
    raw = http(target.url(AUTH), chunked, headers=("Transfer-Encoding: chunked",))
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        assert (await exchange(target.port, raw)).status in (400, 401, 413)


@pytest.mark.parametrize("depth", [100_000, 30_000])
@pytest.mark.parametrize("path", [AUTH, *HOOKS])
async def test_deeply_nested_json(target: Target, path: str, depth: int) -> None:
    """100k levels is past the size limit (413 unread); 30k fits and fails to parse."""
    raw = b'{"path": "gate", "userAgent": ' + b"[" * depth + b"]" * depth + b"}"
    reply = await exchange(target.port, http(target.url(path), raw))
    if depth * 2 > MAX_HOOK_BODY_BYTES:
        assert reply.status == 413
    else:
        assert reply.status == (401 if path == AUTH else 400)
    if path != AUTH:
        reply.error()


async def test_a_body_arriving_in_pieces_is_still_read(target: Target) -> None:
    """A slow but honest client: the decision waits for the whole body (it used to take
    whatever had arrived, and deny the half of a split body)."""
    body = dumps(target.auth_body())
    reader, writer = await asyncio.open_connection(HOST, target.port)
    try:
        writer.write(http(target.url(AUTH), content_length=len(body)))
        for i in range(0, len(body), len(body) // 3 + 1):
            await asyncio.sleep(0.2)
            writer.write(body[i : i + len(body) // 3 + 1])
        async with asyncio.timeout(5):
            assert (await read_reply(reader)).status == 200
    finally:
        writer.close()


async def _truncated(target: Target, path: str) -> tuple[float, Reply]:
    """Content-Length 1000, 10 bytes sent, and the connection held open."""
    reader, writer = await asyncio.open_connection(HOST, target.port)
    try:
        started = time.monotonic()
        writer.write(http(target.url(path), b'{"path": "', content_length=1000))
        async with asyncio.timeout(BODY_READ_TIMEOUT_S + 5):
            reply = await read_reply(reader)
            assert await reader.read() == b""  # and the connection is closed
        return time.monotonic() - started, reply
    finally:
        writer.close()


async def test_truncated_bodies_time_out(target: Target) -> None:
    results = await asyncio.gather(*(_truncated(target, p) for p in (AUTH, *HOOKS)))
    for elapsed, reply in results:
        assert reply.status == 408
        assert BODY_READ_TIMEOUT_S - 0.5 < elapsed < BODY_READ_TIMEOUT_S + 3
    for _, reply in results[1:]:
        assert reply.error()["code"] == "request_timeout"


@pytest.mark.parametrize("path", [AUTH, *HOOKS])
async def test_a_client_gone_mid_body(target: Target, path: str) -> None:
    """Nobody to answer: no 500, no traceback in the log (checked at the end)."""
    for sent in (b"", b'{"path": "ga'):
        _, writer = await asyncio.open_connection(HOST, target.port)
        writer.write(http(target.url(path), sent, content_length=500))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
    await asyncio.sleep(0.2)


async def test_many_concurrent_requests(target: Target) -> None:
    """300 at once while 100 stalled bodies hold connections: every good one allowed,
    promptly; every bad one refused."""
    good = http(target.url(AUTH), dumps(target.auth_body()))
    bad = [http(target.url(AUTH), r) for r in NOT_JSON + NOT_AN_OBJECT + NOT_UTF8] + [
        http(target.url(AUTH, "wrong"), dumps(target.auth_body())),
        http(target.url(AUTH), dumps(target.auth_body(path="../gate"))),
    ]
    hook_bad = [http(target.url(p), dumps({"path": "gate", "source_id": 5})) for p in HOOKS]
    stalled = [asyncio.ensure_future(_truncated(target, AUTH)) for _ in range(100)]
    await asyncio.sleep(0.5)
    started = time.monotonic()
    replies = await asyncio.gather(
        *(exchange(target.port, good) for _ in range(100)),
        *(exchange(target.port, bad[i % len(bad)]) for i in range(150)),
        *(exchange(target.port, hook_bad[i % 2]) for i in range(50)),
    )
    elapsed = time.monotonic() - started
    assert [r.status for r in replies[:100]] == [200] * 100
    assert {r.status for r in replies[100:250]} == {401}
    assert {(r.status, r.error()["code"]) for r in replies[250:]} == {(422, "validation_failed")}
    assert elapsed < BODY_READ_TIMEOUT_S, "stalled bodies held up the others"
    assert {r.status for _, r in await asyncio.gather(*stalled)} == {408}


# --- the availability hooks ---------------------------------------------------------------


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize("raw", NOT_JSON + NOT_UTF8, ids=repr)
async def test_hook_body_not_json(target: Target, path: str, raw: bytes) -> None:
    assert await hook_error(target, http(target.url(path), raw)) == (400, "bad_request")


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize("raw", NOT_AN_OBJECT, ids=repr)
async def test_hook_body_not_an_object(target: Target, path: str, raw: bytes) -> None:
    assert await hook_error(target, http(target.url(path), raw)) == (422, "validation_failed")


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
@pytest.mark.parametrize("key", ["path", "source_type", "source_id"])
async def test_hook_wrong_type_for_every_field(
    target: Target, path: str, key: str, value: Any
) -> None:
    body = {"path": "gate", "source_type": "rtspSource", "source_id": "", key: value}
    reply = await exchange(target.port, http(target.url(path), dumps(body)))
    assert reply.status == 422
    assert [d["field"] for d in reply.error()["details"]] == [key]


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize(
    ("key", "value"),
    [("source_type", "rtsp\x00Source"), ("source_id", "\x00"), ("source_type", "a" * 5000),
     ("source_id", "x\r\nFAKE LOG LINE"), ("source_type", "\x1b[2J")],
)  # fmt: skip
async def test_hook_source_fields(target: Target, path: str, key: str, value: str) -> None:
    reply = await exchange(target.port, http(target.url(path), dumps({"path": "gate", key: value})))
    assert reply.status == 422
    assert [d["field"] for d in reply.error()["details"]] == [key]


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize("mtx_path", [*TRAVERSALS, "", "a" * 64, "\ud800", "gate\x00"], ids=repr)
async def test_hook_path_is_a_camera_name(target: Target, path: str, mtx_path: str) -> None:
    reply = await exchange(target.port, http(target.url(path), dumps({"path": mtx_path})))
    assert reply.status == 422, reply
    assert reply.error()["details"][0]["field"] == "path"


@pytest.mark.parametrize("path", HOOKS)
async def test_hook_lone_surrogate_escape_in_path(target: Target, path: str) -> None:
    reply = await exchange(target.port, http(target.url(path), b'{"path": "gate\\udfff"}'))
    assert (reply.status, reply.error()["code"]) == (422, "validation_failed")


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize("camera", ["nope", "gate-2", "a" * 63])
async def test_hook_unknown_camera(target: Target, path: str, camera: str) -> None:
    status, code = await hook_error(target, http(target.url(path), dumps({"path": camera})))
    assert (status, code) == (404, "not_found")


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/x-www-form-urlencoded", "text/json"]
)
async def test_hook_wrong_content_type(
    target: Target, path: str, content_type: str | None
) -> None:
    raw = http(target.url(path), dumps({"path": "gate"}), content_type=content_type)
    assert await hook_error(target, raw) == (415, "unsupported_media_type")


@pytest.mark.parametrize("path", HOOKS)
@pytest.mark.parametrize(
    "query",
    ["", "?key=", "?key=wrong", "?KEY={key}", "?key={key}&key=wrong", "?key=wrong&key={key}",
     "?key={key}&key={key}", "?key={key}x", "?key=%ED%A0%80"],
)  # fmt: skip
async def test_hook_key(target: Target, path: str, query: str) -> None:
    raw = http(path + query.format(key=target.key), dumps({"path": "gate"}))
    assert await hook_error(target, raw) == (401, "unauthorized")


@pytest.mark.parametrize("path", HOOKS)
async def test_hook_body_too_large(target: Target, path: str) -> None:
    raw = http(target.url(path), padded({"path": "gate"}, MAX_HOOK_BODY_BYTES + 1))
    assert await hook_error(target, raw) == (413, "payload_too_large")


# --- and the endpoints still do their job -------------------------------------------------


def test_a_good_hook_still_works(target: Target) -> None:
    body = dumps({"path": "spare", "source_type": "rtspSource", "source_id": ""})
    assert post(target, target.url(HOOKS[0]), body) == 204
    spare = target.api("/api/v1/cameras/spare")
    assert (spare["state"], spare["state_reason"]) == ("online", "hook_available")
    assert post(target, target.url(HOOKS[1]), body) == 204
    assert target.api("/api/v1/cameras/spare")["state"] == "offline"


@pytest.mark.parametrize(
    ("mtx_path", "says"),
    [
        ("../gate", "422: invalid hook report; path: must be a camera name ("),
        ("gate\n", "422: invalid hook report; path: must be a camera name ("),
        ("nope", "404: no camera named 'nope'"),
    ],
)
def test_vmsd_hook_says_why(target: Target, mtx_path: str, says: str) -> None:
    """`vmsd hook` as MediaMTX runs it, for a path that is no camera: exit 1 and one line."""
    argv = [
        sys.executable, "-m", "vmsd", "hook", "available",
        "--url", f"http://{HOST}:{target.port}/hooks/mediamtx",
        "--key-file", str(target.daemon.state_dir / HOOK_SECRET_FILE_NAME),
    ]  # fmt: skip
    env = {**os.environ, "MTX_PATH": mtx_path, "MTX_SOURCE_TYPE": "rtspSource"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith(f"vmsd hook: the daemon answered {says}")
    assert done.stderr.count("\n") == 1
