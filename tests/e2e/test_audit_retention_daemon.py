"""The real daemon prunes the audit trail: at its start, the rows older than
audit.retention_days go, under the Supervisor, and the trail still verifies."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.daemon_process import DaemonProcess, write_config
from tests.e2e.test_daemon_process import vmsd_cli
from vmsd.access.audit_log import AuditLog
from vmsd.core.metrics import Metrics
from vmsd.store.audit import AuditStore


async def test_the_daemon_prunes_rows_older_than_the_retention(
    database_dsn: str, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    audit = AuditLog(AuditStore(db_pool), Metrics(), lambda: old)
    for n in range(5):
        assert await audit.record("user:alice", "camera.delete", "ok", target=f"camera:c{n}")
    config = write_config(tmp_path, database={"url": database_dsn}, audit={"retention_days": 30})
    process = DaemonProcess(config)
    try:
        process.start().wait_ready()
        deadline = time.monotonic() + 30
        while not any(e.get("event") == "audit_pruned" for e in process.log_events()):
            assert time.monotonic() < deadline, process.log_text()
            await asyncio.sleep(0.2)
        assert process.stop() == 0
    finally:
        process.close()
    pruned = [e for e in process.log_events() if e.get("event") == "audit_pruned"]
    assert [(e["rows"], e["retention_days"]) for e in pruned] == [(4, 30)]  # not the last row
    assert not [e for e in process.log_events() if e.get("event") == "audit_prune_failed"]
    anchor = await audit.anchor()
    assert (anchor.last_id, anchor.pruned_rows) == (4, 4)
    verified = vmsd_cli(config, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("pruned: rows up to id 4 were pruned on ")
