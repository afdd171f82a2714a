"""Config validation: every broken file gives its precise message and exit 78."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vmsd.config.load import default_config_path, load_config
from vmsd.config.schema import Config
from vmsd.core.errors import ConfigError

BROKEN = [
    ("unknown key", "server:\n  prot: 1\n", ["server.prot: unknown key"]),
    ("unknown section", "recorder: {}\n", ["recorder: unknown key"]),
    (
        "wrong type",
        "server:\n  port: eighty\n",
        ['server.port: input should be a valid integer, unable to parse string as an integer '
         '(got "eighty")'],
    ),
    ("out of range", "server:\n  port: 70000\n", ["server.port: must be <= 65535 (got 70000)"]),
    (
        "segment too long",
        "recording:\n  segment_seconds: 900\n",
        ["recording.segment_seconds: must be <= 600 (got 900)"],
    ),
    (
        "bad camera name",
        "cameras:\n  - name: ok-cam\n    source: publisher\n  - name: Front Door\n"
        "    source: publisher\n",
        ['cameras[1].name: must match ^[a-z0-9][a-z0-9_-]{0,62}$ (got "Front Door")'],
    ),
    (
        "duplicate camera names",
        "cameras:\n  - {name: a, source: publisher}\n  - {name: b, source: publisher}\n"
        "  - {name: a, source: publisher}\n",
        ['cameras[2].name: duplicate name "a" (already used by cameras[0])'],
    ),
    (
        "bad source scheme",
        "cameras:\n  - {name: a, source: 'ftp://cam/x'}\n",
        ["cameras[0].source: must be 'publisher' or a URL starting with rtsp://"],
    ),
    (
        "bad duration",
        "retention:\n  max_age: 3 days\n",
        ['retention.max_age: must be a duration like 90s, 6h, 30d (got "3 days")'],
    ),
    (
        "bad size",
        "retention:\n  max_bytes: lots\n",
        ['retention.max_bytes: must be a size like 500GiB or 2TB (got "lots")'],
    ),
    (
        "bad enum",
        "mediamtx:\n  mode: sometimes\n",
        [
            "mediamtx.mode: must be one of 'auto', 'managed', 'external' or 'off'"
            ' (got "sometimes")'
        ],
    ),
    (
        "bad database url, secret not echoed",
        "database:\n  url: 'mysql://root:hunter2@db/x'\n",
        ["database.url: must be a postgresql:// URL or empty for the embedded database"],
    ),
    (
        "missing camera source",
        "cameras:\n  - name: a\n",
        ["cameras[0].source: required key is missing"],
    ),
    (
        "webhook url not http, token not echoed",
        "notifications:\n  webhooks:\n"
        "    - {url: 'ftp://h/x?token=hunter2', secret: 0123456789abcdef}\n",
        ["notifications.webhooks[0].url: must be an http:// or https:// URL with a host"],
    ),
    (
        "webhook url without host",
        "notifications:\n  webhooks:\n    - {url: 'https:///hook', secret: 0123456789abcdef}\n",
        ["notifications.webhooks[0].url: must be an http:// or https:// URL with a host"],
    ),
    (
        "short webhook secret, not echoed",
        "notifications:\n  webhooks:\n    - {url: 'https://h/x', secret: hunter2}\n",
        ["notifications.webhooks[0].secret: must be at least 16 characters"],
    ),
    (
        "unknown webhook event type",
        "notifications:\n  webhooks:\n"
        "    - {url: 'https://h/x', secret: 0123456789abcdef, events: [camera_offline, cam_off]}\n",
        ["notifications.webhooks[0].events: unknown event types ['cam_off']"],
    ),
    (
        "webhooks sharing a label",
        "notifications:\n  webhooks:\n"
        "    - {url: 'https://h/x', secret: 0123456789abcdef}\n"
        "    - {url: 'http://h:8080/y', secret: 0123456789abcdef}\n"
        "    - {url: 'https://h/z', name: other, secret: 0123456789abcdef}\n",
        ["notifications: webhooks ['h'] share a name: give each a distinct `name`"],
    ),
    (
        "webhook retry bounds reversed",
        "notifications:\n  retry_initial_seconds: 30\n  retry_max_seconds: 5\n",
        ["notifications: retry_initial_seconds (30.0) must be <= retry_max_seconds (5.0)"],
    ),
    (
        "audit retention too short",
        "audit:\n  retention_days: 0\n",
        ["audit.retention_days: must be >= 7 (got 0)"],
    ),
    ("not a mapping", "- a\n- b\n", ["(root): must be a mapping of sections (got list)"]),
    ("invalid YAML", "server:\n  port: [1\n", [":3:1: "]),
]


@pytest.mark.parametrize(("case", "text", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_reports_precise_problem(
    tmp_path: Path, case: str, text: str, expected: list[str]
) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    for fragment in expected:
        assert any(fragment in line for line in info.value.details), (fragment, info.value.details)
    assert "hunter2" not in str(info.value.details)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text(
        "server: {port: 0, extra: 1}\nrecording: {segment_seconds: 1}\n"
        "cameras:\n  - {name: A, source: publisher}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert len(info.value.details) == 4, info.value.details


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yml", environ={})
    assert "No such file" in info.value.details[0]


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "vmsd.yml"
    path.write_text("state_dir: ../state\nstorage: {paths: [../rec, /abs/rec]}\n")
    config = load_config(path, environ={})
    assert config.state_dir == tmp_path / "state"
    assert config.storage.paths == (tmp_path / "rec", Path("/abs/rec"))
    assert config.mediamtx.config_path == tmp_path / "state" / "mediamtx.yml"
    assert config.server.host == "127.0.0.1"
    assert config.database.embedded


def test_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text("database: {url: ''}\n")
    env = {"VMSD_DATABASE_URL": "postgresql://u:p@db/vmsd", "VMSD_SERVER_PORT": "9000"}
    config = load_config(path, environ=env)
    assert config.database.url.get_secret_value() == "postgresql://u:p@db/vmsd"
    assert not config.database.embedded
    assert config.server.port == 9000
    assert "u:p@" not in repr(config)


def test_units_parse(tmp_path: Path) -> None:
    path = tmp_path / "vmsd.yml"
    path.write_text("retention: {max_age: 30d, max_bytes: 500GiB, min_free_bytes: 2TB}\n")
    retention = load_config(path, environ={}).retention
    assert retention.max_age == 30 * 86400
    assert retention.max_bytes == 500 * 2**30
    assert retention.min_free_bytes == 2 * 10**12


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(Exception, match="frozen"):
        config.server.port = 1  # type: ignore[misc]


def test_default_config_path(tmp_path: Path) -> None:
    assert default_config_path({"VMSD_CONFIG": "/x/y.yml"}) == Path("/x/y.yml")


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmsd", "check-config", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_check_config_cli_exit_codes(tmp_path: Path, repo_root: Path) -> None:
    ok = _check_config(repo_root / "config" / "vmsd.yml")
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("cameras:\n  - name: Front Door\n    source: publisher\n")
    result = _check_config(bad)
    assert result.returncode == 78
    expected = 'cameras[0].name: must match ^[a-z0-9][a-z0-9_-]{0,62}$ (got "Front Door")'
    assert expected in result.stderr
    missing = _check_config(tmp_path / "nope.yml")
    assert missing.returncode == 78
