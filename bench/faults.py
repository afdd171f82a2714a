"""What a database fault costs the real daemon: two RTSP cameras recording 2 s segments (no
MediaMTX), then, one at a time, each fault of tests/faults.py:

- hang: the embedded postmaster and every backend SIGSTOPped for --hang-s (80 s);
- kill: the embedded postmaster killed (kill -9); the daemon restarts it itself;
- blackhole: an external PostgreSQL behind a loopback proxy that forwards nothing for
  --blackhole-s (60 s).

Printed per fault: recording seconds lost per camera over the window (fault start -> /readyz
200 again + --after-s), the time from the database answering to /readyz 200, the segments
closed during the fault (indexed after it) and whether every file is indexed exactly once.

    .venv/bin/python bench/faults.py [--faults hang,kill,blackhole] [--hang-s 80]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.faults import CAMERAS, FAULTS, run_scenario
from tests.streams.sources import RtspServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--hang-s", type=float, default=80.0)
    parser.add_argument("--blackhole-s", type=float, default=60.0)
    parser.add_argument("--after-s", type=float, default=10.0)
    args = parser.parse_args()
    durations = {"hang": args.hang_s, "kill": 0.0, "blackhole": args.blackhole_s}
    worst = 0
    with RtspServer([f"/{c}" for c in CAMERAS], fps=10, gop=10) as rtsp:
        for fault in args.faults.split(","):
            directory = Path(tempfile.mkdtemp(prefix=f"vmsd-fault-{fault}-"))
            report = run_scenario(
                directory, rtsp, fault, fault_s=durations[fault], after_s=args.after_s
            )
            print(report.summary(), flush=True)
            ok = report.same_pid and all(ix.exactly_once for ix in report.index.values())
            if ok:
                shutil.rmtree(directory, ignore_errors=True)
            else:
                print(f"  (kept {directory} for its logs)", flush=True)
            worst = max(worst, 0 if ok else 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
