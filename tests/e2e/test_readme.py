"""The README's commands work as printed.

Every shell block: each command it runs exists (once the venv is installed, which `make test`
guarantees, and once the README has put it on PATH), and each variable it reads was set by an
earlier line. The quick start runs for real, in order, on a fresh state dir: `make run` in the
background, then its blocks as one bash script, then Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.daemon_process import wait_no_processes
from tests.net import free_port
from tests.paths import REPO_ROOT
from tests.readme import KEYWORDS, scan, shell_blocks
from tests.streams.sources import require

VENV_BIN = REPO_ROOT / ".venv" / "bin"
ENVIRONMENT = {"PWD", "PATH", "HOME"}  # every login shell has them
BUILTINS = {"export", "echo", "cd", "true", "false", "test", "[", "set", "unset", "read"}
DEMO_PORT = "127.0.0.1:8480"


def readme_problems(text: str, search_path: Sequence[str], cwd: Path) -> list[str]:
    """Commands that do not exist and variables read before they are set, in README order.
    `search_path`: PATH before the README changes it; $PWD is `cwd`."""
    path = list(search_path)
    defined: set[str] = set()
    venvs: set[Path] = set()  # bin/ of a venv an earlier command creates
    problems = []
    for block in shell_blocks(text):
        where = f"README.md:{block.line} ({block.section})"
        for event in scan(block.text):
            if event.kind == "use" and event.name not in defined | ENVIRONMENT:
                problems.append(f"{where}: ${event.name} is read before the README sets it")
            elif event.kind == "set":
                defined.add(event.name)
                if event.name == "PATH":
                    value = event.value.replace("$PWD", str(cwd))
                    path = value.replace("$PATH", ":".join(path)).split(":")
            elif event.kind == "run":
                if event.name == "python3" and event.words[:2] == ("-m", "venv"):
                    venvs.add(Path(event.words[2]) / "bin")
                if not _exists(event.name, path, cwd, venvs):
                    problems.append(f"{where}: {event.name}: command not found")
    return problems


def _exists(name: str, path: Sequence[str], cwd: Path, venvs: set[Path]) -> bool:
    # sudo is not needed as root (a container, CI) and may be absent: what it runs must exist.
    if name in BUILTINS or name in KEYWORDS or name == "sudo":
        return True
    if "/" in name:
        command = cwd / name
        return command.is_file() or command.parent in venvs
    return shutil.which(name, path=os.pathsep.join(path)) is not None


def _path_without_venv() -> list[str]:
    return [d for d in os.environ["PATH"].split(os.pathsep) if Path(d) != VENV_BIN]


def _require_venv() -> None:
    if not (VENV_BIN / "vmsd").is_file():
        require(str(VENV_BIN / "vmsd"))  # `make test` installs it: skipped, or failed in CI


def test_every_command_exists_and_every_variable_is_set_first() -> None:
    _require_venv()
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_problems(text, _path_without_venv(), REPO_ROOT) == []


def test_the_check_finds_what_an_operator_hit() -> None:
    """The README as it was: `vmsd` run before anything put .venv/bin on PATH, and the event
    stream's $TOKEN never set. Both are found; the fixed order passes."""
    _require_venv()
    broken = (
        "## Tokens\n\n```sh\nvmsd token create --name ops --role admin\n```\n\n"
        '```sh\ncurl -N -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8480/\n```\n'
    )
    assert readme_problems(broken, _path_without_venv(), REPO_ROOT) == [
        "README.md:4 (Tokens): vmsd: command not found",
        "README.md:8 (Tokens): $TOKEN is read before the README sets it",
    ]
    fixed = (
        '```sh\nexport PATH="$PWD/.venv/bin:$PATH"\n'
        "TOKEN=$(vmsd token create --name ops --role admin)\n"
        'curl -N -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8480/\n```\n'
    )
    assert readme_problems(fixed, _path_without_venv(), REPO_ROOT) == []


def test_sudo_and_a_venv_made_earlier_are_understood() -> None:
    text = (
        "```sh\nsudo python3 -m venv /opt/x && sudo /opt/x/bin/pip install y\n"
        "sudo -u nobody no-such-command-here\n```\n"
    )
    assert readme_problems(text, _path_without_venv(), REPO_ROOT) == [
        "README.md:2 (): no-such-command-here: command not found"
    ]


def _demo_checkout(root: Path) -> int:
    """A directory that looks like the repository's root to the quick start: the Makefile and
    .venv (links to the real ones), mediamtx.yml, and config/vmsd.yml, the demo's own file with
    free ports instead of its fixed ones (8480, 8481, MediaMTX's), so the test neither meets
    nor disturbs a demo running on this box. Its state dir (`../var`) is new: root/var."""
    (root / "config").mkdir(parents=True)
    (root / "Makefile").symlink_to(REPO_ROOT / "Makefile")
    (root / ".venv").symlink_to(REPO_ROOT / ".venv")
    shutil.copy(REPO_ROOT / "mediamtx.yml", root / "mediamtx.yml")
    demo = yaml.safe_load((REPO_ROOT / "config" / "vmsd.yml").read_text(encoding="utf-8"))
    port = free_port()
    demo["server"]["port"] = port
    for key in ("hooks_port", "rtsp_port", "api_port", "metrics_port"):
        demo["mediamtx"][key] = free_port()
    (root / "config" / "vmsd.yml").write_text(yaml.safe_dump(demo), encoding="utf-8")
    return port


def _wait_for_line(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"make run exited {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {needle} within {timeout} s:\n{log.read_text()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_quick_start_runs_as_printed(tmp_path: Path) -> None:
    _require_venv()
    for tool in ("make", "curl", "jq", "timeout", "bash"):
        require(tool)
    root = tmp_path / "checkout"
    port = _demo_checkout(root)
    blocks = [b for b in shell_blocks() if b.section == "Quick start"]
    script = "\n".join(b.text for b in blocks)
    assert script.count(DEMO_PORT) == 1, "the quick start names the API's address once"
    script = script.replace(DEMO_PORT, f"127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMSD_")}
    env["PATH"] = os.pathsep.join(_path_without_venv())

    started = time.monotonic()
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        # `make run` as the README says; -o: the venv is installed (make test did it), so make
        # must not reinstall it here because pyproject.toml is newer than its stamp.
        make = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "run"], cwd=root, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_for_line(log, '"daemon_ready"', make, timeout=60)
        ready_s = time.monotonic() - started
        # Each command as printed; a failing one is reported by the ERR trap, not hidden.
        trap = "trap 'echo \"FAILED $?: $BASH_COMMAND\" >&2' ERR\n"
        ran = subprocess.run(
            ["bash", "-c", trap + script], cwd=root, env=env, capture_output=True, text=True,
            timeout=90, check=False,
        )
        script_s = time.monotonic() - started - ready_s
    finally:
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        make.wait(timeout=60)
    stop_s = time.monotonic() - started - ready_s - script_s
    print(f"ready {ready_s:.1f} s, quick start {script_s:.1f} s, stop {stop_s:.1f} s")

    failed = [line for line in ran.stderr.splitlines() if line.startswith("FAILED")]
    # The README's `timeout 5` ends the event stream with its own status, 124.
    assert failed == ["FAILED 124: timeout 5 curl -sN -H \"$AUTH\" "
                      "\"$API/events/stream?last_event_id=0\""], ran.stderr
    out = ran.stdout
    assert '"name": "demo-1"' in out and '"name": "demo-2"' in out  # the cameras, through jq
    assert re.search(r"^206$", out, re.M) and re.search(r"^200$", out, re.M), out
    segment = json.loads(next(line for line in out.splitlines() if '"end_reason"' in line))
    start = datetime.fromisoformat(segment["start"])
    recorded = root / "var" / "recordings" / "demo-1" / f"{start:%Y-%m-%d/%H-%M-%S}.mp4"
    assert segment["camera"] == "demo-1" and recorded.stat().st_size == segment["bytes"]
    assert (root / "var" / "first-kib.mp4").read_bytes() == recorded.read_bytes()[:1024]
    # The guard's session sees demo-1 alone; the link serves the same bytes with no header.
    assert re.search(r"^demo-1$", out, re.M) and not re.search(r"^demo-2$", out, re.M), out
    assert len(re.findall(r"^206$", out, re.M)) == 2, out
    assert (root / "var" / "shared-kib.mp4").read_bytes() == recorded.read_bytes()[:1024]
    assert re.search(r"^ok: \d+ rows$", out, re.M), out
    clip = (root / "var" / "clip.mp4").read_bytes()
    assert clip[4:8] == b"ftyp" and b"moov" in clip and len(clip) > 10_000
    frames = re.findall(r"^data: (.*)$", out, re.M)
    types = {json.loads(frame)["type"] for frame in frames}
    assert {"daemon_started", "camera_online", "export_done"} <= types, types
    text = log.read_text()
    assert '"daemon_stopped"' in text and '"embedded_db_stopped"' in text
    assert wait_no_processes(root / "var") == []
    assert stop_s < 30
