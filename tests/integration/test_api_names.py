"""Names and strings from clients: what the database cannot hold is refused up front, not a 500.
Found by schemathesis: a token name with a NUL byte reached PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from vmsd.core.names import LABEL_MAX, is_label


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("grafana", True),
        ("ops team 2", True),
        ("é" * LABEL_MAX, True),
        ("é" * (LABEL_MAX + 1), False),
        ("", False),
        ("   ", False),
        ("nul\x00byte", False),
        ("bell\x07", False),
        ("del\x7f", False),
        ("new\nline", False),
    ],
)
def test_label_rule(name: str, ok: bool) -> None:
    assert is_label(name) is ok


@pytest.mark.parametrize(
    "name", ["nul\u0000byte", "tab\tinside", "   ", "\u0007", "x" * (LABEL_MAX + 1)]
)
async def test_a_token_name_the_rule_refuses_is_a_422(api: Api, name: str) -> None:
    async with api.session.post(
        api.url + "/api/v1/tokens", json={"name": name, "role": "viewer"},
        headers=api.headers("admin"),
    ) as resp:  # fmt: skip
        assert resp.status == 422, await resp.text()
        body = await resp.json()
    assert body["error"]["details"][0]["field"] == "name"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\\ud800", "role": "viewer"}',  # a lone surrogate escape
        b'{"name": "a", "name": "b", "role": "viewer"}',  # duplicate keys
        b'{"name": "a", "role": "viewer", "x": NaN}',
        b'\xff\xfe{"name": "a"}',
    ],
    ids=["lone-surrogate", "duplicate-key", "nan", "not-utf8"],
)
async def test_a_body_that_is_not_strict_json_is_a_400(api: Api, raw: bytes) -> None:
    headers = {**api.headers("admin"), "Content-Type": "application/json"}
    async with api.session.post(api.url + "/api/v1/tokens", data=raw, headers=headers) as resp:
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["error"]["code"] == "bad_request"
    async with api.session.get(api.url + "/api/v1/tokens", headers=api.headers("admin")) as resp:
        names = {t["name"] for t in await resp.json()}
    assert not {"a", "b"} & names  # nothing was created


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "nul\u0000inside"),
        ("location", "\u0000"),
        ("username", "ad\u0000min"),
        ("username", "ad\nmin"),
        ("source", "test:"),
        ("source", "test:x"),
    ],
)
async def test_a_camera_field_the_database_cannot_hold_is_a_422(
    api: Api, field: str, value: str
) -> None:
    body = {"name": "cam-x", "source": "rtsp://192.0.2.1/s", field: value}
    if field == "username":
        body["password"] = "pw-1234567"
    async with api.session.post(
        api.url + "/api/v1/cameras", json=body, headers=api.headers("admin")
    ) as resp:
        assert resp.status == 422, await resp.text()
    async with api.session.get(
        api.url + "/api/v1/cameras/cam-x", headers=api.headers("admin")
    ) as resp:
        assert resp.status == 404  # nothing was stored
