"""The console's live view: WHEP signalling relayed to MediaMTX's WebRTC server.

The browser talks to vmsd only (one origin, its session); vmsd forwards each step to MediaMTX
with a credential of its own, minted for that one camera (access/grants.py). MediaMTX's
contract, from bluenviron/mediamtx `internal/servers/webrtc/http_server.go`:

* `POST /<path>/whep`, `Content-Type: application/sdp`, the offer: MediaMTX authenticates the
  reader here and only here (`read`, protocol `webrtc`), answers `201` with the SDP answer
  (`application/sdp`), `Location: /<path>/whep/<secret uuid>`, `ETag: *`, `Accept-Patch:
  application/trickle-ice-sdpfrag` and one `Link` header per ICE server. Errors: `400` (bad
  offer, wrong content type), `401` (credentials refused, after a pause of its own), `404`
  (no such path or no stream on it), `500`; the body is `{"error": "..."}`.
* `PATCH <Location>`, `application/trickle-ice-sdpfrag`: `204`; `404` once the session is gone.
* `DELETE <Location>`: `200`; `404` once the session is gone.
PATCH and DELETE carry no credentials: the secret in the Location is the session's key, so
vmsd never shows it to the browser; the browser gets a session id of vmsd's instead.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from multidict import CIMultiDictProxy

from vmsd.access.grants import Grants
from vmsd.config.load import ConfigHolder
from vmsd.core.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnavailableError,
    VmsdError,
)
from vmsd.core.log import get_logger
from vmsd.mediamtx.listeners import listen_host
from vmsd.mediamtx.render import connect_host

log = get_logger("vmsd.whep")

SDP_TYPE: Final = "application/sdp"
ICE_FRAGMENT_TYPE: Final = "application/trickle-ice-sdpfrag"
# A browser's offer is a few kB (one m= section per track, its candidates); MediaMTX's answer
# the same. Far more is no offer.
MAX_SDP_BYTES: Final = 64 * 1024
MAX_ICE_FRAGMENT_BYTES: Final = 16 * 1024
# MediaMTX answers the offer once it has gathered its own candidates (a STUN server takes up
# to webrtcSTUNGatherTimeout, 5 s) and waits up to webrtcTrackGatherTimeout (2 s) for the
# stream's tracks; a refused credential costs its brute-force pause (up to 4 s) first.
OFFER_TIMEOUT_S: Final = 15.0
SESSION_TIMEOUT_S: Final = 5.0
# A session id vmsd handed out is forgotten after this long without a PATCH or DELETE (a
# browser that closed its tab never says DELETE; MediaMTX ends the session itself when the
# peer goes). A DELETE after that is a 404, and the session still ends with its peer.
SESSION_KEEP_S: Final = 12 * 3600.0
MAX_ERROR_CHARS: Final = 200
_SECRET = re.compile(r"^[0-9a-fA-F-]{36}$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
# Answer headers passed on as MediaMTX sends them (Location is rewritten, Link kept whole).
FORWARDED_HEADERS: Final = ("ETag",)


class LiveViewOffError(ConflictError):
    code = "live_view_off"


class MediaMtxUnreachableError(VmsdError):
    code = "mediamtx_unreachable"
    http_status = 502


class MediaMtxBadAnswerError(VmsdError):
    code = "mediamtx_bad_answer"
    http_status = 502


class MediaMtxTimeoutError(VmsdError):
    code = "mediamtx_timeout"
    http_status = 504


@dataclass(frozen=True, slots=True)
class WhepAnswer:
    session: str  # vmsd's id of the session
    sdp: bytes
    headers: Mapping[str, str]  # ETag, as MediaMTX sent it
    links: tuple[str, ...]  # MediaMTX's Link headers (its ICE servers), one each


@dataclass(slots=True)
class _Session:
    camera: str
    owner: str  # the principal's label: only it may PATCH or DELETE
    upstream: str  # MediaMTX's Location path, /<path>/whep/<secret>
    used_monotonic: float


class LiveSessions:
    """vmsd's session ids -> MediaMTX's session Locations. Bounded (past `max_sessions` the
    least recently used is forgotten) and expiring (SESSION_KEEP_S without use)."""

    def __init__(self, max_sessions: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently used first
        self._max = max_sessions
        self._clock = clock

    def add(self, camera: str, owner: str, upstream: str) -> str:
        self._prune()
        while len(self._sessions) >= self._max:
            self._sessions.popitem(last=False)
        session = secrets.token_urlsafe(16)  # 22 characters
        self._sessions[session] = _Session(camera, owner, upstream, self._clock())
        return session

    def find(self, camera: str, owner: str, session: str) -> str:
        """The Location of a session of this camera and this principal; anyone else's is
        unknown (NotFoundError)."""
        self._prune()
        entry = self._sessions.get(session) if _SESSION_ID.fullmatch(session) else None
        if entry is None or entry.camera != camera or entry.owner != owner:
            raise NotFoundError("no such live session")
        entry.used_monotonic = self._clock()
        self._sessions.move_to_end(session)
        return entry.upstream

    def forget(self, session: str) -> None:
        self._sessions.pop(session, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _prune(self) -> None:
        horizon = self._clock() - SESSION_KEEP_S
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.used_monotonic > horizon:
                break
            self._sessions.popitem(last=False)


class LiveView:
    """Starts, feeds and ends live sessions. `mediamtx_on`: MediaMTX is managed or external
    (fixed at start); `console.live_view` and the WebRTC listener are read at each request."""

    def __init__(
        self,
        holder: ConfigHolder,
        grants: Grants,
        *,
        mediamtx_on: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._holder = holder
        self._grants = grants
        self._mediamtx_on = mediamtx_on
        self.sessions = LiveSessions(holder.current.console.max_live_sessions, clock)

    def check_on(self) -> None:
        """LiveViewOffError unless the live view can work: the console's clients then fall
        back to snapshots."""
        if not self._mediamtx_on:
            raise LiveViewOffError("the live view needs MediaMTX, and mediamtx.mode is off")
        if not self._holder.current.console.live_view:
            raise LiveViewOffError("the live view is off (console.live_view)")

    async def start(self, camera: str, owner: str, offer: bytes) -> WhepAnswer:
        self.check_on()
        console = self._holder.current.console
        grant = self._grants.issue(camera, lifetime_s=console.live_credential_seconds)
        url = f"{self._base_url()}/{camera}/whep"
        try:
            async with _client(OFFER_TIMEOUT_S) as client, client.post(
                url,
                data=offer,
                headers={
                    "Content-Type": SDP_TYPE,
                    "Authorization": basic_authorization(grant.user, grant.password),
                },
                allow_redirects=False,
            ) as resp:
                body = await _read_bounded(resp, MAX_SDP_BYTES)
                if resp.status != 201:
                    raise _refused(resp.status, body, camera)
                upstream = _session_location(resp.headers, camera)
                if resp.content_type != SDP_TYPE:
                    raise MediaMtxBadAnswerError("MediaMTX answered the offer with no SDP")
                links = tuple(resp.headers.getall("Link", ()))
                headers = {h: resp.headers[h] for h in FORWARDED_HEADERS if h in resp.headers}
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise _transport_error(err) from err
        finally:
            self._grants.revoke(grant.user)  # MediaMTX checked it, or never will
        session = self.sessions.add(camera, owner, upstream)
        log.info("live_session_started", camera=camera, principal=owner)
        return WhepAnswer(session, body, headers, links)

    async def ice(
        self, camera: str, owner: str, session: str, fragment: bytes, if_match: str | None
    ) -> None:
        """Trickle ICE: the browser's candidates, forwarded."""
        self.check_on()
        upstream = self.sessions.find(camera, owner, session)
        headers = {"Content-Type": ICE_FRAGMENT_TYPE}
        if if_match is not None:
            headers["If-Match"] = if_match
        status, body = await self._send("PATCH", upstream, fragment, headers)
        if status == 404:
            self.sessions.forget(session)
            raise NotFoundError("no such live session (MediaMTX has ended it)")
        if status == 400:
            raise BadRequestError(f"MediaMTX refused the candidates: {_error_text(body)}")
        if status != 204:
            raise MediaMtxBadAnswerError(f"MediaMTX answered {status} to the candidates")

    async def stop(self, camera: str, owner: str, session: str) -> None:
        """Ends the session in MediaMTX and forgets it (whatever MediaMTX answers: it ends a
        session whose peer has gone by itself)."""
        self.check_on()
        upstream = self.sessions.find(camera, owner, session)
        self.sessions.forget(session)
        status, _ = await self._send("DELETE", upstream, b"", {})
        if status not in (200, 204, 404):
            raise MediaMtxBadAnswerError(f"MediaMTX answered {status} to the end of a session")
        log.info("live_session_stopped", camera=camera, principal=owner)

    async def _send(
        self, method: str, upstream: str, data: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        try:
            async with _client(SESSION_TIMEOUT_S) as client, client.request(
                method, f"{self._base_url()}{upstream}", data=data, headers=headers,
                allow_redirects=False,
            ) as resp:
                return resp.status, await _read_bounded(resp, MAX_SDP_BYTES)
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise _transport_error(err) from err

    def _base_url(self) -> str:
        address = self._holder.current.console.webrtc.address
        host = connect_host(listen_host(address, "console.webrtc.address"))
        return f"http://{host}:{address.rsplit(':', 1)[1]}"


def basic_authorization(user: str, password: str) -> str:
    """MediaMTX reads WHEP credentials from `Authorization: Basic` (reference/mediamtx.md)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _client(timeout_s: float) -> aiohttp.ClientSession:
    """A connection per request, as MediaMTX's own auth calls do: a live view starts a few
    times a minute at most, and nothing is left open between them."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    body = await resp.content.read(limit + 1)
    if len(body) > limit:
        raise MediaMtxBadAnswerError(f"MediaMTX's answer is larger than {limit} bytes")
    return body


def _session_location(headers: CIMultiDictProxy[str], camera: str) -> str:
    """MediaMTX's Location, checked to be this camera's WHEP session (`/<path>/whep/<uuid>`,
    possibly with the request's query, which vmsd never sends)."""
    location = headers.get("Location", "").split("?", 1)[0]
    prefix = f"/{camera}/whep/"
    if not (location.startswith(prefix) and _SECRET.fullmatch(location[len(prefix) :])):
        raise MediaMtxBadAnswerError("MediaMTX's answer has no session Location")
    return location


def _refused(status: int, body: bytes, camera: str) -> VmsdError:
    if status == 400:
        return BadRequestError(f"MediaMTX refused the offer: {_error_text(body)}")
    if status == 404:
        return UnavailableError(f"MediaMTX has no live stream of camera {camera!r} now")
    if status == 401:
        # vmsd's own credential refused: MediaMTX does not ask vmsd's hook (its authMethod or
        # authHTTPAddress is not vmsd's), or the hook refused it.
        return MediaMtxBadAnswerError("MediaMTX refused vmsd's live-view credential")
    return MediaMtxBadAnswerError(f"MediaMTX answered {status} to the offer")


def _error_text(body: bytes) -> str:
    """MediaMTX's `{"error": "..."}`, as printable text of bounded length."""
    try:
        message = json.loads(body)["error"]
    except (ValueError, TypeError, KeyError):
        message = None
    if not isinstance(message, str):
        return "no reason given"
    return "".join(c for c in message if c.isprintable())[:MAX_ERROR_CHARS]


def _transport_error(err: BaseException) -> VmsdError:
    if isinstance(err, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return MediaMtxTimeoutError("MediaMTX's WebRTC server did not answer in time")
    return MediaMtxUnreachableError("MediaMTX's WebRTC server is unreachable")
