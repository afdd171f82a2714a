"""Recording never waits for the database: PostgreSQL stopped for 30 s while two cameras record;
recording goes on, and once it is back every segment is indexed exactly once."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import asyncpg
import pytest

from tests.recording_harness import recording
from tests.streams.sources import GST_RTSP, RtspServer, require
from vmsd.config.cameras import CameraConfig
from vmsd.recordings.metrics import IndexMetrics
from vmsd.runtime.embedded import EmbeddedPostgres, dsn_for
from vmsd.store.db import apply_migrations

OUTAGE_S = 30.0


@pytest.mark.slow
async def test_database_outage_loses_no_segment(
    own_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    require(GST_RTSP)
    pool = await asyncpg.create_pool(
        dsn_for(own_server.socket_dir), min_size=1, max_size=4, timeout=2
    )
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        with RtspServer(["/a", "/b"], fps=10, gop=10) as rtsp:
            cameras = [CameraConfig(name=n, source=rtsp.url(n)) for n in ("a", "b")]
            async with recording(pool, tmp_path, cameras, segment_seconds=2) as rec:
                await rec.wait_for(lambda: len(rec.files("a")) >= 2, 30)
                await own_server.stop()
                down_at = time.monotonic()
                files_at_outage = len(rec.files("a"))
                await rec.wait_for(lambda: rec.index.pending >= 4, 20)
                await rec.wait_for(lambda: time.monotonic() - down_at >= OUTAGE_S, OUTAGE_S + 5)
                # Recording went on the whole time, into the journal.
                assert len(rec.files("a")) >= files_at_outage + OUTAGE_S / 2 - 3
                assert (
                    rec.metrics.group(IndexMetrics).journal_pending._value.get()
                    == rec.index.pending
                )
                await own_server.start()
                await rec.wait_for(lambda: rec.index.pending == 0, 30)
                await rec.wait_for(lambda: len(rec.files("a")) >= files_at_outage + 17, 20)
        for camera in ("a", "b"):
            rows = await rec.rows(camera)
            paths = [r.path for r in rows]
            assert len(paths) == len(set(paths)), "indexed exactly once"
            assert set(paths) == {str(p) for p in rec.files(camera)}
            # One run from start to end: the outage of the database is no gap in the recording.
            for before, after in itertools.pairwise(rows):
                assert after.start == before.end
        assert rec.metrics.group(IndexMetrics).journal_pending._value.get() == 0
    finally:
        await pool.close()
