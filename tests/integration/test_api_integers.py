"""Integers in paths, query strings and headers are ASCII decimal digits within the column's
range, on every route that takes one (found in the served OpenAPI document, so a new integer
parameter is covered without editing this file): anything else is a 422 naming the
parameter, never a 500 and never another spelling of a valid id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Api
from vmsd.core.ints import BIGINT_MAX
from vmsd.store.recordings import EndReason, RecordingStore, SegmentRecord

BAD_INTEGERS = [
    "\u00b3",  # superscript three: str.isdigit() is true, int() raises
    "\u0663",  # Arabic-Indic three: int() reads 3
    "\uff13",  # fullwidth three: int() reads 3
    "-1",
    "+1",
    "1_000",
    " 1",
    "1 ",
    "1.0",
    "0x1",
    "",
    str(10**30),  # past bigint: must not reach PostgreSQL
    str(BIGINT_MAX + 1),
]
# Values a header cannot carry as sent (HTTP strips the spaces around a header value, and the
# client refuses what is not Latin-1) are left to the query-string twin of the parameter.
HEADER_BAD = [v for v in BAD_INTEGERS if v == v.strip() and v.isascii() and v]
RANGE = {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"}


async def _document(api: Api) -> dict[str, Any]:
    async with api.session.get(api.url + "/api/v1/openapi.json") as resp:
        assert resp.status == 200
        return await resp.json()  # type: ignore[no-any-return]


def _integer_parameters(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                if param["schema"].get("type") == "integer":
                    found.append((method.upper(), path, param))
    return found


def _request(
    path: str, operation_params: list[dict[str, Any]], target: dict[str, Any], value: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """(url path, query, headers) with `target` set to `value` and every other required
    parameter valid."""
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    for param in operation_params:
        if param is target:
            raw = value
        elif param["required"] and param["in"] == "query":
            raw = RANGE[param["name"]]
        else:
            continue
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", quote(raw, safe=""))
        elif param["in"] == "query":
            query[param["name"]] = raw
        else:
            headers[param["name"]] = raw
    for param in operation_params:  # other path parameters: a valid id
        path = path.replace("{" + param["name"] + "}", "1")
    return path, query, headers


async def test_every_integer_parameter_refuses_what_is_not_an_ascii_bounded_integer(
    api: Api,
) -> None:
    doc = await _document(api)
    targets = _integer_parameters(doc)
    # ids of recordings, exports and tokens, limit (twice), last_event_id (query and header)
    assert len(targets) >= 11, targets
    checked = 0
    for method, path, param in targets:
        operation = doc["paths"][path][method.lower()]
        values = HEADER_BAD if param["in"] == "header" else BAD_INTEGERS
        for value in values:
            url, query, headers = _request(path, operation["parameters"], param, value)
            async with api.session.request(
                method,
                api.url + url,
                params=query,
                headers={**api.headers("admin"), **headers},
                allow_redirects=False,
            ) as resp:
                label = f"{method} {url} {param['in']} {param['name']}={value!r}"
                if param["in"] == "path" and value == "":
                    assert resp.status == 404, label  # another URL: no route
                    continue
                assert resp.status == 422, f"{label}: {resp.status} {await resp.text()}"
                fields = [d["field"] for d in (await resp.json())["error"]["details"]]
                assert fields == [param["name"]], label
            checked += 1
    assert checked >= 11 * len(HEADER_BAD)


async def test_largest_id_is_a_clean_404(api: Api) -> None:
    """The bound is the column's: the largest bigint is asked for and is not there."""
    for path in ("/api/v1/recordings/", "/api/v1/exports/"):
        async with api.session.get(
            api.url + path + str(BIGINT_MAX), headers=api.headers("viewer")
        ) as resp:
            assert resp.status == 404, await resp.text()


async def test_other_digits_never_alias_an_existing_recording(api: Api) -> None:
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    file = api.cameras.holder.current.storage.paths[0] / "a" / "x.mp4"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"segment")
    record = SegmentRecord(
        "a", str(file), start, start + timedelta(seconds=10), 10.0, 7, EndReason.SEGMENT_COMPLETE
    )
    await RecordingStore(api.cameras.store._pool).insert([record])
    async with api.session.get(
        api.url + "/api/v1/recordings", params=RANGE, headers=api.headers("viewer")
    ) as resp:
        recording_id = (await resp.json())["items"][0]["id"]
    assert recording_id < 10  # one digit: each spelling below is a single character
    for digits in ("\u0660", "\uff10"):  # Arabic-Indic and fullwidth zero
        alias = chr(ord(digits) + recording_id)
        for suffix in ("", "/download"):
            url = f"{api.url}/api/v1/recordings/{quote(alias)}{suffix}"
            async with api.session.get(url, headers=api.headers("viewer")) as resp:
                assert resp.status == 422, (alias, await resp.text())
    async with api.session.get(
        f"{api.url}/api/v1/recordings/{recording_id}", headers=api.headers("viewer")
    ) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("zero", ["\u0660", "\uff10"])
async def test_other_digits_never_revoke_a_token(api: Api, zero: str) -> None:
    admin = api.headers("admin")
    async with api.session.get(api.url + "/api/v1/tokens", headers=admin) as resp:
        tokens = {t["name"]: t["id"] for t in await resp.json()}
    viewer_id = tokens["test-viewer"]
    alias = "".join(chr(ord(zero) + int(d)) for d in str(viewer_id))
    async with api.session.delete(f"{api.url}/api/v1/tokens/{quote(alias)}", headers=admin) as r:
        assert r.status == 422, await r.text()
    async with api.session.get(api.url + "/api/v1/version", headers=api.headers("viewer")) as r:
        assert r.status == 200  # the viewer's token still works
