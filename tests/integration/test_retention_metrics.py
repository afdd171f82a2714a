"""What retention exports for the alerts: each storage path's watermarks, and passes by result
with the time of the last good one (config/prometheus/alerts.yml relies on these)."""

from __future__ import annotations

import shutil
import time

import asyncpg
import pytest

from tests.conftest import CameraStack, record_noop
from vmsd.core.metrics import Metrics
from vmsd.recordings.deletion import SegmentDeleter
from vmsd.retention.planner import watermarks
from vmsd.retention.service import RetentionService
from vmsd.store.recordings import RecordingStore


async def test_a_pass_exports_watermarks_interval_and_its_result(
    camera_stack: CameraStack,
) -> None:
    config = camera_stack.holder.current
    (root,) = config.storage.paths
    root.mkdir(parents=True)
    before = time.time()
    await camera_stack.retention.run_once()
    after = time.time()

    value = camera_stack.metrics.registry.get_sample_value
    total = shutil.disk_usage(root).total
    low, target = watermarks(total, 5.0, None, 8.0)  # the defaults
    assert low > 0 and target > low
    assert value("vmsd_retention_low_watermark_bytes", {"path": str(root)}) == low
    assert value("vmsd_retention_target_free_bytes", {"path": str(root)}) == target
    assert value("vmsd_retention_interval_seconds") == config.retention.interval_seconds
    assert value("vmsd_retention_passes_total", {"result": "ok"}) == 1
    assert value("vmsd_retention_passes_total", {"result": "failed"}) is None
    last = value("vmsd_retention_last_pass_timestamp_seconds")
    assert last is not None and before <= last <= after


async def test_a_failed_pass_is_counted_and_keeps_the_last_good_time(
    camera_stack: CameraStack, database_dsn: str
) -> None:
    closed = await asyncpg.create_pool(database_dsn, min_size=1, max_size=1)
    assert closed is not None
    await closed.close()  # the database is away for this service: every query fails
    metrics = Metrics()
    store = RecordingStore(closed)
    service = RetentionService(
        camera_stack.holder,
        store,
        SegmentDeleter(store),
        camera_stack.registry,
        metrics,
        record_noop,
    )
    with pytest.raises(asyncpg.InterfaceError):
        await service.run_once()
    value = metrics.registry.get_sample_value
    assert value("vmsd_retention_passes_total", {"result": "failed"}) == 1
    assert value("vmsd_retention_passes_total", {"result": "ok"}) is None
    assert value("vmsd_retention_last_pass_timestamp_seconds") == 0


async def test_a_storage_path_dropped_by_a_reload_leaves_no_series(
    camera_stack: CameraStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    holder = camera_stack.holder
    (first,) = holder.current.storage.paths
    first.mkdir(parents=True)
    second = tmp_path_factory.mktemp("second-root")
    storage = holder.current.storage.model_copy(update={"paths": (first, second)})
    holder.current = holder.current.model_copy(update={"storage": storage})
    await camera_stack.retention.run_once()
    value = camera_stack.metrics.registry.get_sample_value
    assert value("vmsd_retention_low_watermark_bytes", {"path": str(second)}) is not None

    storage = holder.current.storage.model_copy(update={"paths": (first,)})
    holder.current = holder.current.model_copy(update={"storage": storage})
    await camera_stack.retention.run_once()
    assert value("vmsd_retention_low_watermark_bytes", {"path": str(second)}) is None
    assert value("vmsd_retention_target_free_bytes", {"path": str(second)}) is None
    assert value("vmsd_retention_low_watermark_bytes", {"path": str(first)}) is not None
