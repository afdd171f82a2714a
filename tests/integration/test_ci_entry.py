"""The CI entry point is a script CI runs on a fresh machine: it must at least parse."""

from __future__ import annotations

import subprocess
from pathlib import Path


def test_ci_run_is_valid_bash(repo_root: Path) -> None:
    script = repo_root / ".ci" / "run"
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "make test" in script.read_text()
