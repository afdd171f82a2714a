"""The README's Errors table, read as data: what the error-shape tests check against."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def readme_errors() -> dict[tuple[int, str], str]:
    """(status, code) -> the text of its row in the README's `### Errors` table."""
    section = README.read_text().split("### Errors", 1)[1].split("\n#", 1)[0]
    rows: dict[tuple[int, str], str] = {}
    for line in section.splitlines():
        match = re.match(r"\| (\d{3}) \| (.+?) \| (.+) \|$", line)
        if match:
            for code in re.findall(r"`([a-z_]+)`", match.group(2)):
                rows[(int(match.group(1)), code)] = match.group(3)
    return rows
