"""What a fault costs the real daemon: two RTSP cameras recording 2 s segments (no MediaMTX),
then, one at a time, each fault of tests/faults.py:

- hang: the embedded postmaster and every backend SIGSTOPped for --hang-s (80 s);
- kill: the embedded postmaster killed (kill -9); the daemon restarts it itself;
- blackhole: an external PostgreSQL behind a loopback proxy that forwards nothing for
  --blackhole-s (60 s);
- storage: the cameras on two storage roots; front's root renamed away (an unmount that keeps
  the files) for --storage-s (20 s), then back;
- enospc: both cameras on a 12 MB tmpfs (noise pictures: ~65 kB/s each), retention keeping
  2 MiB free; a filler file takes every free byte; the fault lasts until retention has made
  room and both cameras record again;
- kill9: the daemon itself killed with SIGKILL --kills (5) times at random moments (--seed)
  and restarted each time, then a last clean start and stop.

Printed per fault: recording seconds lost per camera over the window (fault start -> /readyz
200 again, every stopped camera recording again, + --after-s; kill9: first kill's lead-up ->
last stop), the time from the fault's end to /readyz 200 (kill9: from each restart and each
kill, min/median/max), when a stopped camera recorded again, the recorder states and FFmpeg
pids the API showed (storage, enospc), the segments closed during a database fault (indexed
after it) and whether every file is indexed exactly once (no file without its row, no row
without its file, no overlapping rows).

    .venv/bin/python bench/faults.py [--faults hang,kill,blackhole,storage,enospc,kill9]
        [--hang-s 80] [--blackhole-s 60] [--storage-s 20] [--kills 5] [--seed N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.faults import (
    CAMERAS,
    FAULTS,
    SOURCE_PATTERN,
    STORAGE_HIT,
    FaultReport,
    run_kill9,
    run_scenario,
)
from tests.streams.sources import RtspServer

ALL_FAULTS = (*FAULTS, "kill9")


def fault_ok(report: FaultReport) -> bool:
    """What the fault must not cost: the daemon, an index entry, the untouched camera's FFmpeg."""
    untouched = [c for c in report.ffmpeg_pids if report.fault == "storage" and c != STORAGE_HIT]
    return (
        report.same_pid
        and report.exit_code == 0
        and all(ix.exactly_once for ix in report.index.values())
        and all(report.kept_ffmpeg(c) for c in untouched)
        and all(t is not None for t in report.resumed_after_s.values())
    )


def run_one(fault: str, directory: Path, args: argparse.Namespace) -> FaultReport:
    pattern = SOURCE_PATTERN.get(fault, "ball")
    with RtspServer([f"/{c}" for c in CAMERAS], fps=10, gop=10, pattern=pattern) as rtsp:
        if fault == "kill9":
            return run_kill9(directory, rtsp, kills=args.kills, seed=args.seed)
        durations = {"hang": args.hang_s, "blackhole": args.blackhole_s, "storage": args.storage_s}
        return run_scenario(
            directory, rtsp, fault, fault_s=durations.get(fault, 0.0), after_s=args.after_s
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(ALL_FAULTS))
    parser.add_argument("--hang-s", type=float, default=80.0)
    parser.add_argument("--blackhole-s", type=float, default=60.0)
    parser.add_argument("--storage-s", type=float, default=20.0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None, help="kill9's random moments")
    parser.add_argument("--after-s", type=float, default=10.0)
    args = parser.parse_args()
    faults = args.faults.split(",")
    if unknown := sorted(set(faults) - set(ALL_FAULTS)):
        parser.error(f"unknown faults {unknown}; known: {','.join(ALL_FAULTS)}")
    worst = 0
    for fault in faults:
        directory = Path(tempfile.mkdtemp(prefix=f"vmsd-fault-{fault}-"))
        report = run_one(fault, directory, args)
        print(report.summary(), flush=True)
        if fault_ok(report):
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"  (kept {directory} for its logs)", flush=True)
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
