"""The real daemon process: start, stop, reload, sd_notify, state-dir lock, kill -9 recovery,
and database commands while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.daemon_process import (
    DaemonProcess,
    create_token,
    vmsd_cli,
    wait_no_processes,
    write_config,
)
from tests.net import free_port


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(write_config(tmp_path), extra_env={"WATCHDOG_USEC": "1000000"})
    yield process
    process.close()


def test_start_ready_notify_watchdog_and_sigterm(daemon: DaemonProcess) -> None:
    daemon.start()
    ready = daemon.wait_for_notification("READY=1")
    assert f"MAINPID={daemon.proc.pid}" in ready  # type: ignore[union-attr]
    status, body = daemon.get("/readyz")
    assert status == 200, body
    # WATCHDOG_USEC=1s -> a ping every 0.5 s
    daemon.notifications.clear()
    time.sleep(1.6)
    daemon.drain_notifications()
    assert sum(m == "WATCHDOG=1" for m in daemon.notifications) >= 2
    assert daemon.stop(signal.SIGTERM) == 0
    daemon.drain_notifications()
    assert any(m.startswith("STOPPING=1") for m in daemon.notifications)
    assert wait_no_processes(daemon.state_dir) == []
    names = [e["event"] for e in daemon.log_events()]
    assert names.index("daemon_ready") < names.index("stop_requested") < names.index(
        "daemon_stopped"
    )


def test_sigint_stops_cleanly(daemon: DaemonProcess) -> None:
    daemon.start().wait_ready()
    assert daemon.stop(signal.SIGINT) == 0
    assert wait_no_processes(daemon.state_dir) == []


def test_sighup_valid_then_invalid(daemon: DaemonProcess) -> None:
    daemon.start().wait_ready()
    assert daemon.get("/metrics")[0] == 200
    # Valid change: close /metrics to anonymous callers.
    config = dict(daemon.config)
    config["server"] = {**config["server"], "open_endpoints": ["healthz", "readyz"]}
    daemon.config_path.write_text(yaml.safe_dump(config))
    daemon.notifications.clear()
    daemon.send(signal.SIGHUP)
    daemon.wait_for_notification("RELOADING=1")
    daemon.wait_for_notification("READY=1")
    assert daemon.get("/metrics")[0] == 401
    # Invalid file: rejected, logged, the previous config stays in force.
    daemon.config_path.write_text("server:\n  port: [unclosed\n")
    daemon.notifications.clear()
    daemon.send(signal.SIGHUP)
    daemon.wait_for_notification("READY=1")
    assert daemon.get("/metrics")[0] == 401
    assert daemon.get("/healthz")[0] == 200
    rejected = [e for e in daemon.log_events() if e["event"] == "config_reload_rejected"]
    assert rejected and rejected[0]["level"] == "error" and rejected[0]["problems"]
    assert daemon.stop() == 0


def test_second_daemon_on_same_state_dir_refused(daemon: DaemonProcess, tmp_path: Path) -> None:
    daemon.start().wait_ready()
    other_config = dict(daemon.config)
    other_config["server"] = {**other_config["server"], "port": daemon.port + 1}
    other_path = tmp_path / "other" / "vmsd.yml"
    other_path.parent.mkdir()
    other_path.write_text(yaml.safe_dump(other_config))
    second = DaemonProcess(other_path)
    try:
        second.start()
        assert second.wait_exit(timeout=60) == 75  # EX_TEMPFAIL: systemd would try again
        assert "is in use by pid" in second.log_text()
    finally:
        second.close()
    assert daemon.get("/readyz")[0] == 200  # the first one is untouched
    assert daemon.stop() == 0


def test_kill9_then_restart_recovers(daemon: DaemonProcess) -> None:
    daemon.start().wait_ready()
    daemon.proc.kill()  # type: ignore[union-attr]
    daemon.wait_exit()
    # The embedded PostgreSQL follows its parent (parent-death signal) ...
    assert wait_no_processes(daemon.state_dir, timeout=20) == []
    again = DaemonProcess(daemon.config_path)
    try:
        again.start().wait_ready()
        assert again.get("/readyz")[0] == 200
        assert again.stop() == 0
    finally:
        again.close()
    assert wait_no_processes(daemon.state_dir) == []


def test_token_commands_while_daemon_runs_and_without(daemon: DaemonProcess) -> None:
    # No daemon: `migrate` runs a private server under the state-dir lock and stops it.
    migrated = vmsd_cli(daemon.config_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert wait_no_processes(daemon.state_dir) == []
    daemon.start().wait_ready()
    secret = create_token(daemon.config_path, "ops", "admin")
    assert secret.startswith("vmsd_")
    # The running daemon learns of the token through NOTIFY.
    deadline = time.monotonic() + 10
    while daemon.get("/api/v1/tokens", secret)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    status, tokens = daemon.get("/api/v1/tokens", secret)
    assert status == 200 and [t["name"] for t in tokens] == ["ops"]
    listed = vmsd_cli(daemon.config_path, "token", "list")
    assert listed.returncode == 0 and '"name": "ops"' in listed.stdout
    assert secret not in listed.stdout
    assert daemon.stop() == 0


def test_bad_config_exits_78_before_touching_anything(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\nserver: {{port: 0}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "vmsd", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 78
    assert "server.port: must be >= 1 (got 0)" in result.stderr
    assert not (tmp_path / "state").exists()


def test_port_in_use_fails_and_leaves_nothing(daemon: DaemonProcess) -> None:
    import socket

    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        blocker.bind(("127.0.0.1", daemon.port))
        blocker.listen()
        daemon.start()
        assert daemon.wait_exit() == 75  # EX_TEMPFAIL (tests/e2e/test_startup_failures.py)
    assert wait_no_processes(daemon.state_dir) == []
    assert os.path.exists(daemon.state_dir)


def test_daemon_and_database_both_killed_then_restart(daemon: DaemonProcess) -> None:
    """A power-cut-like stop: PostgreSQL is SIGKILLed too and recovers from its WAL."""
    import psutil

    daemon.start().wait_ready()
    postgres = [p for p in psutil.Process(daemon.proc.pid).children()  # type: ignore[union-attr]
                if p.name() == "postgres"]
    assert len(postgres) == 1
    postgres[0].kill()
    daemon.proc.kill()  # type: ignore[union-attr]
    daemon.wait_exit()
    assert wait_no_processes(daemon.state_dir, timeout=20) == []
    assert (daemon.state_dir / "db" / "postmaster.pid").exists()  # stale, as after a crash
    again = DaemonProcess(daemon.config_path)
    try:
        again.start().wait_ready()
        assert again.get("/readyz")[0] == 200
        assert again.stop() == 0
    finally:
        again.close()
    assert wait_no_processes(daemon.state_dir) == []


def test_config_error_found_at_start_exits_78(tmp_path: Path) -> None:
    """A problem only the start finds (MediaMTX's base file is not a mapping) is a config
    error like any other: exit 78, which the unit does not restart, and daemon_failed."""
    base = tmp_path / "mediamtx.yml"
    base.write_text("- not\n- a mapping\n")
    path = write_config(
        tmp_path,
        mediamtx={
            "mode": "external",
            "base_config": str(base),
            "config_path": str(tmp_path / "rendered.yml"),
            "api_port": free_port(),
            "hooks_port": free_port(),
        },
    )
    result = subprocess.run(
        [sys.executable, "-m", "vmsd", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=90, check=False,
    )
    assert result.returncode == 78, result.stdout + result.stderr
    assert "is not a YAML mapping" in result.stderr
    assert '"event": "daemon_failed"' in result.stdout
