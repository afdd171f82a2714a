"""HSTS: on every API answer over HTTPS (the real listener, runtime.sites, with a certificate
made here), at the live max-age, none at 0; never over plain HTTP."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp

from tests.certs import make_certificate
from tests.conftest import Api
from tests.net import free_port
from vmsd.api.app import create_app
from vmsd.api.services import SERVICES
from vmsd.config.server import TlsConfig
from vmsd.runtime.preflight import Listener
from vmsd.runtime.sites import start_site
from vmsd.runtime.tls import server_context


async def test_hsts_over_https_only_at_the_live_max_age(api: Api, tmp_path: Path) -> None:
    async with api.session.get(api.url + "/healthz") as r:
        assert r.status == 200 and "Strict-Transport-Security" not in r.headers

    cert, key = make_certificate(tmp_path)
    tls = TlsConfig(cert_file=cert, key_file=key, hsts_max_age_seconds=600)
    server = api.holder.current.server.model_copy(update={"tls": tls})
    api.holder.current = api.holder.current.model_copy(update={"server": server})
    context, _ = server_context(tls)
    port = free_port()
    runner = await start_site(create_app(api.app[SERVICES]), Listener("127.0.0.1", port), context)
    client_context = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as https:
            for path, status in (("/healthz", 200), ("/api/v1/cameras", 401), ("/nope", 404)):
                async with https.get(base + path, ssl=client_context) as r:
                    assert r.status == status
                    assert r.headers["Strict-Transport-Security"] == "max-age=600"
            off = server.model_copy(
                update={"tls": tls.model_copy(update={"hsts_max_age_seconds": 0})}
            )
            api.holder.current = api.holder.current.model_copy(update={"server": off})
            async with https.get(base + "/healthz", ssl=client_context) as r:
                assert r.status == 200 and "Strict-Transport-Security" not in r.headers
    finally:
        await runner.cleanup()
