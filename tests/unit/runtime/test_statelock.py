from __future__ import annotations

from pathlib import Path

import pytest

from vmsd.core.errors import StateDirLockedError
from vmsd.runtime.statelock import StateDirLock


def test_second_holder_refused_with_holder_named(tmp_path: Path) -> None:
    held = StateDirLock(tmp_path, holder="vmsd daemon")
    refused = pytest.raises(StateDirLockedError, match=r"in use by pid \d+ \(vmsd daemon\)")
    with held, refused:
        StateDirLock(tmp_path, holder="vmsd daemon").acquire()
    StateDirLock(tmp_path, holder="again").acquire()  # released: free again
