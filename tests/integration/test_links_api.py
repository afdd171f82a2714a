"""Shareable links over real HTTP, a real database and real files: made by a token, opened by
a plain client with no header but Range, refused (the same 404) once expired, tampered with,
its object gone, its creator revoked or no longer allowed the camera."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Api
from tests.integration.test_recordings_api import _root
from vmsd.access.creators import principal_resolver
from vmsd.access.links import LinkClaims, LinkKind
from vmsd.access.principal import Principal, PrincipalKind
from vmsd.access.roles import Role
from vmsd.access.scope import EVERY_CAMERA, CameraScope
from vmsd.api.app import create_app
from vmsd.api.services import SERVICES
from vmsd.store.exports import ExportStore
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
CONTENT = bytes(range(256)) * 8  # 2048 bytes


async def _recording(api: Api, camera: str = "gate") -> int:
    path = _root(api) / camera / "2026-11-20" / "10-00-00.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CONTENT)
    store = RecordingStore(api.cameras.store._pool)
    record = SegmentRecord(
        camera,
        str(path),
        T0,
        T0 + timedelta(seconds=10),
        10.0,
        len(CONTENT),
        EndReason.SEGMENT_COMPLETE,
    )
    await store.insert([record])
    async with api.session.get(
        f"{api.url}/api/v1/recordings", params={"camera": camera}, headers=api.headers("viewer")
    ) as r:
        return int((await r.json())["items"][0]["id"])


async def _link(
    api: Api, recording_id: int, who: str = "viewer", **body: object
) -> tuple[int, dict]:
    async with api.session.post(
        f"{api.url}/api/v1/recordings/{recording_id}/link",
        json=body or {"expires_in": "15m"},
        headers=api.headers(who),
    ) as r:
        return r.status, await r.json()


async def _open(url: str, **headers: str) -> tuple[int, bytes, aiohttp.typedefs.LooseHeaders]:
    # A fresh client: no cookie, no token, only what is given here.
    async with aiohttp.ClientSession() as plain, plain.get(url, headers=headers) as r:
        return r.status, await r.read(), r.headers


async def test_a_link_opens_the_file_with_range_and_no_credential(api: Api) -> None:
    recording_id = await _recording(api)
    status, link = await _link(api, recording_id)
    assert status == 201, link
    assert link["url"] == api.url + link["path"]
    assert link["path"].startswith("/api/v1/links/")
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15, seconds=1)

    status, data, headers = await _open(link["url"])
    assert status == 200 and data == CONTENT
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Content-Disposition"].startswith('attachment; filename="gate_')
    assert "ETag" in headers

    status, data, headers = await _open(link["url"], Range="bytes=0-99")
    assert status == 206 and data == CONTENT[:100]
    assert headers["Content-Range"] == f"bytes 0-99/{len(CONTENT)}"
    status, data, _ = await _open(link["url"], Range="bytes=2000-")
    assert status == 206 and data == CONTENT[2000:]

    async with aiohttp.ClientSession() as plain, plain.head(link["url"]) as r:
        assert r.status == 200 and r.headers["Content-Length"] == str(len(CONTENT))


async def test_expired_tampered_and_deleted_links_get_the_same_404(api: Api) -> None:
    recording_id = await _recording(api)
    signer = api.app[SERVICES].links
    viewer = api.app[SERVICES].token_registry.lookup(api.tokens["viewer"])
    assert viewer is not None
    claims = LinkClaims(
        LinkKind.RECORDING,
        recording_id,
        int(time.time()) + 60,
        PrincipalKind.TOKEN,
        viewer.id,
        EVERY_CAMERA,
    )
    assert (await _open(f"{api.url}/api/v1/links/{signer.sign(claims)}"))[0] == 200
    expired = signer.sign(dataclasses.replace(claims, expires_at=int(time.time()) - 1))
    _, link = await _link(api, recording_id)
    payload, signature = link["path"].rsplit("/", 1)[1].split(".")
    tampered = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    answers = []
    for token in (expired, tampered):
        status, data, _ = await _open(f"{api.url}/api/v1/links/{token}")
        answers.append((status, data))
    async with api.session.delete(
        f"{api.url}/api/v1/recordings/{recording_id}", headers=api.headers("operator")
    ) as r:
        assert r.status == 204
    status, data, _ = await _open(link["url"])
    answers.append((status, data))
    assert {status for status, _ in answers} == {404}
    assert len({data for _, data in answers}) == 1  # never which check failed
    status, _, _ = await _open(f"{api.url}/api/v1/links/not-a-token")
    assert status == 422  # malformed: no token at all


async def test_a_revoked_creator_closes_its_links(api: Api) -> None:
    recording_id = await _recording(api)
    async with api.session.post(
        f"{api.url}/api/v1/tokens",
        json={"name": "sharer", "role": "viewer"},
        headers=api.headers("admin"),
    ) as r:
        created = await r.json()
    api.tokens["sharer"] = created["token"]
    _, link = await _link(api, recording_id, who="sharer")
    assert (await _open(link["url"]))[0] == 200
    async with api.session.delete(
        f"{api.url}/api/v1/tokens/{created['id']}", headers=api.headers("admin")
    ) as r:
        assert r.status == 200
    assert (await _open(link["url"]))[0] == 404
    # Another token's links are untouched.
    _, other = await _link(api, recording_id)
    assert (await _open(other["url"]))[0] == 200


@pytest.fixture
async def users_api(api: Api) -> AsyncIterator[tuple[str, dict[int, Principal]]]:
    """The same services, with users: a directory standing in for the users registry (the
    same callable the daemon gets from it)."""
    users: dict[int, Principal] = {}
    svc = dataclasses.replace(
        api.app[SERVICES],
        resolve_principal=principal_resolver(api.app[SERVICES].token_registry, users.get),
    )
    server = TestServer(create_app(svc), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), users
    await server.close()


async def test_a_creator_who_loses_the_camera_loses_the_link(
    api: Api, users_api: tuple[str, dict[int, Principal]]
) -> None:
    url, users = users_api
    recording_id = await _recording(api, "gate")
    alice = Principal(PrincipalKind.USER, 5, "alice", Role.VIEWER, CameraScope.parse(["gate"]))
    users[5] = alice
    token = api.app[SERVICES].links.sign(
        LinkClaims(
            LinkKind.RECORDING,
            recording_id,
            int(time.time()) + 600,
            PrincipalKind.USER,
            5,
            alice.scope,
        )
    )
    link = f"{url}/api/v1/links/{token}"
    assert (await _open(link))[0] == 200
    users[5] = dataclasses.replace(alice, scope=CameraScope.parse(["office"]))
    assert (await _open(link))[0] == 404
    users[5] = alice
    assert (await _open(link))[0] == 200
    del users[5]  # deleted or disabled
    assert (await _open(link))[0] == 404


async def test_making_a_link_is_validated(api: Api) -> None:
    recording_id = await _recording(api)
    status, body = await _link(api, recording_id, expires_in="8d")
    assert status == 422 and body["error"]["details"][0]["field"] == "expires_in"
    status, body = await _link(api, recording_id, expires_in="soon")
    assert status == 422
    status, body = await _link(api, recording_id, lifetime="1h")
    assert status == 422
    status, body = await _link(api, recording_id + 1000)
    assert status == 404
    async with api.session.post(
        f"{api.url}/api/v1/recordings/{recording_id}/link", json={"expires_in": 60}
    ) as r:
        assert r.status == 401
    async with api.session.post(
        f"{api.url}/api/v1/recordings/{recording_id}/link",
        json={},
        headers=api.headers("viewer"),
    ) as r:
        made = await r.json()
        assert r.status == 201
    expires = datetime.fromisoformat(made["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < expires <= timedelta(hours=1, seconds=1)  # the default


async def _export_link(api: Api, export_id: int) -> tuple[int, dict]:
    async with api.session.post(
        f"{api.url}/api/v1/exports/{export_id}/link", json={}, headers=api.headers("viewer")
    ) as r:
        return r.status, await r.json()


async def test_an_export_link_needs_a_done_export_and_dies_with_it(api: Api) -> None:
    assert (await _export_link(api, 999999))[0] == 404
    store = ExportStore(api.cameras.store._pool)
    job = await store.create("gate", T0, T0 + timedelta(minutes=1), T0 + timedelta(days=9999))
    status, body = await _export_link(api, job.id)
    assert status == 409, body  # queued
    path = _root(api) / "clip.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CONTENT)
    await store.finish(
        job.id, path=str(path), size=len(CONTENT), gaps=[], covered_s=60.0, error=None
    )
    status, link = await _export_link(api, job.id)
    assert status == 201, link
    status, data, headers = await _open(link["url"], Range="bytes=10-19")
    assert status == 206 and data == CONTENT[10:20]
    assert headers["Content-Disposition"].startswith('attachment; filename="gate_')
    async with api.session.delete(
        f"{api.url}/api/v1/exports/{job.id}", headers=api.headers("operator")
    ) as r:
        assert r.status == 204
    assert (await _open(link["url"]))[0] == 404
