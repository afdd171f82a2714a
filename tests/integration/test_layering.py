"""The import-linter contract in pyproject.toml holds for the tree, and it is no formality: a
copy of the tree with one import pointing up (core -> a domain) breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy(repo_root: Path, tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(repo_root / "vmsd", tree / "vmsd", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo_root / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_tree_keeps_the_contract(repo_root: Path, tmp_path: Path) -> None:
    result = _lint(_copy(repo_root, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(repo_root: Path, tmp_path: Path) -> None:
    tree = _copy(repo_root, tmp_path)
    (tree / "vmsd" / "core" / "upward.py").write_text(
        "from vmsd.cameras.model import Camera\n\n__all__ = ['Camera']\n"
    )
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "vmsd.core.upward -> vmsd.cameras.model" in result.stdout


def test_a_domain_importing_the_api_breaks_the_contract(repo_root: Path, tmp_path: Path) -> None:
    tree = _copy(repo_root, tmp_path)
    (tree / "vmsd" / "recorder" / "sideways.py").write_text(
        "from vmsd.api.routes import ApiRoute\n\n__all__ = ['ApiRoute']\n"
    )
    result = _lint(tree)
    assert result.returncode != 0
    assert "vmsd.recorder.sideways -> vmsd.api.routes" in result.stdout
