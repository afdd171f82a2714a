"""SQL for the camera registry. Passwords arrive and leave encrypted (bytes)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from vmsd.core.errors import ConflictError, NotFoundError

CAMERAS_CHANNEL = "vmsd_cameras"
MANAGED_BY_API = "api"
MANAGED_BY_CONFIG = "config"

_COLUMNS = """name, source, username, password_enc, rtsp_transport, enabled, record, recording,
    retention, description, location, managed_by, created_at, updated_at, groups"""
# Columns a caller may set; name and managed_by are set only on insert / config sync.
WRITABLE = (
    "source",
    "username",
    "password_enc",
    "rtsp_transport",
    "enabled",
    "record",
    "recording",
    "retention",
    "description",
    "location",
    "groups",
)
_CASTS = {"recording": "::jsonb", "retention": "::jsonb", "groups": "::text[]"}


@dataclass(frozen=True, slots=True)
class CameraRow:
    name: str
    source: str
    username: str | None
    password_enc: bytes | None
    rtsp_transport: str
    enabled: bool
    record: bool
    recording: Mapping[str, Any]
    retention: Mapping[str, Any]
    description: str
    location: str
    managed_by: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    groups: tuple[str, ...] = ()


def _row(record: asyncpg.Record) -> CameraRow:
    password = record["password_enc"]
    return CameraRow(
        name=record["name"],
        source=record["source"],
        username=record["username"],
        password_enc=bytes(password) if password is not None else None,
        rtsp_transport=record["rtsp_transport"],
        enabled=record["enabled"],
        record=record["record"],
        recording=json.loads(record["recording"]),
        retention=json.loads(record["retention"]),
        description=record["description"],
        location=record["location"],
        managed_by=record["managed_by"],
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        groups=tuple(record["groups"]),
    )


def _values(row: CameraRow) -> list[Any]:
    return [
        row.name,
        row.source,
        row.username,
        row.password_enc,
        row.rtsp_transport,
        row.enabled,
        row.record,
        json.dumps(dict(row.recording)),
        json.dumps(dict(row.retention)),
        row.description,
        row.location,
        row.managed_by,
        list(row.groups),
    ]


_INSERT = """INSERT INTO cameras (name, source, username, password_enc, rtsp_transport, enabled,
    record, recording, retention, description, location, managed_by, groups)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12, $13::text[])"""


class CameraStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_all(self) -> list[CameraRow]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM cameras ORDER BY name")  # noqa: S608
        return [_row(r) for r in rows]

    async def get(self, name: str) -> CameraRow:
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM cameras WHERE name = $1",  # noqa: S608
            name,
        )
        if record is None:
            raise NotFoundError(f"no camera named {name!r}")
        return _row(record)

    async def insert(self, row: CameraRow) -> CameraRow:
        try:
            record = await self._pool.fetchrow(f"{_INSERT} RETURNING {_COLUMNS}", *_values(row))
        except asyncpg.UniqueViolationError as err:
            raise ConflictError(f"a camera named {row.name!r} already exists") from err
        assert record is not None
        return _row(record)

    async def update(self, name: str, changes: Mapping[str, Any]) -> CameraRow:
        """Only API-managed cameras; the WHERE clause makes the check and the write one step."""
        unknown = set(changes) - set(WRITABLE)
        assert not unknown, f"not writable: {unknown}"
        assignments = []
        values: list[Any] = [name]
        for column, value in changes.items():
            cast = _CASTS.get(column, "")
            if cast == "::jsonb":
                value = json.dumps(dict(value))
            elif cast == "::text[]":
                value = list(value)
            values.append(value)
            assignments.append(f"{column} = ${len(values)}{cast}")
        assignments.append("updated_at = now()")
        record = await self._pool.fetchrow(
            f"""UPDATE cameras SET {", ".join(assignments)}
                WHERE name = $1 AND managed_by = 'api' RETURNING {_COLUMNS}""",  # noqa: S608
            *values,
        )
        if record is None:
            await self._raise_missing_or_managed(name)
        assert record is not None
        return _row(record)

    async def delete(self, name: str) -> None:
        status = await self._pool.execute(
            "DELETE FROM cameras WHERE name = $1 AND managed_by = 'api'", name
        )
        if status == "DELETE 0":
            await self._raise_missing_or_managed(name)

    async def sync_config(self, rows: Sequence[CameraRow]) -> tuple[list[str], list[str]]:
        """Make the config-managed cameras exactly `rows`, in one transaction.

        Returns (names written or taken over, names removed). A camera first created through the
        API whose name now appears in the file is taken over by the file.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            existing = {
                r["name"]: r
                for r in await conn.fetch(f"SELECT {_COLUMNS} FROM cameras FOR UPDATE")  # noqa: S608
            }
            written = []
            for row in rows:
                current = existing.get(row.name)
                if current is not None and _same(_row(current), row):
                    continue
                await conn.execute(
                    f"""{_INSERT} ON CONFLICT (name) DO UPDATE SET
                        source = EXCLUDED.source, username = EXCLUDED.username,
                        password_enc = EXCLUDED.password_enc,
                        rtsp_transport = EXCLUDED.rtsp_transport, enabled = EXCLUDED.enabled,
                        record = EXCLUDED.record, recording = EXCLUDED.recording,
                        retention = EXCLUDED.retention, description = EXCLUDED.description,
                        location = EXCLUDED.location, managed_by = EXCLUDED.managed_by,
                        groups = EXCLUDED.groups,
                        updated_at = now()""",
                    *_values(row),
                )
                written.append(row.name)
            wanted = {r.name for r in rows}
            removed = [
                name
                for name, r in existing.items()
                if r["managed_by"] == MANAGED_BY_CONFIG and name not in wanted
            ]
            if removed:
                await conn.execute("DELETE FROM cameras WHERE name = ANY($1::text[])", removed)
        return written, removed

    async def _raise_missing_or_managed(self, name: str) -> None:
        managed_by = await self._pool.fetchval(
            "SELECT managed_by FROM cameras WHERE name = $1", name
        )
        if managed_by is None:
            raise NotFoundError(f"no camera named {name!r}")
        raise ConflictError(
            f"camera {name!r} is managed by the config file; change it there and reload"
        )


def _same(current: CameraRow, wanted: CameraRow) -> bool:
    """Equal in every stored column. Encrypted passwords differ on every encryption, so the
    caller passes the current ciphertext when the plaintext is unchanged."""
    return all(getattr(current, column) == getattr(wanted, column) for column in WRITABLE) and (
        current.managed_by == wanted.managed_by
    )
