"""SourceReports: MediaMTX's word on a path's source, into the cameras' real live state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from vmsd.cameras.live import LiveCameras
from vmsd.cameras.model import camera_from_config
from vmsd.cameras.state import CameraError, CameraState, CameraStates
from vmsd.config.schema import CameraConfig
from vmsd.core.metrics import Metrics
from vmsd.mediamtx.pathlog import SourceReport
from vmsd.mediamtx.source_log import SOURCE_READY, SourceReports
from vmsd.recorder.failures import FailureClass

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
DENIED = SourceReport(
    "cam", FailureClass.UNAUTHORIZED, "[RTSP source] bad status code: 401 (Unauthorized)"
)
REFUSED = SourceReport(
    "cam", FailureClass.REFUSED, "[RTSP source] dial tcp 10.0.0.5:554: connect: connection refused"
)
READY = SourceReport("cam", None, "stream is available and online, 1 track (H264)")


async def _live() -> tuple[LiveCameras, list[tuple[str, dict[str, Any]]]]:
    events: list[tuple[str, dict[str, Any]]] = []

    async def record(type_: str, **data: Any) -> None:
        events.append((type_, data))

    live = LiveCameras(CameraStates(), Metrics(), record)
    config = CameraConfig(name="cam", source="rtsp://admin:pw@10.0.0.5/s1")
    await live.sync({"cam": camera_from_config(config, "config")})
    return live, events


async def test_a_failure_is_the_camera_s_reason_and_last_error_and_ready_ends_it() -> None:
    live, events = await _live()
    reports = SourceReports(live, clock=lambda: T0)
    reports.put(DENIED)
    await reports.apply_pending()
    state = live.get("cam")
    assert (state.state, state.reason) == (CameraState.OFFLINE, "unauthorized")
    assert state.last_error == CameraError("unauthorized", DENIED.message, T0, 1)
    reports.put(DENIED)  # MediaMTX's retry 5 s later: counted, no new event
    await reports.apply_pending()
    assert live.get("cam").last_error == CameraError("unauthorized", DENIED.message, T0, 2)
    reports.put(READY)
    await reports.apply_pending()
    state = live.get("cam")
    assert (state.state, state.reason) == (CameraState.ONLINE, SOURCE_READY)
    # last_error is the last failure, kept after the camera recovers (README: Camera states)
    assert state.last_error == CameraError("unauthorized", DENIED.message, T0, 2)
    reports.put(DENIED)  # a new streak after the recovery
    await reports.apply_pending()
    assert live.get("cam").last_error == CameraError("unauthorized", DENIED.message, T0, 1)
    assert [(t, d["reason"]) for t, d in events] == [
        ("camera_offline", "unauthorized"),
        ("camera_online", SOURCE_READY),
        ("camera_offline", "unauthorized"),
    ]


async def test_a_new_class_replaces_the_reason_and_starts_its_own_count() -> None:
    live, _ = await _live()
    await live.report("cam", False, "poll")  # MediaMTX's path list said so first
    reports = SourceReports(live, clock=lambda: T0)
    for report in (DENIED, DENIED, REFUSED):
        reports.put(report)
        await reports.apply_pending()
    state = live.get("cam")
    assert (state.state, state.reason) == (CameraState.OFFLINE, "refused")
    assert state.last_error == CameraError("refused", REFUSED.message, T0, 1)


async def test_reports_coalesce_while_applying_waits_and_repeats_still_count() -> None:
    live, events = await _live()
    reports = SourceReports(live, clock=lambda: T0)
    for _ in range(3):
        reports.put(DENIED)
    reports.put(SourceReport("not-a-camera", FailureClass.REFUSED, "x"))  # ignored by live
    await reports.apply_pending()
    assert live.get("cam").last_error == CameraError("unauthorized", DENIED.message, T0, 3)
    assert len(events) == 1


async def test_run_applies_what_is_put_and_catches_up_after_a_restart() -> None:
    live, _ = await _live()
    reports = SourceReports(live, clock=lambda: T0)
    reports.put(DENIED)  # put before run starts (as after a supervisor restart)
    task = asyncio.create_task(reports.run())
    try:
        async with asyncio.timeout(5):
            while live.get("cam").reason != "unauthorized":
                await asyncio.sleep(0.01)
            reports.put(READY)
            while live.get("cam").state is not CameraState.ONLINE:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.wait({task})
