"""vmsd/core/event_types.py lists exactly the events the code records: a webhook filter checked
against it can neither miss a real event type nor accept one that never comes."""

from __future__ import annotations

import re
from pathlib import Path

from vmsd.core.event_types import EVENT_TYPES

RECORD_CALL = re.compile(r'(?:record_event|\.record)\(\s*"([a-z_]+)"')
LITERAL = re.compile(r'"([a-z][a-z_]+)"')


def _sources(repo_root: Path) -> dict[Path, str]:
    package = repo_root / "vmsd"
    catalogue = package / "core" / "event_types.py"
    return {p: p.read_text() for p in package.rglob("*.py") if p != catalogue}


def test_every_recorded_type_is_listed(repo_root: Path) -> None:
    recorded = {t for text in _sources(repo_root).values() for t in RECORD_CALL.findall(text)}
    assert recorded, "the pattern finds the record calls"
    assert recorded - EVENT_TYPES.keys() == set()


def test_every_listed_type_is_recorded_somewhere(repo_root: Path) -> None:
    # Some types are chosen at run time (camera state -> event, started or resumed), so the
    # check is that each listed type is written in the code, not only in record calls.
    literals = {t for text in _sources(repo_root).values() for t in LITERAL.findall(text)}
    assert EVENT_TYPES.keys() - literals == set()
