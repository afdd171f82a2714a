"""The web console: static files shipped in the package (vmsd/console/), served at `/` (the
page) and `/console/{file}` (its ES modules, CSS and icon). The page is public; everything
it shows comes from the API with the session cookie, under the API's own checks."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

from aiohttp import web
from pydantic import Field

from vmsd.api.middleware import KEEP_CACHE_CONTROL
from vmsd.api.query import Params
from vmsd.api.routes import ApiRoute, Reply
from vmsd.core.errors import NotFoundError

# Nothing inline, nothing from elsewhere: a script injected into the page (a camera name, an
# event's text) cannot run, and the page cannot be framed (clickjacking a Delete button).
# blob: for the live tile's snapshots; media from 'self' only (playback, WebRTC streams
# attach as srcObject, which media-src does not govern).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Revalidate every time (the ETag makes that a 304 of no body): an upgraded vmsd serves its
# new console at once, and the modules of one version always load together.
ASSET_CACHE_CONTROL = "no-cache"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


class ConsoleAsset(StrEnum):
    """Every file the page loads, named here so the OpenAPI document lists exactly what
    exists (tests/integration/test_console.py checks it against the package's files)."""

    ADMIN = "admin.js"
    API = "api.js"
    APP = "app.js"
    CAMERA = "camera.js"
    CLOCK = "clock.js"
    DOM = "dom.js"
    EVENTS = "events.js"
    GRID = "grid.js"
    ICON = "icon.svg"
    LIVE = "live.js"
    PLAYER = "player.js"
    STYLE = "style.css"
    SYSTEM = "system.js"
    TIMELINE = "timeline.js"


INDEX = "index.html"
_NAMES = frozenset(ConsoleAsset)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # quoted, from the content's SHA-256


class ConsoleFile(Params):
    file: ConsoleAsset = Field(description="a file of the console")


@functools.cache
def console_assets() -> dict[str, Asset]:
    """Every file of the console, read once (a few dozen kB) and kept."""
    found = {}
    folder = resources.files("vmsd").joinpath("console")
    for name in (INDEX, *ConsoleAsset):
        data = folder.joinpath(name).read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        found[name] = Asset(data, _TYPES["." + name.rsplit(".", 1)[-1]], etag)
    return found


async def _serve(request: web.Request, name: str) -> web.Response:
    asset = (await asyncio.to_thread(console_assets))[name]  # the first read off the loop
    headers = {
        "ETag": asset.etag,
        "Cache-Control": ASSET_CACHE_CONTROL,
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    if asset.etag in request.headers.get("If-None-Match", ""):
        response = web.Response(status=304, headers=headers)
    else:
        headers["Content-Type"] = asset.content_type
        response = web.Response(body=asset.body, headers=headers)
    response[KEEP_CACHE_CONTROL] = True
    return response


async def index(request: web.Request) -> web.Response:
    return await _serve(request, "index.html")


async def asset(request: web.Request) -> web.Response:
    """A name no console file can have is no file: 404, as for an unknown one."""
    name = request.match_info["file"]
    if name not in _NAMES:
        raise NotFoundError(f"no console file named {name[:64]!r}")
    return await _serve(request, name)


_HEADERS = {
    "ETag": "the content's hash; send it back in If-None-Match",
    "Content-Security-Policy": "the console's policy (README: Console)",
}
ROUTES = [
    ApiRoute(
        "GET",
        "/",
        index,
        "The web console (README: Console); its data comes from the API with the session",
        role=None,
        tag="console",
        responses={
            200: Reply("the console's page", media_types=("text/html",), headers=_HEADERS),
            304: Reply("not modified (If-None-Match)"),
        },
    ),
    ApiRoute(
        "GET",
        "/console/{file}",
        asset,
        "A file of the web console: an ES module, the style sheet, the icon",
        role=None,
        tag="console",
        path_params=ConsoleFile,
        responses={
            200: Reply(
                "the file",
                media_types=("text/javascript", "text/css", "image/svg+xml"),
                headers=_HEADERS,
            ),
            304: Reply("not modified (If-None-Match)"),
            404: Reply("no such file"),
        },
    ),
]
