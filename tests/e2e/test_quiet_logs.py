"""A new box's first start as an operator reads it, on the real daemon at log level info: the
storage root is created (info, no warning), API requests write no line unless `log.access` is
turned on (a reload does), and PostgreSQL's memory is reported as its share (PSS), not as RSS
summed over backends that share their buffers. A root that was in use and is gone at the next
start is a warning, and is not created again."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon_process import DaemonProcess, write_config


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(write_config(tmp_path, log={"level": "info", "format": "json"}))
    yield process
    process.close()


def _events(daemon: DaemonProcess, name: str) -> list[dict[str, Any]]:
    return [e for e in daemon.log_events() if e.get("event") == name]


def _postgres_memory(daemon: DaemonProcess) -> dict[str, float]:
    """Each child-memory family's value for the PostgreSQL tree, once the sampler has one."""
    names = {
        "vmsd_child_resident_memory_bytes": "rss",
        "vmsd_child_proportional_memory_bytes": "pss",
        "vmsd_child_unique_memory_bytes": "uss",
    }
    deadline = time.monotonic() + 20
    while True:
        status, text = daemon.get("/metrics")
        assert status == 200
        found = {
            names[f.name]: s.value
            for f in text_string_to_metric_families(text)
            if f.name in names
            for s in f.samples
            if s.labels.get("process") == "postgres"
        }
        if len(found) == 3 or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_first_start_is_quiet_and_honest(daemon: DaemonProcess) -> None:
    root = Path(daemon.config["storage"]["paths"][0])
    assert not root.exists()
    daemon.start().wait_ready()
    assert root.is_dir()
    (created,) = _events(daemon, "storage_root_created")
    assert created["level"] == "info" and created["root"] == str(root)
    assert created["setting"] == "storage.paths[0]"
    assert _events(daemon, "storage_root_missing") == []

    # No access log by default: requests are debug lines, below the configured level.
    for path in ("/api/v1/version", "/healthz", "/metrics", "/nope"):
        daemon.get(path)
    assert _events(daemon, "http_request") == []

    memory = _postgres_memory(daemon)
    assert set(memory) == {"rss", "pss", "uss"}, memory
    # The embedded server's backends share its buffers and libraries: their RSS sum counts
    # those once per process, the PSS sum once (about half the RSS sum just after the start;
    # a sixth on a busy box: the shared buffers fill up).
    assert 0 < memory["uss"] < memory["pss"] < 0.8 * memory["rss"]

    config = {**daemon.config, "log": {"level": "info", "format": "json", "access": True}}
    daemon.config_path.write_text(yaml.safe_dump(config))
    daemon.notifications.clear()
    daemon.send(signal.SIGHUP)
    daemon.wait_for_notification("RELOADING=1")
    daemon.wait_for_notification("READY=1")
    for path in ("/api/v1/version", "/healthz", "/nope"):
        daemon.get(path)
    logged = {(e["route"], e["status"], e["level"]) for e in _events(daemon, "http_request")}
    # Succeeding probes and scrapes stay at debug even so: one line each would drown the rest.
    assert logged == {("/api/v1/version", 401, "info"), ("unmatched", 404, "info")}
    assert daemon.stop() == 0


def test_a_root_used_before_and_gone_is_a_warning_and_not_recreated(
    daemon: DaemonProcess,
) -> None:
    root = Path(daemon.config["storage"]["paths"][0])
    daemon.start().wait_ready()
    assert daemon.stop() == 0
    root.rmdir()  # as an unmounted disk's mount point would be gone

    again = DaemonProcess(daemon.config_path)
    try:
        again.start().wait_ready()
        (missing,) = _events(again, "storage_root_missing")
        assert missing["level"] == "warning" and missing["root"] == str(root)
        assert _events(again, "storage_root_created") == []
        assert not root.exists()  # nothing records onto the disk that holds its parent
        assert again.stop() == 0
    finally:
        again.close()
