"""The local journal: an append-only JSON-lines file in the state dir that holds what waits for
the database (finished segments, events), so that nothing is lost while it is away. One
implementation for every journal; each owner decides what its lines mean and when to replay.

Appends are fsynced (durable on return). A power loss can cut the last line short: `open()`
drops such a tail, since appending to it would merge two records into garbage. Every file
operation runs in a thread, never on the event loop. Only the owner's task touches the file,
so the line count kept here is the file's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from vmsd.core.durable import append_lines, drop_partial_tail, read_lines, truncate


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines = 0

    @property
    def lines(self) -> int:
        """Complete lines in the file."""
        return self._lines

    async def open(self) -> tuple[list[str], int]:
        """What a previous run left: its complete lines, and the bytes of a cut-short tail
        that were dropped."""
        cut = await asyncio.to_thread(drop_partial_tail, self.path)
        lines = await asyncio.to_thread(read_lines, self.path)
        self._lines = len(lines)
        return lines, cut

    async def append(self, lines: list[str]) -> None:
        await asyncio.to_thread(append_lines, self.path, lines)
        self._lines += len(lines)

    async def read(self) -> list[str]:
        return await asyncio.to_thread(read_lines, self.path)

    async def clear(self) -> None:
        """Everything in it is in the database now."""
        await asyncio.to_thread(truncate, self.path)
        self._lines = 0
