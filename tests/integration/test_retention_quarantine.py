"""`.quarantine/` is bounded: retention removes what was quarantined more than
`retention.quarantine_max_age` ago, and counts what is there (files, bytes) in the storage
report and the metrics. The selection is pure; the sweep runs on real files, with `now` moved
ahead instead of old files (a rename sets ctime, which no test can set back)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tests.conftest import CameraStack
from vmsd.config.schema import Config
from vmsd.recordings.recovery import QUARANTINE_DIR, quarantine_file
from vmsd.retention.metrics import RetentionMetrics
from vmsd.retention.planner import RootUsage
from vmsd.retention.quarantine import (
    QuarantinedFile,
    QuarantineUsage,
    list_quarantine,
    quarantine_usage,
    select_expired,
    sweep_quarantine,
)
from vmsd.retention.service import storage_report

DAY_S = 86400.0
WEEK_S = 7 * DAY_S


def _entry(name: str, age_s: float, now: float = 1e9) -> QuarantinedFile:
    return QuarantinedFile(Path(name), 100, now - age_s)


@pytest.mark.parametrize(
    ("ages_s", "max_age_s", "expired"),
    [
        ([], WEEK_S, []),
        ([DAY_S, 6 * DAY_S], WEEK_S, []),
        ([DAY_S, WEEK_S + 1, 30 * DAY_S], WEEK_S, [1, 2]),
        ([WEEK_S], WEEK_S, []),  # exactly max_age: kept
        ([2.0, 0.5], 1.0, [0]),
    ],
)
def test_select_expired(ages_s: list[float], max_age_s: float, expired: list[int]) -> None:
    files = [_entry(f"f{i}", age) for i, age in enumerate(ages_s)]
    assert select_expired(files, 1e9, max_age_s) == [files[i] for i in expired]


def _segment(root: Path, camera: str, name: str, size: int) -> Path:
    path = root / camera / "2026-01-01" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    return path


def test_sweep_removes_only_what_was_quarantined_long_enough_ago(tmp_path: Path) -> None:
    root = tmp_path / "root"
    old = quarantine_file(_segment(root, "cam1", "10-00-00.mp4", 1000))
    recent = quarantine_file(_segment(root, "cam2", "10-00-00.mp4", 300))
    # `recent` was written (mtime) 5 days after `old` was quarantined: 3 days old at the sweep.
    later = time.time() + 5 * DAY_S
    os.utime(recent, (later, later))
    live = _segment(root, "cam1", "11-00-00.mp4", 50)  # a recording, not quarantined
    other_root = tmp_path / "other"  # no quarantine at all
    other_root.mkdir()

    sweeps = sweep_quarantine([root, other_root], time.time() + 8 * DAY_S, WEEK_S)

    assert [(s.root, s.removed_files, s.removed_bytes) for s in sweeps] == [
        (str(root), 1, 1000),
        (str(other_root), 0, 0),
    ]
    assert sweeps[0].left == QuarantineUsage(files=1, bytes=300)
    assert sweeps[1].left == QuarantineUsage()
    assert not old.exists() and recent.exists() and live.exists()
    assert not old.parent.exists(), "the directories it leaves empty go too"
    assert (root / QUARANTINE_DIR).is_dir()
    assert [f.path for f in list_quarantine(root)] == [recent]


def test_sweep_keeps_everything_younger_than_max_age(tmp_path: Path) -> None:
    root = tmp_path / "root"
    kept = quarantine_file(_segment(root, "cam1", "10-00-00.mp4", 10))
    sweeps = sweep_quarantine([root], time.time() + 6 * DAY_S, WEEK_S)
    assert (sweeps[0].removed_files, sweeps[0].left) == (0, QuarantineUsage(1, 10))
    assert kept.exists()


def test_quarantine_usage_counts_files_and_bytes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    quarantine_file(_segment(root, "cam1", "10-00-00.mp4", 10))
    quarantine_file(_segment(root, "cam1", "10-00-00.mp4", 20))  # same name: kept apart
    quarantine_file(_segment(root, "cam2", "10-00-00.mkv", 30))
    assert quarantine_usage([root, tmp_path / "missing"]) == {
        str(root): QuarantineUsage(3, 60),
        str(tmp_path / "missing"): QuarantineUsage(),
    }


def test_storage_report_shows_each_paths_quarantine(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    config = Config.model_validate({"storage": {"paths": [str(a), str(b)]}})
    usage = {str(a): RootUsage(1000, 500, 50, 80), str(b): RootUsage(1000, 900, 50, 80)}
    report = storage_report(config, [], usage, {str(a): QuarantineUsage(2, 4096)})
    paths = report["paths"]
    assert isinstance(paths, list)
    assert [p["quarantine"] for p in paths] == [
        {"files": 2, "bytes": 4096},
        {"files": 0, "bytes": 0},
    ]


def test_quarantine_max_age_uses_the_duration_format() -> None:
    assert Config().retention.quarantine_max_age == WEEK_S
    retention = Config.model_validate({"retention": {"quarantine_max_age": "36h"}}).retention
    assert retention.quarantine_max_age == 36 * 3600
    with pytest.raises(ValueError, match="quarantine_max_age"):
        Config.model_validate({"retention": {"quarantine_max_age": "soon"}})


async def test_retention_pass_removes_expired_quarantine_and_reports_it(
    camera_stack: CameraStack,
) -> None:
    """The retention job itself: a pass removes what is older than quarantine_max_age (1 s
    here), the metrics and GET /api/v1/storage's figures count what is left."""
    holder = camera_stack.holder
    holder.current = holder.current.model_copy(
        update={
            "retention": holder.current.retention.model_copy(update={"quarantine_max_age": 1.0})
        }
    )
    root = holder.current.storage.paths[0]
    expiring = quarantine_file(_segment(root, "cam1", "10-00-00.mp4", 700))
    kept = quarantine_file(_segment(root, "cam1", "10-00-02.mp4", 200))
    future = time.time() + DAY_S  # written "later": not old enough for a day
    os.utime(kept, (future, future))
    await asyncio.sleep(1.1)

    await camera_stack.retention.run_once()

    assert not expiring.exists() and kept.exists()
    metrics = camera_stack.metrics
    assert metrics.group(RetentionMetrics).quarantine_files.labels(path=str(root))._value.get() == 1
    assert (
        metrics.group(RetentionMetrics).quarantine_bytes.labels(path=str(root))._value.get() == 200
    )
    assert metrics.group(RetentionMetrics).quarantine_removed_files._value.get() == 1
    assert metrics.group(RetentionMetrics).quarantine_removed_bytes._value.get() == 700
    report = await camera_stack.retention.storage()
    paths = report["paths"]
    assert isinstance(paths, list)
    assert paths[0]["quarantine"] == {"files": 1, "bytes": 200}
