"""The Control-API client sends vmsd's internal credential as HTTP Basic (what MediaMTX
forwards to the auth hook as user/password) and pages through /v3/paths/list."""

from __future__ import annotations

import base64

from aiohttp import web
from aiohttp.test_utils import TestServer

from vmsd.access.mediamtx_auth import INTERNAL_USER
from vmsd.mediamtx.client import MediaMtxClient


async def test_basic_credential_and_paging() -> None:
    seen: list[str] = []

    async def paths(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        page = int(request.query["page"])
        items = [{"name": f"cam{page}", "available": True, "readers": [{}], "inboundBytes": 7}]
        return web.json_response({"pageCount": 2, "items": items})

    app = web.Application()
    app.router.add_get("/v3/paths/list", paths)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    client = MediaMtxClient(server.port, "s3cret")
    try:
        found = await client.paths()
    finally:
        await client.close()
        await server.close()
    expected = "Basic " + base64.b64encode(f"{INTERNAL_USER}:s3cret".encode()).decode()
    assert seen == [expected, expected]
    assert [(p.name, p.available, p.readers, p.inbound_bytes) for p in found] == [
        ("cam0", True, 1, 7),
        ("cam1", True, 1, 7),
    ]
