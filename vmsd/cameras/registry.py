"""The camera registry in memory: what the auth hook, the renderer and the recorders read.

Refreshed from the database at start, after every local write and on NOTIFY (any other
writer). Readers get an immutable snapshot, so a request never sees a half-applied change.

A row this box cannot read (its credential encrypted with another install's key: a box
sharing the database with a different secrets.key, a restore without credentials.key) is
left out of the snapshot with one error log and reported on /readyz (`camera_rows`); every
other camera loads, at start and on every refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

import asyncpg

from vmsd.access.secrets import CredentialCipher
from vmsd.cameras.model import Camera
from vmsd.config.cameras import RtspTransport
from vmsd.config.recording import RecordingOverrides, RetentionOverrides
from vmsd.core.backoff import Backoff
from vmsd.core.errors import StoreError
from vmsd.core.health import Health
from vmsd.core.log import get_logger
from vmsd.store.cameras import CAMERAS_CHANNEL, CameraRow, CameraStore
from vmsd.store.listen import listen_forever

log = get_logger("vmsd.cameras")

ROWS_HEALTH = "camera_rows"


def camera_from_row(row: CameraRow, cipher: CredentialCipher) -> Camera:
    return Camera(
        name=row.name,
        source=row.source,
        username=row.username,
        password=cipher.decrypt(row.password_enc) if row.password_enc is not None else None,
        rtsp_transport=RtspTransport(row.rtsp_transport),
        enabled=row.enabled,
        record=row.record,
        recording=RecordingOverrides.model_validate(row.recording),
        retention=RetentionOverrides.model_validate(row.retention),
        description=row.description,
        location=row.location,
        managed_by=row.managed_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        groups=row.groups,
    )


class CameraRegistry:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: CameraStore,
        cipher: CredentialCipher,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        health: Health | None = None,
    ) -> None:
        self._pool = pool
        self._health = health
        self._unreadable: frozenset[str] = frozenset()
        self._store = store
        self._cipher = cipher
        self._backoff = backoff
        self._sleep = sleep
        self._cameras: Mapping[str, Camera] = MappingProxyType({})
        self._subscribers: list[asyncio.Event] = []
        self._refresh_lock = asyncio.Lock()

    @property
    def cameras(self) -> Mapping[str, Camera]:
        return self._cameras

    @property
    def unreadable(self) -> frozenset[str]:
        """Cameras in the database left out of the snapshot: their row cannot be read here."""
        return self._unreadable

    def subscribe(self) -> asyncio.Event:
        """An Event set after every change of the snapshot; the subscriber clears it."""
        event = asyncio.Event()
        self._subscribers.append(event)
        return event

    async def refresh(self) -> None:
        async with self._refresh_lock:
            rows = await self._store.list_all()
            cameras: dict[str, Camera] = {}
            unreadable: dict[str, StoreError] = {}
            for row in rows:
                try:
                    cameras[row.name] = camera_from_row(row, self._cipher)
                except StoreError as err:
                    unreadable[row.name] = err
            self._report_unreadable(unreadable)
            if cameras == dict(self._cameras):
                return
            self._cameras = MappingProxyType(cameras)
        for event in self._subscribers:
            event.set()

    def _report_unreadable(self, unreadable: Mapping[str, StoreError]) -> None:
        names = frozenset(unreadable)
        for name in sorted(names - self._unreadable):  # once per row, not per refresh
            err = unreadable[name]
            log.error("camera_row_unreadable", camera=name, error=err.message, hint=err.details)
        for name in sorted(self._unreadable - names):
            log.info("camera_row_readable", camera=name)
        self._unreadable = names
        if self._health is not None:
            detail = f"unreadable camera rows (another key?): {', '.join(sorted(names))}"
            self._health.set(ROWS_HEALTH, not names, detail if names else "")

    async def run(self) -> None:
        await listen_forever(
            self._pool, CAMERAS_CHANNEL, self.refresh, backoff=self._backoff, sleep=self._sleep
        )
