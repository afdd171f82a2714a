"""`vmsd doctor`'s listener line: what MediaMTX will open, and what an unknown version risks.

The managed binary is a two-line script standing in for `mediamtx --version` (the only call
the check makes); the rendering, the base file and the check are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import REPO_ROOT
from vmsd.cli.doctor import Check, database_check, mediamtx_listeners
from vmsd.config.console import ConsoleConfig
from vmsd.config.schema import Config
from vmsd.runtime.database import DatabaseState

BASE_FILE = REPO_ROOT / "mediamtx.yml"


def fake_mediamtx(tmp_path: Path, prints: str) -> Path:
    script = tmp_path / "mediamtx"
    script.write_text(f"#!/bin/sh\nprintf '%s' '{prints}'\n")
    script.chmod(0o755)
    return script


def config(tmp_path: Path, mode: str, binary: Path | None = None,
           base: Path = BASE_FILE) -> Config:
    mediamtx: dict[str, object] = {"mode": mode, "base_config": str(base), "rtsp_port": 18554}
    if binary is not None:
        mediamtx["binary"] = str(binary)
    return Config.model_validate({"state_dir": str(tmp_path), "mediamtx": mediamtx})


async def test_known_version_lists_what_listens(tmp_path: Path) -> None:
    binary = fake_mediamtx(tmp_path, "v1.20.1")
    check = await mediamtx_listeners(config(tmp_path, "managed", binary))
    assert check is not None
    assert (check.name, check.status) == ("mediamtx_listeners", "ok")
    assert check.detail == (
        "MediaMTX v1.20.1 listens on rtsp 127.0.0.1:18554, api 127.0.0.1:9997, "
        "metrics 127.0.0.1:9998; every other server off"
    )


async def test_the_live_view_lists_webrtc_and_its_ice_port(tmp_path: Path) -> None:
    binary = fake_mediamtx(tmp_path, "v1.20.1")
    on = config(tmp_path, "managed", binary).model_copy(
        update={"console": ConsoleConfig(live_view=True)}
    )
    check = await mediamtx_listeners(on)
    assert check is not None and check.status == "ok"
    assert "webrtc 127.0.0.1:8889, webrtc :8189, " in check.detail


@pytest.mark.parametrize("prints", ["", "dev build"])
async def test_unreadable_version_says_unknown_and_names_the_risk(
    tmp_path: Path, prints: str
) -> None:
    binary = fake_mediamtx(tmp_path, prints)
    check = await mediamtx_listeners(config(tmp_path, "managed", binary))
    assert check is not None and check.status == "warn"
    assert check.detail.startswith(f'MediaMTX version unknown ("{binary} --version" gave ')
    assert "rendered with the v1.9.0 keys, without moq, moqHTTP2Address" in check.detail
    assert ("a MediaMTX v1.19.0 or later listens on every interface (moqHTTP2Address :8892, "
            "moqHTTP3Address :8892, moqQUICAddress :8893) unless the base sets `moq: no`"
            ) in check.detail


async def test_external_mode_is_unknown_until_the_control_api_answers(tmp_path: Path) -> None:
    check = await mediamtx_listeners(config(tmp_path, "external"))
    assert check is not None and check.status == "warn"
    assert "version unknown (external mode: vmsd learns it from the Control API" in check.detail
    assert "`moq: no`" in check.detail


async def test_a_base_that_turns_moq_off_covers_the_unknown_version(tmp_path: Path) -> None:
    base = tmp_path / "base.yml"
    base.write_text(BASE_FILE.read_text(encoding="utf-8") + "moq: no\n", encoding="utf-8")
    check = await mediamtx_listeners(config(tmp_path, "external", base=base))
    assert check is not None and check.status == "warn"
    assert check.detail.endswith("; the base turns off what they add")
    assert "every interface" not in check.detail


async def test_a_newer_release_than_known_is_a_warning(tmp_path: Path) -> None:
    binary = fake_mediamtx(tmp_path, "v1.21.0")
    check = await mediamtx_listeners(config(tmp_path, "managed", binary))
    assert check is not None and check.status == "warn"
    assert check.detail.startswith("MediaMTX v1.21.0 is newer than vmsd knows")


async def test_a_base_address_without_port_fails(tmp_path: Path) -> None:
    base = tmp_path / "base.yml"
    base.write_text("hls: yes\nhlsAddress: '8888'\n", encoding="utf-8")
    check = await mediamtx_listeners(config(tmp_path, "external", base=base))
    assert check is not None and check.status == "fail"
    assert 'hlsAddress: must be host:port or :port (got "8888")' in check.detail


async def test_mode_off_has_no_listener_line(tmp_path: Path) -> None:
    assert await mediamtx_listeners(config(tmp_path, "off")) is None


# --- the database line: what doctor can say without starting anything ---------------------

DATA = Path("/var/lib/vmsd/db")
BINARY = "postgres (PostgreSQL) 18.6"


@pytest.mark.parametrize(
    ("state", "status", "detail"),
    [
        (DatabaseState(True, binary_version=BINARY, data_dir=DATA), "ok",
         f"embedded PostgreSQL 18.6; {DATA}: not initialised yet (the first start runs initdb)"),
        (DatabaseState(True, binary_version=BINARY, data_dir=DATA, data_version="18"), "ok",
         f"embedded PostgreSQL 18.6; {DATA}: initialised, not running (vmsd starts it)"),
        (DatabaseState(True, binary_version=BINARY, data_dir=DATA, data_version="16"), "fail",
         f"embedded: {DATA} holds a PostgreSQL 16 cluster, the installed server is 18.6: it "
         "cannot start on it (dump with the old version, restore with the new)"),
        (DatabaseState(True, server_version="18.6", pending_migrations=(), binary_version=BINARY,
                       data_dir=DATA, data_version="18"), "ok",
         "embedded PostgreSQL 18.6, running; schema up to date"),
        (DatabaseState(False, server_version="16.4", pending_migrations=(7, 8)), "ok",
         "external PostgreSQL 16.4; 2 migrations to apply (at the daemon's start, or vmsd "
         "migrate)"),
    ],
)
def test_database_line(state: DatabaseState, status: str, detail: str) -> None:
    assert database_check(state) == Check("database", status, detail)
