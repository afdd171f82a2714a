"""The check commands, run as the operator runs them (the real CLI, a subprocess):
`check-config` and `doctor` change nothing on disk, the CLI's own database start and stop are
quiet unless --verbose, an environment override's error names its variable, and doctor checks
the paths as the unit's user within the unit's sandbox."""

from __future__ import annotations

import json
import os
import pwd
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon_process import DaemonProcess, write_config
from tests.net import free_port
from tests.paths import REPO_ROOT

SERVICE_USER = "nobody"


def vmsd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VMSD_")}
    return subprocess.run(
        [sys.executable, "-m", "vmsd", *args], capture_output=True, text=True, timeout=120,
        check=False, env={**clean, **(env or {})},
    )


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry below `root` (itself included): mode, size, mtime (not atime: reading is
    allowed)."""
    entries = {}
    for entry in [root, *root.rglob("*")]:
        st = entry.lstat()
        entries[str(entry.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return entries


def demo_config(tmp_path: Path) -> Path:
    mediamtx = {
        "mode": "external", "base_config": str(REPO_ROOT / "mediamtx.yml"),
        "config_path": str(tmp_path / "mediamtx" / "mediamtx.yml"), "hooks_port": free_port(),
    }
    return write_config(tmp_path, mediamtx=mediamtx,
                        cameras=[{"name": "demo", "source": "test://?size=320x240&fps=5"}])


def _json_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("{")]


def _events(stderr: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in _json_lines(stderr)]


def test_check_config_and_doctor_change_nothing_on_a_fresh_state_dir(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    before = snapshot(tmp_path)
    checked = vmsd("check-config", "--config", str(config))
    doctor = vmsd("doctor", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert snapshot(tmp_path) == before
    state = tmp_path / "state"
    assert not state.exists()
    # Each line says what the first start will do instead.
    assert f"{state}/db: not initialised yet (the first start runs initdb)" in doctor.stdout
    assert f"{state}/credentials.key: created (0600) at the first start" in doctor.stdout
    assert f"{state}: will be created by " in doctor.stdout
    assert _json_lines(doctor.stderr) == []


@pytest.mark.slow
def test_doctor_reads_a_used_state_dir_and_a_running_daemon_without_a_trace(
    tmp_path: Path,
) -> None:
    config = demo_config(tmp_path)
    daemon = DaemonProcess(config).start()
    try:
        daemon.wait_ready()
        running = vmsd("doctor", "--config", str(config))
        assert re.search(r"^ok +database +embedded PostgreSQL [\d.]+, running; schema up to "
                         r"date$", running.stdout, re.M), running.stdout
        assert daemon.stop() == 0
    finally:
        daemon.close()
    state = tmp_path / "state"
    before = snapshot(state)
    stopped = vmsd("doctor", "--config", str(config))
    checked = vmsd("check-config", "--config", str(config))
    assert snapshot(state) == before
    assert checked.returncode == 0 and stopped.returncode == 0, stopped.stdout
    assert f"{state}/db: initialised, not running (vmsd starts it)" in stopped.stdout
    assert re.search(r"^ok +secrets +\S+/credentials.key: a valid credential key$",
                     stopped.stdout, re.M), stopped.stdout


def test_the_cli_database_is_quiet_unless_verbose(tmp_path: Path) -> None:
    config = str(demo_config(tmp_path))
    quiet = vmsd("token", "list", "--config", config)  # starts (and initialises) its own
    assert quiet.returncode == 0, quiet.stderr
    # Warnings stay (as root: embedded_db_granted_traverse, a change to directory modes).
    assert {e["level"] for e in _events(quiet.stderr)} <= {"warning"}, quiet.stderr
    verbose = vmsd("token", "list", "--config", config, "--verbose")
    events = [e["event"] for e in _events(verbose.stderr)]
    assert "embedded_db_started" in events and "embedded_db_stopped" in events, verbose.stderr
    render = vmsd("render-mediamtx", "--config", config)
    assert render.returncode == 0, render.stderr
    assert _json_lines(render.stderr) == [] and render.stderr.startswith("# mode external")
    doctor = vmsd("doctor", "--verbose", "--config", config)  # it starts no database at all
    assert not [e for e in _events(doctor.stderr) if e["event"].startswith("embedded_db")]


def test_an_environment_override_error_names_its_variable(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    result = vmsd("check-config", "--config", str(config), env={"VMSD_SERVER_PORT": "abc"})
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        "vmsd: invalid configuration: the environment: 1 problem",
        "  VMSD_SERVER_PORT (server.port): input should be a valid integer, unable to parse "
        'string as an integer (got "abc")',
    ]
    both = vmsd("check-config", "--config", str(config), env={"VMSD_LOG_LEVEL": "loud"})
    assert "VMSD_LOG_LEVEL (log.level): must be one of" in both.stderr
    assert str(config) not in both.stderr


def test_check_config_refuses_a_missing_mediamtx_base(tmp_path: Path) -> None:
    config = write_config(tmp_path, mediamtx={
        "mode": "external", "base_config": str(tmp_path / "nope.yml"), "hooks_port": free_port(),
    })
    result = vmsd("check-config", "--config", str(config))
    assert result.returncode == 78
    assert f"  mediamtx.base_config: cannot read the MediaMTX base config {tmp_path}/nope.yml" \
        in result.stderr
    off = write_config(tmp_path, mediamtx={"mode": "off", "base_config": "nope.yml"})
    assert vmsd("check-config", "--config", str(off)).returncode == 0  # not used: not read


def _unit(tmp_path: Path, read_write: list[Path], user: str = SERVICE_USER) -> Path:
    """The shipped unit, for a user and paths of this test: User=, no Group= and no groups
    this box may lack, PrivateTmp off (the test's files are under /tmp), ReadWritePaths=."""
    text = (REPO_ROOT / "systemd" / "vmsd.service").read_text(encoding="utf-8")
    replaced = {
        r"^User=.*$": f"User={user}",
        r"^Group=.*\n": "",
        r"^SupplementaryGroups=.*\n": "",
        r"^PrivateTmp=.*$": "PrivateTmp=no",
        r"^ReadWritePaths=.*$": "ReadWritePaths=/var/lib/vmsd " + " ".join(map(str, read_write)),
    }
    for pattern, replacement in replaced.items():
        text, count = re.subn(pattern, replacement, text, flags=re.M)
        assert count == 1, pattern
    unit = tmp_path / "vmsd.service"
    unit.write_text(text, encoding="utf-8")
    return unit


def _doctor_lines(result: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str]]:
    lines = {}
    for line in result.stdout.splitlines():
        status, name, detail = line.split(None, 2)
        lines[name] = (status, detail)
    return lines


@pytest.mark.skipif(os.geteuid() != 0, reason="gives directories to another user (chown)")
def test_doctor_checks_paths_as_the_units_user_in_its_sandbox(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # pytest's directories are 0700: let the service user reach this test's.
    base = tmp_path_factory.getbasetemp()
    for directory in (tmp_path, *tmp_path.parents):
        if not directory.is_relative_to(base.parent):
            break
        directory.chmod(directory.stat().st_mode | stat.S_IXOTH)
    nobody = pwd.getpwnam(SERVICE_USER)
    rw = tmp_path / "rw"
    (rw / "given").mkdir(parents=True)
    os.chown(rw / "given", nobody.pw_uid, nobody.pw_gid)
    (rw / "root").mkdir(mode=0o755)
    (rw / "closed").mkdir(mode=0o700)
    missing = tmp_path / "not-made"
    storage = [
        rw / "given" / "rec", rw / "root" / "rec", rw / "closed" / "rec",
        tmp_path / "elsewhere" / "rec", Path("/root/rec"),
    ]
    config = write_config(tmp_path, state_dir="/var/lib/vmsd",
                          storage={"paths": [str(p) for p in storage]})
    unit = _unit(tmp_path, [rw, missing])

    result = vmsd("doctor", "--config", str(config), "--unit", str(unit))
    lines = _doctor_lines(result)
    assert result.returncode == 1
    assert lines["unit"] == ("fail", (
        f"{unit}: ReadWritePaths={missing} does not exist: systemd refuses to start the unit "
        "(226/NAMESPACE) until it does"))
    assert lines["state_dir"] == (
        "ok", f"/var/lib/vmsd: in /var/lib/vmsd, which systemd gives to {SERVICE_USER} at start")
    assert lines["storage.paths[0]"] == (
        "ok", f"{storage[0]}: will be created by {SERVICE_USER} (in {rw / 'given'})")
    assert lines["storage.paths[1]"] == ("fail", (
        f"{storage[1]}: cannot be created in {rw / 'root'} by {SERVICE_USER} "
        "(owner root:root, mode 0755)"))
    assert lines["storage.paths[2]"] == ("fail", (
        f"{storage[2]}: {SERVICE_USER} cannot enter {rw / 'closed'} "
        "(owner root:root, mode 0700)"))
    assert lines["storage.paths[3]"] == ("fail", (
        f"{storage[3]}: read-only for the service (ProtectSystem=strict in {unit}): list it "
        "in ReadWritePaths= (systemctl edit vmsd)"))
    assert lines["storage.paths[4]"][0] == "fail"
    assert lines["storage.paths[4]"][1].startswith("/root/rec: inaccessible for the service "
                                                  "(ProtectHome=yes")

    missing.mkdir()
    fixed = _doctor_lines(vmsd("doctor", "--config", str(config), "--unit", str(unit)))
    assert fixed["unit"] == ("ok", (
        f"{unit}: User={SERVICE_USER}, ProtectSystem=strict, ReadWritePaths=/var/lib/vmsd "
        f"{rw} {missing}"))
    no_user = _unit(tmp_path, [rw], user="no-such-vmsd-user")
    gone = _doctor_lines(vmsd("doctor", "--config", str(config), "--unit", str(no_user)))
    assert gone["unit"] == ("fail", f"{no_user}: User=no-such-vmsd-user does not exist")
    assert gone["storage.paths[0]"] == (
        "fail", f"{storage[0]}: writable in the unit's sandbox; not checked for its user")
