"""MediaMTX Control API v3 client (loopback, vmsd's internal credential)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import aiohttp

from vmsd.access.mediamtx_auth import INTERNAL_USER

REQUEST_TIMEOUT_S = 3.0
ITEMS_PER_PAGE = 500


@dataclass(frozen=True, slots=True)
class PathStatus:
    name: str
    available: bool
    readers: int
    inbound_bytes: int


def parse_path_item(item: Any) -> PathStatus | None:
    """One item of /v3/paths/list. `available` replaced `ready` (deprecated) in newer versions."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    available = item.get("available", item.get("ready"))
    readers = item.get("readers")
    inbound = item.get("inboundBytes", item.get("bytesReceived", 0))
    return PathStatus(
        name=item["name"],
        available=available is True,
        readers=len(readers) if isinstance(readers, list) else 0,
        inbound_bytes=inbound if isinstance(inbound, int) else 0,
    )


class MediaMtxClient:
    def __init__(self, api_port: int, internal_password: str) -> None:
        self._base = f"http://127.0.0.1:{api_port}"
        # The header itself: aiohttp 3.14 deprecates BasicAuth and the session's `auth`.
        token = base64.b64encode(f"{INTERNAL_USER}:{internal_password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._session: aiohttp.ClientSession | None = None

    async def info(self) -> dict[str, Any]:
        data = await self._get("/v3/info")
        return data if isinstance(data, dict) else {}

    async def paths(self) -> list[PathStatus]:
        found: list[PathStatus] = []
        page = 0
        while True:
            data = await self._get(f"/v3/paths/list?page={page}&itemsPerPage={ITEMS_PER_PAGE}")
            items = data.get("items") if isinstance(data, dict) else None
            for item in items or []:
                status = parse_path_item(item)
                if status is not None:
                    found.append(status)
            page += 1
            page_count = data.get("pageCount", 1) if isinstance(data, dict) else 1
            if not isinstance(page_count, int) or page >= page_count:
                return found

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, path: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            )
        async with self._session.get(self._base + path) as response:
            response.raise_for_status()
            return await response.json(content_type=None)
