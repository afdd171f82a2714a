"""The web console's first load and its timeline, in Debian's chromium (Playwright), against the
real daemon recording synthetic cameras.

Usage: python bench/console.py [--cameras 4] [--rounds 10]

Printed: the bytes of the console's own files on a first load (page, modules, style sheet,
icon) and of the API answers it reads to draw the grid; the time from navigation to a grid with
every tile's states drawn (a fresh browser context each round: nothing cached), p50/p99; on a
revisit (ETag revalidation: 304s), p50/p99; the time from a move of the timeline to its new
window drawn from the API (a pan of half the view, back and forth; the console waits 150 ms
for the moves to settle before it asks, and that is counted), p50/p99; and, when the daemon serves
`GET .../playback` (branch i15-playback), the time from a click on the timeline to the
player's `playing` event (a seek to a new point), p50/p99.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import FloatRect, Locator, Page, Response, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ffmpeg_binary
from tests.daemon_process import DaemonProcess, create_user, write_config
from vmsd.api.app import all_routes

PASSWORD = "quiet-harbour-7791"  # noqa: S105 (a throwaway account of the bench's own daemon)
HAS_PLAYBACK = any(r.path == "/api/v1/cameras/{name}/playback" for r in all_routes())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> None:
    print(f"{name}: p50 {pct(values, 0.5) * 1000:.0f} ms, p99 {pct(values, 0.99) * 1000:.0f} ms"
          f" (n={len(values)})")  # fmt: skip


def drawn_box(locator: Locator) -> FloatRect:
    """The element's box once it is drawn: the timeline redraws its spans whenever it reloads
    them, and the box of one just replaced is None."""
    for _ in range(100):
        found = locator.bounding_box()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{locator} was never drawn")


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Username", exact=True).fill("bench")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("article.tile .states").first.wait_for()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="vmsd-bench-console-"))
    cameras = [
        {"name": f"cam-{i}", "source": "test://?size=320x180&fps=5"} for i in range(args.cameras)
    ]
    config = write_config(
        directory,
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": 2},
        cameras=cameras,
        log={"level": "warning", "format": "json"},
    )
    create_user(config, "bench", "admin", PASSWORD)
    daemon = DaemonProcess(config).start()
    try:
        daemon.wait_ready()
        time.sleep(8)  # a few segments for the timeline
        run(daemon.url, args.rounds)
    finally:
        daemon.stop()
        daemon.close()


def run(url: str, rounds: int) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        cold: list[float] = []
        grid: list[float] = []
        warm: list[float] = []
        sizes: dict[str, int] = {}
        for _ in range(rounds):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            sizes.clear()

            def seen(response: Response) -> None:
                if response.status == 200 and "/snapshot" not in response.url:
                    sizes[response.url] = len(response.body())

            page.on("response", seen)
            started = time.perf_counter()
            page.goto(url + "/")
            page.get_by_role("button", name="Sign in").wait_for()
            cold.append(time.perf_counter() - started)
            page.get_by_label("Username", exact=True).fill("bench")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            started = time.perf_counter()
            page.get_by_role("button", name="Sign in").click()
            page.locator("article.tile .states").first.wait_for()
            grid.append(time.perf_counter() - started)
            page.remove_listener("response", seen)  # the first load's bytes are counted
            started = time.perf_counter()
            page.reload()
            page.locator("article.tile .states").first.wait_for()
            warm.append(time.perf_counter() - started)
            context.close()
        files = sum(n for u, n in sizes.items() if "/api/" not in u)
        answers = sum(n for u, n in sizes.items() if "/api/" in u)
        print(f"console files on a first load: {files} bytes (uncompressed); "
              f"API answers read for a drawn grid: {answers} bytes")  # fmt: skip
        line("first load to the sign-in form (nothing cached)", cold)
        line("sign in to a drawn grid (login included)", grid)
        line("reload to a drawn grid (304s by ETag)", warm)
        timeline(browser.new_context().new_page(), url, rounds)
        browser.close()


def timeline(page: Page, url: str, rounds: int) -> None:
    sign_in(page, url)
    page.goto(url + "/#/camera/cam-0")
    page.get_by_label("Zoom", exact=True).select_option(label="5 minutes")
    page.locator(".timeline .track .span").first.wait_for()
    moves: list[float] = []
    for i in range(rounds):
        with page.expect_response(lambda r: "/timeline?" in r.url) as answer:
            started = time.perf_counter()
            page.get_by_role("button", name="Earlier" if i % 2 == 0 else "Later").click()
        answer.value.finished()
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done(null)))")
        moves.append(time.perf_counter() - started)
    line("timeline moved to its new window drawn", moves)
    if not HAS_PLAYBACK:
        print("seek to a new point: not measured (no GET .../playback on this branch)")
        return
    page.get_by_role("button", name="Now").click()
    seeks: list[float] = []
    for i in range(rounds):
        span = drawn_box(page.locator(".timeline .track .span").last)
        page.evaluate(
            "window.__playing = false; document.querySelector('video.player')"
            ".addEventListener('playing', () => { window.__playing = true; }, {once: true})"
        )
        started = time.perf_counter()
        x = span["x"] + span["width"] * (0.2 + 0.6 * i / max(1, rounds - 1))
        page.mouse.click(x, span["y"] + span["height"] / 2)
        page.wait_for_function("() => window.__playing")
        seeks.append(time.perf_counter() - started)
    line("seek to a new point (click to playing)", seeks)


if __name__ == "__main__":
    main()
