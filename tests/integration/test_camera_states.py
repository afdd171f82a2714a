"""The cameras' last live states in PostgreSQL, and LiveCameras over them: what one run
leaves, the next restates without an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from cryptography.fernet import Fernet

from vmsd.access.secrets import CredentialCipher
from vmsd.cameras.live import LiveCameras
from vmsd.cameras.state import CameraError, CameraState, CameraStates
from vmsd.config.cameras import CameraConfig
from vmsd.core.metrics import Metrics
from vmsd.runtime.wiring import build_cameras
from vmsd.store.camera_states import CameraStateRow, CameraStateStore

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_save_load_and_gone_with_the_camera(db_pool: asyncpg.Pool) -> None:
    events: list[str] = []

    async def record(type_: str, **_data: Any) -> None:
        events.append(type_)

    cams = build_cameras(db_pool, CredentialCipher(Fernet.generate_key()), Metrics(), record)
    await cams.service.sync_config([CameraConfig(name="a", source="rtsp://192.0.2.1/x")])
    store = CameraStateStore(db_pool)
    await store.save(
        [CameraStateRow("a", "offline", "refused", T0), CameraStateRow("ghost", "online", "", T0)]
    )
    # A camera deleted meanwhile (or never there) is skipped, not an error.
    assert await store.load() == [CameraStateRow("a", "offline", "refused", T0)]
    await store.save([CameraStateRow("a", "online", "recording", T0 + timedelta(seconds=1))])
    assert [r.state for r in await store.load()] == ["online"]
    await cams.service.sync_config([])
    assert await store.load() == []


async def test_a_second_run_restates_what_the_first_left(db_pool: asyncpg.Pool) -> None:
    events: list[tuple[str, str | None]] = []

    async def record(type_: str, camera: str | None = None, **_data: Any) -> None:
        events.append((type_, camera))

    cams = build_cameras(db_pool, CredentialCipher(Fernet.generate_key()), Metrics(), record)
    cameras = [
        CameraConfig(name="dead", source="rtsp://192.0.2.1/x"),
        CameraConfig(name="back", source="rtsp://192.0.2.2/x"),
        CameraConfig(name="parked", source="rtsp://192.0.2.3/x", enabled=False),
    ]
    await cams.service.sync_config(cameras)
    error = CameraError("refused", "connect to 192.0.2.1:554: Connection refused", T0)
    for run in range(2):
        live = LiveCameras(CameraStates(), Metrics(), record, CameraStateStore(db_pool))
        await live.restore()
        await live.sync(cams.registry.cameras)
        await live.report_error("dead", error, offline=True)
        if run == 0:
            await live.report_error("back", error, offline=True)
        else:
            await live.report("back", True, "recording")
        assert live.get("dead").state is CameraState.OFFLINE
    assert sorted(events) == [
        ("camera_disabled", "parked"),  # the first run only
        ("camera_offline", "back"),
        ("camera_offline", "dead"),  # the first run only: the second restates it
        ("camera_online", "back"),  # a change across the restart is news
        ("cameras_synced", None),
    ]
