"""The real daemon recording real RTSP cameras: SIGKILL mid-recording and restart (no FFmpeg
left over, every file indexed, nothing indexed missing), then a graceful stop (every camera's
last segment finalised, playable, indexed)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import ffmpeg_binary
from tests.daemon_client import until
from tests.daemon_process import DaemonProcess, indexed_rows, wait_no_processes, write_config
from tests.streams.sources import GST_RTSP, RtspServer, probe, require
from vmsd.store.recordings import EndReason

CAMERAS = ("front", "back")


@pytest.fixture
def server() -> Iterator[RtspServer]:
    require(GST_RTSP)
    require("/usr/bin/ffprobe")
    with RtspServer([f"/{c}" for c in CAMERAS], fps=10, gop=10) as rtsp:
        yield rtsp


def _files(root: Path, camera: str) -> list[Path]:
    return sorted((root / camera).glob("*/*.mp4"))


def _fewest(root: Path) -> int:
    """The segment count of the camera with the fewest."""
    return min(len(_files(root, c)) for c in CAMERAS)


def _recorders(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "-segment_list" in cmdline and str(root) in cmdline:
            found.append(proc)
    return found




@pytest.mark.slow
def test_kill9_then_restart_then_graceful_stop(server: RtspServer, tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    config = write_config(
        tmp_path,
        storage={"paths": [str(root)]},
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": 4},
        cameras=[{"name": c, "source": server.url(c)} for c in CAMERAS],
    )
    first = DaemonProcess(config)
    try:
        first.start().wait_ready()
        until("2 segments a camera", lambda: _fewest(root) >= 2, 40, every_s=0.1)
        # Kill once every camera's open segment holds a flushed fragment (about a second in):
        # what is cut then must be recovered, not quarantined.
        flushed = lambda: all(_files(root, c)[-1].stat().st_size >= 8000 for c in CAMERAS)  # noqa: E731
        until("a flushed fragment a camera", flushed, 20, every_s=0.1)
        first.send(signal.SIGKILL)
        first.wait_exit()
    finally:
        first.close()
    # Children never outlive the daemon (parent-death signal; pid files for the rest).
    until("no recorder left", lambda: not _recorders(root), 10, every_s=0.1)
    assert wait_no_processes(first.state_dir, timeout=20) == []

    second = DaemonProcess(config)
    try:
        second.start().wait_ready()
        # Startup reconciled the index with the disk before recording again.
        recovered = [e for e in second.log_events() if e["event"] == "segment_recovered"]
        assert recovered, "the segments open at the kill are indexed as recovered"
        until("4 segments a camera", lambda: _fewest(root) >= 4, 40, every_s=0.1)
        assert second.stop(signal.SIGTERM) == 0
    finally:
        second.close()
    assert not _recorders(root)
    assert wait_no_processes(second.state_dir) == []

    index = indexed_rows(config, CAMERAS)
    for camera in CAMERAS:
        rows = index[camera]
        on_disk = {str(p) for p in _files(root, camera)}
        assert {r.path for r in rows} == on_disk, "every file indexed, nothing indexed missing"
        assert len(rows) == len(on_disk)
        assert EndReason.RECOVERED in {r.end_reason for r in rows}
        last = rows[-1]
        assert last.end_reason is EndReason.RECORDER_STOPPED
        result = probe(Path(last.path))
        assert result.playable and result.duration_s is not None and result.duration_s > 0
