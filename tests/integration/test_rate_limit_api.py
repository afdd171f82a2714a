"""auth.rate_limit against the real app over HTTP: 429 with Retry-After past the burst, per
principal, counted, one event; open routes and unauthenticated requests are not limited
there; a reload (the live config) applies at the next request."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tests.conftest import Api
from vmsd.config.access import AuthConfig, RateLimitConfig


def _limit(api: Api, requests_per_second: float, burst: int) -> None:
    current = api.holder.current
    auth = AuthConfig(
        rate_limit=RateLimitConfig(requests_per_second=requests_per_second, burst=burst)
    )
    api.holder.current = current.model_copy(update={"auth": auth})


def _limited(registry: CollectorRegistry, kind: str) -> float:
    return registry.get_sample_value("vmsd_api_rate_limited_total", {"kind": kind}) or 0.0


async def _status(api: Api, path: str, who: str) -> tuple[int, dict[str, str], dict]:
    async with api.session.get(api.url + path, headers=api.headers(who)) as r:
        body = await r.json() if r.content_type == "application/json" else {}
        return r.status, dict(r.headers), body


async def test_past_the_burst_a_principal_gets_429_with_retry_after(api: Api) -> None:
    registry = api.cameras.metrics.registry
    _limit(api, 0.01, 2)  # one request back every 100 s: nothing refills during the test
    assert [(await _status(api, "/api/v1/cameras", "viewer"))[0] for _ in range(2)] == [200, 200]
    status, headers, body = await _status(api, "/api/v1/cameras", "viewer")
    assert status == 429
    assert body["error"]["code"] == "too_many_requests"
    assert 1 <= int(headers["Retry-After"]) <= 100
    assert (await _status(api, "/api/v1/system", "viewer"))[0] == 429  # the whole API
    assert _limited(registry, "token") == 2
    # Another principal has its own bucket; open routes and refused credentials pass by.
    assert (await _status(api, "/api/v1/cameras", "operator"))[0] == 200
    assert (await _status(api, "/healthz", "viewer"))[0] == 200
    assert (await _status(api, "/api/v1/cameras", "bad"))[0] == 401
    assert (await _status(api, "/api/v1/cameras", "none"))[0] == 401

    async with api.session.get(
        api.url + "/api/v1/events", params={"type": "rate_limited"}, headers=api.headers("admin")
    ) as r:
        events = (await r.json())["items"]
    assert [e["data"]["principal"] for e in events] == ["token:test-viewer"]  # once a minute


async def test_a_reload_applies_at_the_next_request(api: Api) -> None:
    _limit(api, 0.01, 1)
    assert (await _status(api, "/api/v1/cameras", "viewer"))[0] == 200
    assert (await _status(api, "/api/v1/cameras", "viewer"))[0] == 429
    _limit(api, 0, 1)  # off
    assert [(await _status(api, "/api/v1/cameras", "viewer"))[0] for _ in range(5)] == [200] * 5
