"""The console's player going from one playback stretch to the next, in Debian's chromium
(Playwright), against the real daemon recording a synthetic 25 fps camera in 2 s segments.

Usage: python bench/stretches.py [--switches 8] [--fps 25]

The player (vmsd/console/player.js) is made with stretches of 3 s (the console asks for
600 s), so that a few seconds of playing cross many switches. Printed: the browser's time
between two frames shown (requestVideoFrameCallback) within a stretch and across a switch,
p50/max; and the wall clock's steps from frame to frame at a switch (one frame's time when the
next stretch starts where the last ended: a negative step is something played twice).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_user, write_config
from tests.player_probe import play_in_stretches

PASSWORD = "quiet-harbour-7791"  # noqa: S105 (a throwaway account of the bench's own daemon)
STRETCH_S = 3


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--switches", type=int, default=8)
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    played_s = (args.switches + 1) * (STRETCH_S + 2) + 2
    directory = Path(tempfile.mkdtemp(prefix="vmsd-bench-stretches-"))
    config = write_config(
        directory,
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": 2},
        cameras=[{"name": "cam", "source": f"test://?size=640x360&fps={args.fps}"}],
        log={"level": "warning", "format": "json"},
    )
    create_user(config, "bench", "admin", PASSWORD)
    daemon = DaemonProcess(config).start()
    try:
        daemon.wait_ready()
        started = datetime.now().astimezone()
        time.sleep(played_s + 6)  # what will be played, and the first segment's start-up
        run(daemon.url, started + timedelta(seconds=4), args.switches + 1, played_s)
    finally:
        daemon.stop()
        daemon.close()


def run(url: str, start: datetime, stretches: int, played_s: float) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.get_by_label("Username", exact=True).fill("bench")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.locator("article.tile").first.wait_for()
        page.goto(url + "/#/system")
        shown = play_in_stretches(
            page, "cam", start, STRETCH_S, stretches, timeout_ms=(played_s + 30) * 1000
        )
        browser.close()
    switch_steps = []
    for wall in shown.first_walls.values():
        before = max(w for w in shown.walls if w < wall + 0.001 and w != wall)
        switch_steps.append(wall - before)
    print(f"{len(shown.stretches) - 1} switches, {len(shown.within) + len(shown.switches) + 1} "
          f"frames, media errors: {shown.media_errors or 'none'}")  # fmt: skip
    print(f"between two frames shown, within a stretch: p50 {ms(pct(shown.within, 0.5))}, "
          f"max {ms(max(shown.within))}")  # fmt: skip
    print(f"between two frames shown, at a switch: p50 {ms(pct(shown.switches, 0.5))}, "
          f"max {ms(max(shown.switches))}")  # fmt: skip
    print(f"wall clock step at a switch: min {ms(min(switch_steps))}, "
          f"max {ms(max(switch_steps))}; over the whole run: min "
          f"{ms(min(b - a for a, b in itertools.pairwise(shown.walls)))}")  # fmt: skip


if __name__ == "__main__":
    main()
