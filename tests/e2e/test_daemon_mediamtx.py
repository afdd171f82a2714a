"""The real daemon with MediaMTX in `external` mode: the file it writes is the contract
(MediaMTX itself is not available here). Checked: the file at start, after SIGHUP and after an
API change; the availability hook command exactly as rendered, run as MediaMTX would run it."""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.daemon_client import until
from tests.daemon_process import DaemonProcess, create_token, wait_no_processes, write_config
from tests.net import free_port
from vmsd.mediamtx.schema import validate_mediamtx_document

PASSWORD = "cam-pa55:w@rd"


def _mediamtx_section(tmp_path: Path, repo_root: Path) -> dict[str, Any]:
    return {
        "mode": "external",
        "base_config": str(repo_root / "mediamtx.yml"),
        "config_path": str(tmp_path / "mediamtx" / "mediamtx.yml"),
        "hooks_port": free_port(),
        "api_port": free_port(),  # nothing listens: MediaMTX is not running here
        "poll_interval_seconds": 1,
    }


CAMERAS = [
    {"name": "demo", "source": "test://?size=320x240&fps=10"},
    {"name": "gate", "source": f"rtsp://admin:{PASSWORD}@192.0.2.7/h264"},
]


@pytest.fixture
def daemon(tmp_path: Path, repo_root: Path) -> Iterator[DaemonProcess]:
    config = write_config(
        tmp_path, mediamtx=_mediamtx_section(tmp_path, repo_root), cameras=CAMERAS
    )
    process = DaemonProcess(config)
    yield process
    process.close()


def _rendered(daemon: DaemonProcess) -> dict[str, Any]:
    path = Path(daemon.config["mediamtx"]["config_path"])
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _vmsd(config: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "vmsd", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_external_mode_file_hooks_and_reload(daemon: DaemonProcess) -> None:
    daemon.start().wait_ready()
    path = Path(daemon.config["mediamtx"]["config_path"])
    doc = _rendered(daemon)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds camera credentials
    assert validate_mediamtx_document(doc, None) == []
    assert sorted(doc["paths"]) == ["demo", "gate"]
    hooks_port = daemon.config["mediamtx"]["hooks_port"]
    assert doc["authHTTPAddress"].startswith(f"http://127.0.0.1:{hooks_port}/hooks/mediamtx/auth?")
    assert doc["paths"]["gate"]["sourceOnDemand"] is False
    assert "runOnInit" in doc["paths"]["demo"]
    # Unknown MediaMTX version (not running): the hook names every version accepts.
    command = doc["paths"]["gate"]["runOnReady"]
    assert PASSWORD not in command

    # The hook command exactly as rendered, exec'd without a shell like MediaMTX does.
    env = {**os.environ, "MTX_PATH": "gate", "MTX_SOURCE_TYPE": "rtspSource", "MTX_SOURCE_ID": ""}
    subprocess.run(shlex.split(command), env=env, check=True, timeout=30)
    token = create_token(daemon.config_path, "t", "admin")
    status, gate = daemon.get("/api/v1/cameras/gate", token)
    assert status == 200 and gate["state"] == "online" and gate["state_reason"] == "hook_available"
    # MediaMTX is not running, so readiness says so, naming the component.
    status, ready = daemon.get("/readyz")
    assert status == 503 and any(c["name"] == "mediamtx" for c in ready["checks"] if not c["ok"])

    # SIGHUP with one more camera in the file: the rendered file follows.
    config = yaml.safe_load(daemon.config_path.read_text())
    config["cameras"].append({"name": "dock", "source": "rtsp://192.0.2.9/live"})
    daemon.config_path.write_text(yaml.safe_dump(config))
    daemon.send(signal.SIGHUP)
    until("dock rendered", lambda: "dock" in _rendered(daemon)["paths"], 10, every_s=0.1)

    # An API change: written again, at least 1.5 s after the previous write.
    written_at = path.stat().st_mtime
    body = {"name": "api-cam", "source": "rtsp://192.0.2.10/live", "record": False}
    assert daemon.request("POST", "/api/v1/cameras", body=body, token=token).status == 201
    until("api-cam rendered", lambda: "api-cam" in _rendered(daemon)["paths"], 10, every_s=0.1)
    assert path.stat().st_mtime - written_at >= 1.4
    assert _rendered(daemon)["paths"]["api-cam"]["sourceOnDemand"] is True

    rendered_text = path.read_text()
    assert daemon.stop() == 0
    assert wait_no_processes(daemon.state_dir) == []
    # Secrets never reach the log.
    assert PASSWORD not in daemon.log_text()
    assert doc["authHTTPAddress"].split("key=")[1] not in daemon.log_text()
    assert "api-cam" in rendered_text


def test_render_mediamtx_command_redacts_by_default(daemon: DaemonProcess) -> None:
    shown = _vmsd(daemon.config_path, "render-mediamtx")
    assert "gate:" in shown and PASSWORD not in shown and "key=***" in shown
    revealed = _vmsd(daemon.config_path, "render-mediamtx", "--show-secrets")
    assert "cam-pa55%3Aw%40rd" in revealed  # percent-encoded into the source URL
