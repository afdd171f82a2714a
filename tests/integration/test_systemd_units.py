"""The shipped unit files pass `systemd-analyze verify` and keep the settings we rely on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmsd.runtime.stop import STOP_BUDGET_S

UNITS = ("vmsd.service", "mediamtx.service")


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing in CI: .ci/run installs Debian's systemd")
        pytest.skip("systemd-analyze not installed (Debian package: systemd)")
    return found


def _settings(unit: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("name", UNITS)
def test_unit_passes_systemd_analyze_verify(repo_root: Path, tmp_path: Path, name: str) -> None:
    analyze = _systemd_analyze()
    # verify insists that ExecStart binaries exist: point them at ones that do.
    vmsd_bin = Path(sys.executable).parent / "vmsd"
    text = (repo_root / "systemd" / name).read_text()
    text = text.replace("/usr/local/bin/vmsd", str(vmsd_bin))
    text = text.replace("/usr/local/bin/mediamtx", shutil.which("true") or "/bin/true")
    unit = tmp_path / name
    unit.write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Lines about other units on the host (not ours) are not this test's business.
    ours = [line for line in result.stderr.splitlines() if name in line or str(unit) in line]
    assert result.returncode == 0 and not ours, result.stderr


def test_vmsd_unit_contract(repo_root: Path) -> None:
    settings = _settings(repo_root / "systemd" / "vmsd.service")
    assert settings["Type"] == ["notify"]
    assert settings["ExecStartPre"] == ["/usr/local/bin/vmsd check-config"]
    assert settings["ExecStart"] == ["/usr/local/bin/vmsd run"]
    assert settings["KillMode"] == ["mixed"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["StateDirectory"] == ["vmsd"]
    assert settings["User"] == ["vmsd"]
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert settings[hardening] == ["yes"]
    assert settings["ProtectSystem"] == ["strict"]
    assert "ReadWritePaths" in settings
    # The daemon pings at half the interval; the stop timeout is above its internal budget.
    assert int(settings["WatchdogSec"][0]) >= 10


def test_stop_stages_fit_in_the_units_stop_timeout(repo_root: Path) -> None:
    """Every stop stage's budget added up stays below TimeoutStopSec, with room to spare for
    the process to exit: systemd must never SIGKILL an orderly stop."""
    settings = _settings(repo_root / "systemd" / "vmsd.service")
    timeout_stop_s = int(settings["TimeoutStopSec"][0])
    assert sum(STOP_BUDGET_S.values()) <= timeout_stop_s - 5
    stages = {"recorders", "index", "components", "daemon_stopped", "http", "hooks"}
    assert stages | {"events", "webhooks", "database"} == set(STOP_BUDGET_S)


def test_mediamtx_unit_restarts_after_clean_exit(repo_root: Path) -> None:
    # MediaMTX exits 0 when a reload finds an invalid file: on-failure would leave it down.
    settings = _settings(repo_root / "systemd" / "mediamtx.service")
    assert settings["Restart"] == ["always"]
