"""Which processes vmsd answers for, asked of their owners at each sample."""

from __future__ import annotations

from vmsd.cameras.registry import CameraRegistry
from vmsd.recorder.fleet import RecorderFleet
from vmsd.system.host import ChildRef


def child_processes(
    cameras: CameraRegistry,
    fleet: RecorderFleet,
    mediamtx_pid: int | None,
    postgres_pid: int | None,
) -> list[ChildRef]:
    refs = []
    for name in sorted(cameras.cameras):
        status = fleet.status(name)
        if status is not None and status.pid is not None:
            refs.append(ChildRef("recorder", name, status.pid))
    if mediamtx_pid is not None:
        refs.append(ChildRef("mediamtx", "", mediamtx_pid))
    if postgres_pid is not None:  # the postmaster; its backends are measured with it
        refs.append(ChildRef("postgres", "", postgres_pid, tree=True))
    return refs
