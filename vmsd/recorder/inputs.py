"""Input files: how FFmpeg learns the URL it reads without anyone else learning it.

Every local user can read every process's argv (/proc/PID/cmdline), so a URL with a camera's
password, a query-string token or a reader grant is never put there. Each FFmpeg run gets a
one-entry ffconcat file instead (ffmpeg.input_description), created 0600 in a 0700 directory
of the state dir, named in the argv, and removed when the run is over. Through MediaMTX, the
URL carries a reader grant issued for that run alone and revoked with the file.

Measured cost per recorder start: bench/reader_inputs.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from vmsd.cameras.model import Camera
from vmsd.core.log import get_logger
from vmsd.core.sources import with_credentials
from vmsd.recorder.ffmpeg import RecorderInput, input_description

INPUT_DIR_NAME = "inputs"
INPUT_SUFFIX = ".ffconcat"
_DIR_MODE = 0o700
_FILE_MODE = 0o600

log = get_logger("vmsd.recorder")


def direct_input(camera: Camera) -> RecorderInput:
    """The camera itself, as its readers read it when MediaMTX is not in between."""
    return RecorderInput(camera.connect_url, camera.rtsp_transport.value)


class Grant(Protocol):
    @property
    def user(self) -> str: ...
    @property
    def password(self) -> str: ...


class GrantIssuer(Protocol):
    """access.grants.Grants fits."""

    def issue(self, path: str) -> Grant: ...
    def revoke(self, user: str) -> None: ...


class ReaderInputs:
    def __init__(self, directory: Path, grants: GrantIssuer | None) -> None:
        """`grants`: None when nothing reads through MediaMTX (mediamtx.mode off)."""
        self.directory = directory
        self._grants = grants

    def prepare(self) -> None:
        """At start, before any run: the private directory, emptied of what a killed daemon
        left (files with credentials in them)."""
        self.directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.directory, _DIR_MODE)
        for stale in self.directory.glob(f"*{INPUT_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    @contextlib.asynccontextmanager
    async def opened(self, source: RecorderInput, owner: str) -> AsyncIterator[Path | None]:
        """The input file for one FFmpeg run of `owner` (a camera, a snapshot), valid for the
        block; None for a synthetic pattern (lavfi needs no URL)."""
        if source.synthetic is not None:
            yield None
            return
        grant = None
        url = source.url
        if source.mediamtx_path is not None:
            if self._grants is None:
                raise RuntimeError("a MediaMTX input without reader grants")
            grant = self._grants.issue(source.mediamtx_path)
            url = with_credentials(url, grant.user, grant.password)
        path = self.directory / f"{owner}-{secrets.token_hex(6)}{INPUT_SUFFIX}"
        try:
            await asyncio.to_thread(_write_private, path, input_description(source, url))
            yield path
        finally:
            if grant is not None and self._grants is not None:
                self._grants.revoke(grant.user)
            await asyncio.to_thread(_remove, path)


def _write_private(path: Path, text: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, _FILE_MODE)
    except FileNotFoundError:  # the directory went away (a test's, an operator's rm -rf)
        path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(path, flags, _FILE_MODE)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as err:  # a failing disk: the next start's prepare() sweeps it
        log.warning("input_file_not_removed", path=str(path), error=str(err))
