"""The authorisation matrix of the real daemon: every route of the route table x every kind of
principal, each answer checked against what the route declares.

The principals: anonymous; a viewer user scoped to camera A, by session cookie (asked about A
and about B); an operator user and an admin user with every camera, by session cookie; an
operator API token scoped to A. The expected answer is derived from the route's declaration
(its role, whether it is open, whether its path names a camera or a camera's row), so a new
route is in the matrix the moment it is in the table: a route whose path parameter the matrix
does not know how to fill fails the test rather than being skipped.

"Allowed" means past the access checks: neither 401 nor 403, and for a route about camera A
or B no 404 either (the 404 of an out-of-scope camera is the matrix's own expectation). The
daemon is real: embedded PostgreSQL, two synthetic cameras recording, MediaMTX off; the
requests that change something change it for real, so the rows they act on are looked up (or
made) afresh for each cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import ffmpeg_binary
from tests.daemon_client import until
from tests.daemon_process import DaemonProcess, create_token, write_config
from vmsd.access.roles import Role
from vmsd.api.app import all_routes
from vmsd.api.routes import ApiRoute
from vmsd.config.server import ServerConfig

CAM_A, CAM_B = "cam-a", "cam-b"
PASSWORD = "matrix-pass-7731"
TIMEOUT_S = 20
# The one route open to every role whose handler then tells self from others: a password
# change needs the admin role, or the user's own name (the matrix asks about another user).
SELF_OR_ADMIN = {("POST", "/api/v1/users/{name}/password")}
# Routes about no camera that a scoped principal may not use: probing an arbitrary source.
NEEDS_EVERY_CAMERA = {("POST", "/api/v1/probe")}
# An existing live session's routes, with the live view off (this daemon: MediaMTX off),
# answer 409 for every camera alike, before the camera is looked up: nothing leaks.
LIVE_SESSION_ROUTES = {
    ("PATCH", "/api/v1/cameras/{name}/whep/{session}"),
    ("DELETE", "/api/v1/cameras/{name}/whep/{session}"),
}


@dataclass(frozen=True)
class Who:
    name: str
    role: Role | None  # None: anonymous
    scope: tuple[str, ...]  # camera names it may see; ("*",) every camera
    kind: str  # "session", "token" or "none"
    user: str = ""  # the account behind a session

    def sees(self, camera: str) -> bool:
        return "*" in self.scope or camera in self.scope


ANONYMOUS = Who("anonymous", None, (), "none")
VIEWER_A = Who("viewer-a", Role.VIEWER, (CAM_A,), "session", "vera")
OPERATOR = Who("operator", Role.OPERATOR, ("*",), "session", "otto")
ADMIN = Who("admin", Role.ADMIN, ("*",), "session", "ada")
TOKEN_A = Who("token-a", Role.OPERATOR, (CAM_A,), "token")
PRINCIPALS = (ANONYMOUS, VIEWER_A, OPERATOR, ADMIN, TOKEN_A)


@dataclass
class Box:
    """The running daemon, its fixture admin token and the principals' credentials."""

    daemon: DaemonProcess
    admin_token: str
    credentials: dict[str, str] = field(default_factory=dict)  # Who.name -> cookie or token
    spare: int = 0

    def call(
        self,
        method: str,
        path: str,
        *,
        who: Who | None = None,
        body: Any = None,
        credential: str | None = None,
    ) -> tuple[int, Any]:
        """As `who` (None: the fixture's admin token), or with `credential` in its place."""
        secret = credential or (self.credentials.get(who.name) if who else self.admin_token)
        kind = who.kind if who is not None else "token"
        answer = self.daemon.request(
            method,
            path,
            body=body,
            token=secret if kind == "token" else None,
            session=secret if kind == "session" else None,
            timeout_s=TIMEOUT_S,
        )
        return answer.status, answer.json()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.call(method, path, body=body)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    def next_spare(self) -> int:
        self.spare += 1
        return self.spare


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    directory = tmp_path_factory.mktemp("matrix")
    config = write_config(
        directory,
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": 2, "snapshot_timeout_seconds": 5, "probe_timeout_seconds": 5},
        cameras=[
            {"name": CAM_A, "source": "test://?size=160x120&fps=5", "groups": ["gate"]},
            {"name": CAM_B, "source": "test://?size=160x120&fps=5"},
        ],
        # The cheapest argon2 (accounts are made by the dozen) and no rate limit: the matrix
        # asks about access, which a 429 would hide.
        auth={
            "password_hash": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1},
            "rate_limit": {"requests_per_second": 0},
        },
        log={"level": "info", "format": "json"},
    )
    admin_token = create_token(config, "fixture", "admin")
    daemon = DaemonProcess(config)
    daemon.start().wait_ready()
    try:
        box = Box(daemon, admin_token)
        for who in (VIEWER_A, OPERATOR, ADMIN):
            role = who.role
            assert role is not None
            user = {"name": who.user, "role": role.value, "cameras": list(who.scope),
                    "password": PASSWORD}  # fmt: skip
            box.admin("POST", "/api/v1/users", user)
            box.credentials[who.name] = daemon.login(who.user, PASSWORD, TIMEOUT_S)
        token = box.admin(
            "POST", "/api/v1/tokens", {"name": "scoped", "role": "operator", "cameras": [CAM_A]}
        )
        box.credentials[TOKEN_A.name] = token["token"]
        for camera in (CAM_A, CAM_B):
            until(f"a recording of {camera}", lambda c=camera: recordings(box, c))  # type: ignore[misc]
        yield box
        assert daemon.stop() == 0, daemon.log_text()[-5000:]
    finally:
        daemon.close()


def recordings(box: Box, camera: str) -> list[dict[str, Any]]:
    return list(box.admin("GET", f"/api/v1/recordings?camera={camera}&limit=5")["items"])


def recording_of(box: Box, camera: str) -> int:
    """The camera's newest recording: one a DELETE of an earlier cell has not removed (the
    camera records on: the next segment comes within seconds)."""
    return int(until(f"a recording of {camera}", lambda: recordings(box, camera))[0]["id"])


def export_of(box: Box, camera: str) -> int:
    """A finished export of the camera (made when the last one was deleted)."""
    done = box.admin("GET", f"/api/v1/exports?camera={camera}&state=done")["items"]
    if done:
        return int(done[0]["id"])
    newest = recordings(box, camera)[0] if recordings(box, camera) else None
    if newest is None:
        recording_of(box, camera)
        newest = recordings(box, camera)[0]
    job = box.admin(
        "POST",
        "/api/v1/exports",
        {"camera": camera, "start": newest["start"], "end": newest["end"]},
    )
    until(
        f"a finished export of {camera}",
        lambda: box.admin("GET", f"/api/v1/exports/{job['id']}")["state"] == "done",
    )
    return int(job["id"])


def spare_user(box: Box) -> str:
    name = f"spare-{box.next_spare()}"
    box.admin(
        "POST",
        "/api/v1/users",
        {"name": name, "role": "viewer", "cameras": [CAM_A], "password": PASSWORD},
    )
    return name


def spare_token(box: Box) -> int:
    made = box.admin(
        "POST", "/api/v1/tokens", {"name": f"spare-{box.next_spare()}", "role": "viewer"}
    )
    return int(made["id"])


def link_of(box: Box, camera: str) -> str:
    made = box.admin("POST", f"/api/v1/recordings/{recording_of(box, camera)}/link", {})
    return str(made["path"].rsplit("/", 1)[1])


@dataclass(frozen=True)
class Cell:
    route: ApiRoute
    who: Who
    camera: str | None  # the camera the path is about, if any

    @property
    def label(self) -> str:
        about = f" on {self.camera}" if self.camera else ""
        return f"{self.route.method} {self.route.path} as {self.who.name}{about}"


def camera_of(route: ApiRoute) -> bool:
    """Does the route's path name a camera, or a row of one (a recording, an export)?"""
    path = route.path
    return path.startswith("/api/v1/cameras/{name}") or bool(
        re.match(r"^/api/v1/(recordings|exports)/\{id\}", path)
    )


def fill_path(box: Box, cell: Cell) -> str:
    """The route's path with real values, made afresh for a cell that may destroy them."""
    path = cell.route.path
    camera = cell.camera

    def value(param: str) -> str:
        if path.startswith("/api/v1/cameras/{name}"):
            assert camera is not None
            return camera
        if path.startswith("/api/v1/recordings/{id}"):
            assert camera is not None
            return str(recording_of(box, camera))
        if path.startswith("/api/v1/exports/{id}"):
            assert camera is not None
            return str(export_of(box, camera))
        if path.startswith("/api/v1/tokens/{id}"):
            return str(spare_token(box))
        if path.startswith("/api/v1/users/{name}"):
            if param == "name":
                return spare_user(box)
            return "999999"  # a session of that user the caller asks to end: none such
        if path.startswith("/api/v1/auth/sessions/{id}"):
            return "999999"
        if path == "/console/{file}":
            return "app.js"
        if path.startswith("/api/v1/links/{token}"):
            return link_of(box, CAM_A)
        raise AssertionError(f"the matrix does not know how to fill {path} ({param})")

    return re.sub(r"\{([^}]+)\}", lambda m: value(m.group(1)), path)


def query_of(route: ApiRoute) -> str:
    """A valid query where the route requires one (nothing else: an invalid one is a 422
    after the access checks, which is as good an answer for the matrix)."""
    if (route.method, route.path) == ("DELETE", "/api/v1/recordings"):
        # A range long past: the access checks run, nothing is deleted.
        start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC)
        return "?" + urlencode({"start": start.isoformat(), "end": end.isoformat()})
    if route.path.endswith("/timeline"):
        now = datetime.now(UTC)
        span = {"start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()}
        return "?" + urlencode(span)
    return ""


def expected(cell: Cell, open_endpoints: tuple[Any, ...]) -> str:
    """`open`, `401`, `403`, `404` or `allowed`, from the route's declaration alone."""
    route, who = cell.route, cell.who
    required = route.required_role(open_endpoints)
    if required is None:
        return "open"
    if who.role is None:
        return "401"
    if (route.method, route.path) in SELF_OR_ADMIN:
        return "allowed" if who.role is Role.ADMIN else "403"
    if not who.role.allows(required):
        return "403"
    if (route.method, route.path) in NEEDS_EVERY_CAMERA and "*" not in who.scope:
        return "403"
    if (route.method, route.path) in LIVE_SESSION_ROUTES:
        return "409"
    if cell.camera is not None and not who.sees(cell.camera):
        return "404"
    return "allowed"


def cells() -> list[Cell]:
    found = []
    for route in all_routes():
        for who in PRINCIPALS:
            if camera_of(route):
                found += [Cell(route, who, CAM_A), Cell(route, who, CAM_B)]
            else:
                found.append(Cell(route, who, None))
    return found


def credential_for(box: Box, cell: Cell) -> str | None:
    """Logging out ends the session it is asked with: a session of its own for that cell."""
    if cell.route.path == "/api/v1/auth/logout" and cell.who.kind == "session":
        return box.daemon.login(cell.who.user, PASSWORD, TIMEOUT_S)
    return None


def test_every_route_answers_every_principal_as_declared(box: Box) -> None:
    open_endpoints = ServerConfig().open_endpoints
    wrong = []
    table = cells()
    assert len({(c.route.method, c.route.path) for c in table}) == len(all_routes())
    for cell in table:
        want = expected(cell, open_endpoints)
        status, answer = box.call(
            cell.route.method,
            fill_path(box, cell) + query_of(cell.route),
            who=cell.who,
            body={} if cell.route.method in ("POST", "PATCH") else None,
            credential=credential_for(box, cell),
        )
        if want in ("401", "403", "404", "409"):
            ok = status == int(want)
        elif want == "open":
            ok = status not in (401, 403)
        else:
            ok = status not in (401, 403) and not (cell.camera is not None and status == 404)
        if not ok:
            wrong.append(f"{cell.label}: expected {want}, got {status} {answer}")
    assert wrong == [], "\n".join(wrong)


def test_lists_show_a_scoped_principal_only_its_cameras(box: Box) -> None:
    export_of(box, CAM_B)  # a row of B in every list
    for who in (VIEWER_A, TOKEN_A):
        status, cameras = box.call("GET", "/api/v1/cameras", who=who)
        assert status == 200
        assert [c["name"] for c in cameras] == [CAM_A]
        for path in ("/api/v1/recordings", "/api/v1/exports", "/api/v1/events?limit=500"):
            status, page = box.call("GET", path, who=who)
            assert status == 200, (path, page)
            assert page["items"], (path, who.name)
            assert {item.get("camera") for item in page["items"]} == {CAM_A}, (path, who.name)
        status, page = box.call("GET", f"/api/v1/recordings?camera={CAM_B}", who=who)
        assert (status, page["items"]) == (200, [])
    status, page = box.call("GET", "/api/v1/recordings?limit=200", who=ADMIN)
    assert {item["camera"] for item in page["items"]} == {CAM_A, CAM_B}


def test_the_matrix_covers_every_route(box: Box) -> None:
    """Each route of the table, each principal: nothing filtered out of the matrix."""
    table = cells()
    for route in all_routes():
        rows = [c for c in table if c.route is route]
        assert {c.who for c in rows} == set(PRINCIPALS), route.path
        if camera_of(route):
            assert {c.camera for c in rows} == {CAM_A, CAM_B}, route.path
    # The token's id path and every other parameter can be filled.
    for cell in table:
        if "{" in cell.route.path and cell.who is ADMIN and cell.camera in (None, CAM_A):
            assert "{" not in fill_path(box, cell), cell.label
