"""The real daemon, two real cameras, 2 s segments, killed with SIGKILL five times at random
moments and restarted each time (the embedded PostgreSQL and the recorders die with it, by
their parent-death signals; the next start ends whatever is left). After a last clean start
and stop the index and the disk agree exactly: no file without its row, no row without its
file, and no two rows of a camera overlapping in time."""

from __future__ import annotations

import itertools
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ffmpeg_binary
from tests.daemon_client import until
from tests.daemon_process import DaemonProcess, indexed_rows, wait_no_processes, write_config
from tests.streams.sources import GST_RTSP, RtspServer, require
from vmsd.recordings.index import JOURNAL_NAME
from vmsd.store.recordings import EndReason

CAMERAS = ("front", "back")
KILLS = 5


@pytest.fixture
def server() -> Iterator[RtspServer]:
    require(GST_RTSP)
    with RtspServer([f"/{c}" for c in CAMERAS], fps=10, gop=10) as rtsp:
        yield rtsp


def _files(root: Path, camera: str) -> set[str]:
    return {str(p) for p in (root / camera).glob("*/*.mp4")}




@pytest.mark.slow
def test_five_kill9s_leave_index_and_disk_in_agreement(server: RtspServer, tmp_path: Path) -> None:
    seed = int(os.environ.get("VMSD_TEST_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)  # noqa: S311 - moments to kill at, not secrets
    root = tmp_path / "recordings"
    config = write_config(
        tmp_path,
        storage={"paths": [str(root)]},
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": 2},
        cameras=[{"name": c, "source": server.url(c)} for c in CAMERAS],
    )
    recovered = quarantined = 0
    for kill in range(KILLS):
        daemon = DaemonProcess(config)
        try:
            daemon.start().wait_ready()
            # A couple of segments per camera each time, then anywhere in the next ones.
            files = {c: len(_files(root, c)) for c in CAMERAS}
            more = lambda: all(len(_files(root, c)) > files[c] + 1 for c in CAMERAS)  # noqa: B023, E731
            until("2 more segments a camera", more, 30, every_s=0.1)
            time.sleep(rng.uniform(0.0, 4.0))
            daemon.send(signal.SIGKILL)
            daemon.wait_exit()
            events = daemon.log_events()
        finally:
            daemon.close()
        recovered += sum(e["event"] == "segment_recovered" for e in events)
        quarantined += sum(e["event"] == "segment_quarantined" for e in events)
        if kill % 2:  # sometimes at once, over the dying one's leftovers; sometimes after them
            assert wait_no_processes(daemon.state_dir, timeout=20) == []

    final = DaemonProcess(config)
    try:
        final.start().wait_ready()
        files = {c: len(_files(root, c)) for c in CAMERAS}
        more = lambda: all(len(_files(root, c)) >= files[c] + 2 for c in CAMERAS)  # noqa: E731
        until("2 more segments a camera", more, 30, every_s=0.1)
        events = final.log_events()
        assert final.stop(signal.SIGTERM) == 0
    finally:
        final.close()
    recovered += sum(e["event"] == "segment_recovered" for e in events)
    quarantined += sum(e["event"] == "segment_quarantined" for e in events)
    assert wait_no_processes(final.state_dir) == []

    index = indexed_rows(config, CAMERAS)
    summary = {"seed": seed, "recovered": recovered, "quarantined": quarantined}
    for camera in CAMERAS:
        rows = index[camera]
        on_disk = _files(root, camera)
        paths = [r.path for r in rows]
        assert len(paths) == len(set(paths))
        assert sorted(on_disk - set(paths)) == [], f"files without rows ({summary})"
        assert sorted(set(paths) - on_disk) == [], f"rows without files ({summary})"
        overlapping = [
            (a.path, a.end.isoformat(), b.path, b.start.isoformat())
            for a, b in itertools.pairwise(rows)
            if b.start < a.end
        ]
        assert overlapping == [], f"overlapping rows ({summary})"
        assert rows[-1].end_reason is EndReason.RECORDER_STOPPED
        summary[camera] = len(rows)
    assert recovered > 0, summary
    journal = final.state_dir / JOURNAL_NAME
    assert not journal.exists() or journal.read_text() == ""
    print("kill -9 x5:", summary)
