"""config/vmsd.example.yml documents every key, with its default, and stays valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from vmsd.config.cameras import CameraConfig
from vmsd.config.load import load_config
from vmsd.config.schema import Config


def _model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        keys.add(path)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _model_keys(annotation, f"{path}.")
    return keys


def _yaml_keys(node: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for name, value in node.items():
            keys.add(f"{prefix}{name}")
            keys |= _yaml_keys(value, f"{prefix}{name}.")
    return keys


def test_example_shows_every_key(repo_root: Path) -> None:
    raw = yaml.safe_load((repo_root / "config" / "vmsd.example.yml").read_text())
    shown = _yaml_keys({k: v for k, v in raw.items() if k != "cameras"})
    shown |= {"cameras"} | _yaml_keys(raw["cameras"][0], "cameras.")
    expected = _model_keys(Config) | _model_keys(CameraConfig, "cameras.")
    assert expected - shown == set(), "keys missing from the example"


def test_example_values_are_the_defaults(repo_root: Path) -> None:
    path = repo_root / "config" / "vmsd.example.yml"
    config = load_config(path, environ={})
    defaults = Config()
    for section in (
        "server",
        "database",
        "recording",
        "retention",
        "ffmpeg",
        "log",
        "events",
        "notifications",
        "system",
    ):
        assert getattr(config, section) == getattr(defaults, section), section
    assert config.state_dir == defaults.state_dir
    # Two paths differ on purpose: the defaults are relative to the file, which under /etc is
    # read-only for the service; the example's are where the install steps put things
    # (tests/unit/cli/test_install.py checks them against the unit and the README).
    raw = yaml.safe_load(path.read_text())
    mediamtx = raw["mediamtx"] | {"base_config": Path("mediamtx.yml")}
    assert mediamtx == defaults.mediamtx.model_dump()
    assert raw["mediamtx"]["base_config"] == "/etc/vmsd/mediamtx.yml"
    assert defaults.storage.paths == (Path("recordings"),)
    assert raw["storage"]["paths"] == ["/srv/recordings"]
    assert raw["secrets"] == {"key": "", "key_file": None}
    camera = CameraConfig(name="x", source="rtsp://192.0.2.1/")
    example_camera = config.cameras[0]
    for key in CameraConfig.model_fields.keys() - {"name", "source"}:
        assert getattr(example_camera, key) == getattr(camera, key), key


def test_demo_config_is_valid(repo_root: Path) -> None:
    config = load_config(repo_root / "config" / "vmsd.yml", environ={})
    assert config.database.embedded
    assert config.cameras
