"""Camera registry operations: what the API and the config sync call. Validation happens here
(one rule set for the file and the API), SQL in the store, secrets through the cipher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from vmsd.access.secrets import CredentialCipher
from vmsd.cameras.model import Camera, CameraPatch, normalized_input, secret_value
from vmsd.cameras.registry import CameraRegistry, camera_from_row
from vmsd.config.cameras import CameraConfig
from vmsd.config.messages import field_errors
from vmsd.core.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    StoreError,
    ValidationError,
)
from vmsd.core.log import get_logger
from vmsd.core.redact import restore_secrets
from vmsd.core.sources import PUBLISHER, split_credentials
from vmsd.events.bus import RecordEvent
from vmsd.store.cameras import (
    MANAGED_BY_API,
    MANAGED_BY_CONFIG,
    WRITABLE,
    CameraRow,
    CameraStore,
)

log = get_logger("vmsd.cameras")

# With MediaMTX off a publisher camera has nowhere to publish, and its recorder would run
# `ffmpeg -i publisher` (a file of that name, if one exists in the working directory).
PUBLISHER_NEEDS_MEDIAMTX = (
    "a publisher camera publishes to MediaMTX, and MediaMTX is off here "
    "(mediamtx.mode off, or auto with no MediaMTX binary found)"
)


def _source_with_secrets(source: str, existing: Camera | None) -> str:
    """A source as the API showed it (`rtsp://u:***@cam/x?token=***`) sent back: each ***
    standing for a secret keeps the camera's stored secret there; a *** with no stored
    secret behind it is refused (422) rather than stored as the password."""
    try:
        return restore_secrets(source, existing.connect_url if existing is not None else "")
    except ValueError as err:
        raise ValidationError("invalid camera", [{"field": "source", "message": str(err)}]) from err


class CameraService:
    def __init__(
        self,
        store: CameraStore,
        cipher: CredentialCipher,
        registry: CameraRegistry,
        record_event: RecordEvent,
        *,
        accepts_publishers: bool = True,
    ) -> None:
        """`accepts_publishers`: MediaMTX runs (its effective mode is not off)."""
        self._store = store
        self._cipher = cipher
        self._registry = registry
        self._record_event = record_event
        self._accepts_publishers = accepts_publishers

    def list(self) -> list[Camera]:
        return list(self._registry.cameras.values())

    def find(self, name: str) -> Camera | None:
        return self._registry.cameras.get(name)

    def get(self, name: str) -> Camera:
        camera = self._registry.cameras.get(name)
        if camera is None:
            raise NotFoundError(f"no camera named {name!r}")
        return camera

    async def create(self, wanted: CameraConfig) -> Camera:
        _source_with_secrets(wanted.source, None)  # a *** has no stored value to stand for
        self._refuse_publisher(wanted)
        row = self._row(normalized_input(wanted), MANAGED_BY_API, current=None)
        created = await self._store.insert(row)
        await self._registry.refresh()
        log.info("camera_created", camera=created.name, source=row.source)
        await self._record_event("camera_created", camera=created.name)
        return camera_from_row(created, self._cipher)

    async def update(self, name: str, patch: CameraPatch) -> Camera:
        current = await self._store.get(name)
        if current.managed_by == MANAGED_BY_CONFIG:
            raise ConflictError(
                f"camera {name!r} is managed by the config file; change it there and reload"
            )
        existing = camera_from_row(current, self._cipher)
        merged = existing.as_input()
        changes: dict[str, Any] = {
            key: secret_value(value) if isinstance(value, SecretStr) else value
            for key, value in patch.model_dump().items()
            if key in patch.model_fields_set
        }
        if "source" in changes and changes["source"] is not None:
            changes["source"] = _source_with_secrets(changes["source"], existing)
            _, url_user, url_password = split_credentials(changes["source"])
            if url_user or url_password:  # new credentials come with the new URL
                merged.update(username=None, password=None)
        merged.update(changes)
        wanted = normalized_input(validate_camera_input(merged))
        self._refuse_publisher(wanted)
        row = self._row(wanted, MANAGED_BY_API, current=current)
        updated = await self._store.update(name, {c: getattr(row, c) for c in WRITABLE})
        await self._registry.refresh()
        log.info("camera_updated", camera=name, keys=sorted(changes))
        await self._record_event("camera_updated", camera=name, keys=sorted(changes))
        return camera_from_row(updated, self._cipher)

    async def delete(self, name: str) -> None:
        await self._store.delete(name)
        await self._registry.refresh()
        log.info("camera_deleted", camera=name)
        await self._record_event("camera_deleted", camera=name)

    async def sync_config(self, cameras: Sequence[CameraConfig]) -> None:
        """Make the database's config-managed cameras exactly those of the file. A publisher
        camera with MediaMTX off is a ConfigError (at start: exit 78; a reload: rejected)."""
        publishers = [i for i, c in enumerate(cameras) if c.source == PUBLISHER]
        if publishers and not self._accepts_publishers:
            lines = [f"cameras[{i}].source: {PUBLISHER_NEEDS_MEDIAMTX}" for i in publishers]
            raise ConfigError("publisher cameras need MediaMTX", lines)
        current = {row.name: row for row in await self._store.list_all()}
        rows = [
            self._row(normalized_input(c), MANAGED_BY_CONFIG, current=current.get(c.name))
            for c in cameras
        ]
        for row in rows:
            existing = current.get(row.name)
            if existing is not None and existing.managed_by == MANAGED_BY_API:
                log.warning("camera_taken_over_by_config", camera=row.name)
        written, removed = await self._store.sync_config(rows)
        await self._registry.refresh()
        if written or removed:
            log.info("cameras_synced_from_config", written=written, removed=removed)
            await self._record_event("cameras_synced", written=written, removed=removed)

    def _refuse_publisher(self, wanted: CameraConfig) -> None:
        if wanted.source == PUBLISHER and not self._accepts_publishers:
            raise ValidationError(
                "invalid camera", [{"field": "source", "message": PUBLISHER_NEEDS_MEDIAMTX}]
            )

    def _row(self, wanted: CameraConfig, managed_by: str, current: CameraRow | None) -> CameraRow:
        password = secret_value(wanted.password)
        return CameraRow(
            name=wanted.name,
            source=wanted.source,
            username=wanted.username,
            password_enc=self._encrypted(password, current),
            rtsp_transport=wanted.rtsp_transport.value,
            enabled=wanted.enabled,
            record=wanted.record,
            recording=wanted.recording.model_dump(exclude_none=True),
            retention=wanted.retention.model_dump(exclude_none=True),
            description=wanted.description,
            location=wanted.location,
            groups=wanted.groups,
            managed_by=managed_by,
        )

    def _encrypted(self, password: str | None, current: CameraRow | None) -> bytes | None:
        """The stored ciphertext when the password is unchanged (Fernet output differs on every
        call; reusing it keeps a no-op sync a no-op)."""
        if password is None:
            return None
        if current is not None and current.password_enc is not None:
            try:
                if self._cipher.decrypt(current.password_enc) == password:
                    return current.password_enc
            except StoreError:  # another install's key: the file's password replaces it
                log.warning("camera_password_rewritten", camera=current.name)
        return self._cipher.encrypt(password)


def validate_camera_input(data: dict[str, Any]) -> CameraConfig:
    try:
        return CameraConfig.model_validate(data)
    except PydanticValidationError as err:
        raise ValidationError("invalid camera", field_errors(err)) from err
