"""Acceptance: the real daemon through database faults (tests/faults.py drives them; the bench
bench/faults.py prints the same figures). Two RTSP cameras, 2 s segments, MediaMTX off.

For each fault: recording goes on (>= 95 % of the window recorded per camera, from the rows'
start/end coverage), /readyz is 503 naming the database while it is away, the same daemon
process serves afterwards with /readyz 200 within 30 s of the database answering, and every
file on disk is indexed exactly once with no overlapping rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import CAMERAS, FaultReport, run_scenario
from tests.streams.sources import GST_RTSP, RtspServer, require

HANG_S = 80.0
BLACK_HOLE_S = 60.0
MIN_RECORDED = 0.95
READY_WITHIN_S = 30.0


@pytest.fixture(scope="module")
def rtsp() -> Iterator[RtspServer]:
    require(GST_RTSP)
    with RtspServer([f"/{c}" for c in CAMERAS], fps=10, gop=10) as server:
        yield server


def assert_survived(report: FaultReport) -> None:
    summary = report.summary()
    assert report.same_pid and report.exit_code == 0, summary
    assert "database" in report.failing_in_fault, summary
    assert report.component_failures == {}, "each component handles the database itself"
    assert report.ready_after_s is not None and report.ready_after_s <= READY_WITHIN_S, summary
    for camera in CAMERAS:
        assert report.recorded_fraction(camera) >= MIN_RECORDED, summary
        assert report.index[camera].exactly_once, summary


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_database_hang(rtsp: RtspServer, tmp_path: Path) -> None:
    """Postmaster and every backend SIGSTOPped for 80 s (longer than every timeout)."""
    report = run_scenario(tmp_path, rtsp, "hang", fault_s=HANG_S)
    assert_survived(report)
    assert report.db_restarts == 0, "a hung server is waited for, not restarted"
    for camera in CAMERAS:  # segments closed during the hang were indexed after it
        assert report.index[camera].closed_in_fault >= HANG_S / 2 - 3


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_postmaster_killed(rtsp: RtspServer, tmp_path: Path) -> None:
    """kill -9 of the embedded postmaster: the daemon restarts its server itself."""
    report = run_scenario(tmp_path, rtsp, "kill", fault_s=0.0, after_s=15.0)
    assert_survived(report)
    assert report.db_restarts == 1, report.summary()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_external_database_black_hole(rtsp: RtspServer, tmp_path: Path) -> None:
    """An external PostgreSQL behind a proxy that holds every byte for 60 s."""
    report = run_scenario(tmp_path, rtsp, "blackhole", fault_s=BLACK_HOLE_S)
    assert_survived(report)
