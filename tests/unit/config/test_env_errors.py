"""A bad value from an environment override is blamed on its variable, not on the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmsd.config.load import load_config
from vmsd.core.errors import ConfigError


def _problems(path: Path, environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=environ)
    return raised.value


def test_only_the_environment_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text("server: {port: 8480}\n")
    err = _problems(path, {"VMSD_SERVER_PORT": "abc"})
    assert err.message == "the environment: 1 problem"
    assert err.details == [
        "VMSD_SERVER_PORT (server.port): input should be a valid integer, unable to parse "
        'string as an integer (got "abc")'
    ]


def test_file_and_environment_each_get_their_own_blame(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text("recording: {segment_seconds: 900}\n")
    err = _problems(path, {"VMSD_LOG_LEVEL": "loud"})
    assert err.message == f"{path} and the environment: 2 problems"
    assert err.details == [
        "recording.segment_seconds: must be <= 600 (got 900)",
        "VMSD_LOG_LEVEL (log.level): must be one of 'debug', 'info', 'warning' or 'error' "
        '(got "loud")',
    ]


def test_a_secret_variable_is_named_but_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text("{}\n")
    err = _problems(path, {"VMSD_DATABASE_URL": "mysql://u:hunter2@db/x"})
    assert err.details[0].startswith("VMSD_DATABASE_URL (database.url): ")
    assert "hunter2" not in err.details[0]


def test_a_key_the_file_sets_and_no_variable_overrides_blames_the_file(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text("server: {port: abc}\n")
    err = _problems(path, {"VMSD_SERVER_HOST": "127.0.0.1"})
    assert err.message == f"{path}: 1 problem"
    assert err.details[0].startswith("server.port: ")
