"""The web console as the API serves it (the real listener, runtime.sites): the page and every
file it loads, their types, the Content-Security-Policy, ETag revalidation, nothing from
elsewhere, and the page public while the data behind it is not."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from tests.conftest import Api
from tests.net import free_port
from vmsd.api.app import create_app
from vmsd.api.console import ConsoleAsset
from vmsd.api.services import SERVICES
from vmsd.runtime.preflight import Listener
from vmsd.runtime.sites import start_site

CSP_WANTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "connect-src": "'self'",
    "media-src": "'self' blob:",
    "img-src": "'self' blob: data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_IMPORT_RE = re.compile(r"""(?:^|\n)\s*import\s[^;]*?from\s+"([^"]+)";""")
_MARKUP_RE = re.compile(r"\.innerHTML|\.outerHTML|insertAdjacentHTML|\beval\(")
_REFS_RE = re.compile(r"""(?:src|href)="([^"#]+)\"""")


@pytest.fixture
async def site(api: Api) -> AsyncIterator[str]:
    port = free_port()
    runner = await start_site(create_app(api.app[SERVICES]), Listener("127.0.0.1", port))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def csp(header: str) -> dict[str, str]:
    parts = (d.strip().split(None, 1) for d in header.split(";") if d.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


async def fetch(base: str, path: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(base + path, headers=headers) as r:
        return r.status, r.headers.copy(), await r.read()


async def test_the_page_needs_no_credentials_and_has_a_strict_policy(site: str) -> None:
    status, headers, body = await fetch(site, "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    policy = csp(headers["Content-Security-Policy"])
    assert {k: policy.get(k) for k in CSP_WANTED} == CSP_WANTED
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    page = body.decode()
    # No inline script or style for the policy to refuse: every script has a src.
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", page) == []
    assert "<style" not in page and " style=" not in page
    assert '<script type="module" src="/console/app.js"></script>' in page
    # The data is the API's, behind its checks.
    assert (await fetch(site, "/api/v1/cameras"))[0] == 401


async def test_every_file_the_page_loads_is_served_with_its_type(site: str) -> None:
    _, _, body = await fetch(site, "/")
    wanted = set(_REFS_RE.findall(body.decode()))
    seen: set[str] = set()
    while wanted - seen:
        path = sorted(wanted - seen)[0]
        seen.add(path)
        assert path.startswith("/console/"), path  # nothing from another origin
        status, headers, data = await fetch(site, path)
        assert status == 200, path
        suffix = Path(path).suffix
        assert headers["Content-Type"].split(";")[0] == TYPES[suffix], path
        assert headers["Content-Security-Policy"]
        if suffix == ".js":
            text = data.decode()
            wanted |= {"/console/" + m.removeprefix("./") for m in _IMPORT_RE.findall(text)}
    shipped = {"/console/" + e.name for e in resources.files("vmsd").joinpath("console").iterdir()}
    # Every file is reached from the page (nothing shipped is dead), and the route's list (the
    # OpenAPI document's enum) is exactly what ships.
    assert seen == shipped - {"/console/index.html"}
    assert {"/console/" + a for a in ConsoleAsset} == seen


async def test_no_file_names_another_origin() -> None:
    for entry in resources.files("vmsd").joinpath("console").iterdir():
        text = entry.read_text()
        # An SVG names its XML namespace; nothing is fetched from there.
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), entry.name
        assert not _MARKUP_RE.search(text), entry.name  # text goes in as text, never as markup


async def test_files_revalidate_by_etag(site: str) -> None:
    for path in ("/", "/console/app.js", "/console/style.css"):
        status, headers, body = await fetch(site, path)
        assert status == 200 and body
        assert headers["Cache-Control"] == "no-cache"  # kept: not the API's no-store
        etag = headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        status, again, body = await fetch(site, path, **{"If-None-Match": etag})
        assert (status, body, again["ETag"]) == (304, b"", etag)
        status, _, body = await fetch(site, path, **{"If-None-Match": '"stale"'})
        assert status == 200 and body
    # The API's own answers stay no-store.
    _, headers, _ = await fetch(site, "/api/v1/openapi.json")
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path", ["/console/nope.js", "/console/index.html", "/console/..%2Fapi%2Fapp.py",
             "/console/APP.JS", "/console/app.py"],
)  # fmt: skip
async def test_an_unknown_file_is_a_404_in_the_api_shape(site: str, path: str) -> None:
    status, headers, body = await fetch(site, path)
    assert status == 404, path
    assert headers["Content-Type"].startswith("application/json")
    assert b'"not_found"' in body


def test_an_installed_wheel_carries_every_file(repo_root: Path) -> None:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["vmsd"]
    for entry in (repo_root / "vmsd" / "console").iterdir():
        name = f"console/{entry.name}"
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
