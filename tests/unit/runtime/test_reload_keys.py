"""Every setting of the config model is classified: applied by a reload, or restart-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from vmsd.config.schema import Config
from vmsd.runtime.reload import RELOADED, RESTART_ONLY, changed_restart_only_keys, classification


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaf_keys(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_every_key_of_the_model_is_classified_once() -> None:
    keys = list(_leaf_keys(Config))
    assert len(keys) > 40
    unclassified = [key for key in keys if classification(key) is None]
    assert unclassified == []
    assert RESTART_ONLY.isdisjoint(RELOADED)


def test_every_named_key_exists_in_the_model() -> None:
    """No stale entry: each name is a key or a section of the model."""
    keys = set(_leaf_keys(Config))
    for name in RESTART_ONLY | RELOADED:
        assert name in keys or any(k.startswith(name + ".") for k in keys), name


def test_start_only_settings_are_restart_only() -> None:
    for key in (
        "ffmpeg.binary",
        "system.gpu",
        "recording.snapshot_cache_seconds",
        "recording.snapshot_timeout_seconds",
        "database.url",
        "server.port",
    ):
        assert classification(key) == "restart", key
    for key in ("recording.segment_seconds", "retention.max_age", "cameras", "log.level"):
        assert classification(key) == "reload", key


def test_changed_restart_only_keys_names_what_changed(tmp_path: Path) -> None:
    old = Config.model_validate({"state_dir": str(tmp_path)})
    new = Config.model_validate(
        {
            "state_dir": str(tmp_path),
            "ffmpeg": {"binary": "/opt/ffmpeg"},
            "system": {"gpu": False},
            "recording": {"segment_seconds": 30},
        }
    )
    assert changed_restart_only_keys(old, new) == ["ffmpeg.binary", "system.gpu"]
    assert changed_restart_only_keys(old, old) == []
