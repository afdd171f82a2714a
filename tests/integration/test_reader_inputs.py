"""Input files on a real file system: private while they live, gone when the run is over, and
the reader grant with them; what a killed daemon left is swept at the next start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from vmsd.access.grants import READER_USER_PREFIX, Grants
from vmsd.recorder.ffmpeg import RecorderInput
from vmsd.recorder.inputs import INPUT_SUFFIX, ReaderInputs

CAMERA_URL = "rtsp://admin:s3cret%40x@10.0.0.5/stream?token=abc"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_direct_input_file_is_private_and_removed(tmp_path: Path) -> None:
    inputs = ReaderInputs(tmp_path / "inputs", None)
    inputs.prepare()
    assert _mode(inputs.directory) == 0o700
    async with inputs.opened(RecorderInput(CAMERA_URL), "door") as path:
        assert path is not None and path.parent == inputs.directory
        assert path.name.startswith("door-") and path.name.endswith(INPUT_SUFFIX)
        assert _mode(path) == 0o600
        assert f"file '{CAMERA_URL}'" in path.read_text().splitlines()
    assert not path.exists()


async def test_through_mediamtx_a_grant_lives_exactly_as_long_as_the_file(
    tmp_path: Path,
) -> None:
    grants = Grants(READER_USER_PREFIX)
    inputs = ReaderInputs(tmp_path / "inputs", grants)
    inputs.prepare()
    source = RecorderInput("rtsp://127.0.0.1:8554/door", "tcp", "door")
    async with inputs.opened(source, "door") as path:
        assert path is not None
        entry = next(line for line in path.read_text().splitlines() if line.startswith("file"))
        user, password = entry.removeprefix("file 'rtsp://").split("@", 1)[0].split(":", 1)
        assert grants.allows_read(user, password, "door")
        assert not grants.allows_read(user, password, "gate")
    assert len(grants) == 0
    assert not grants.allows_read(user, password, "door")


async def test_a_failed_run_still_removes_its_file_and_grant(tmp_path: Path) -> None:
    grants = Grants(READER_USER_PREFIX)
    inputs = ReaderInputs(tmp_path / "inputs", grants)
    inputs.prepare()
    source = RecorderInput("rtsp://127.0.0.1:8554/door", "tcp", "door")
    with pytest.raises(RuntimeError, match="FFmpeg"):
        async with inputs.opened(source, "door") as path:
            raise RuntimeError("FFmpeg would not start")
    assert path is not None and not path.exists()
    assert len(grants) == 0


async def test_each_run_gets_its_own_file(tmp_path: Path) -> None:
    inputs = ReaderInputs(tmp_path / "inputs", None)
    inputs.prepare()
    async with (
        inputs.opened(RecorderInput(CAMERA_URL), "door") as first,
        inputs.opened(RecorderInput(CAMERA_URL), "door") as second,
    ):
        assert first != second


async def test_a_synthetic_pattern_needs_no_file(tmp_path: Path) -> None:
    inputs = ReaderInputs(tmp_path / "inputs", None)
    inputs.prepare()
    async with inputs.opened(RecorderInput("test://?size=320x240"), "demo") as path:
        assert path is None
    assert list(inputs.directory.iterdir()) == []


def test_start_sweeps_what_a_killed_daemon_left(tmp_path: Path) -> None:
    directory = tmp_path / "inputs"
    directory.mkdir(mode=0o755)
    left = directory / f"door-0123456789ab{INPUT_SUFFIX}"
    left.write_text(f"file '{CAMERA_URL}'\n")
    other = directory / "README"
    other.write_text("not ours")
    ReaderInputs(directory, None).prepare()
    assert not left.exists() and other.exists()
    assert _mode(directory) == 0o700  # tightened, whatever it was


async def test_a_vanished_directory_is_made_again(tmp_path: Path) -> None:
    inputs = ReaderInputs(tmp_path / "inputs", None)
    inputs.prepare()
    inputs.directory.rmdir()
    async with inputs.opened(RecorderInput(CAMERA_URL), "door") as path:
        assert path is not None and path.exists()
    assert _mode(inputs.directory) == 0o700
