"""The console's player (vmsd/console/player.js) made in a page with short stretches, so that
a few seconds of playing cross several of them, and what the browser presented meanwhile.

Every frame the visible <video> presents (requestVideoFrameCallback) is recorded with the
player's wall clock and the stretch (the <video>'s data-start) it belongs to, and every line
its status says. Used by
tests/e2e/test_console_browser.py and bench/stretches.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from playwright.sync_api import Page

PLAY_IN_STRETCHES = """async ({ camera, from, seconds }) => {
  const { createPlayer } = await import("/console/player.js");
  const player = createPlayer(camera, { stretchSeconds: seconds });
  document.querySelector("main").replaceChildren(player.el);
  Object.assign(window, { player, presented: [], mediaErrors: [], said: [] });
  const status = player.el.querySelector("p[aria-live]");
  new MutationObserver(() => said.push(status.textContent)).observe(status, { childList: true });
  for (const v of player.el.querySelectorAll("video")) {
    v.muted = true;
    v.addEventListener("error", () => mediaErrors.push(v.error ? v.error.code : "?"));
    const tick = (now) => {
      const stretch = v.dataset.start;
      if (v.className === "player") presented.push({ t: now, wall: player.now(), stretch });
      v.requestVideoFrameCallback(tick);
    };
    v.requestVideoFrameCallback(tick);
  }
  player.play(from);
}"""


@dataclass(frozen=True)
class Presented:
    """What a run presented: the stretches in order, each frame's wall clock (s), and the
    browser's time between two frames shown (s), within a stretch and across a switch."""

    stretches: list[str]
    walls: list[float]
    within: list[float]
    switches: list[float]
    first_walls: dict[str, float]  # each stretch after the first: its first frame's wall clock
    media_errors: list[Any]
    said: list[str]  # what the player's status line said, in order

    @property
    def wall_steps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.walls)]


def play_in_stretches(
    page: Page, camera: str, start: datetime, seconds: float, stretches: int, timeout_ms: float
) -> Presented:
    """Plays `camera` from `start` in stretches of `seconds` until `stretches` have been
    shown; the page must be the console's, signed in."""
    page.evaluate(
        PLAY_IN_STRETCHES,
        {"camera": camera, "from": start.timestamp() * 1000, "seconds": seconds},
    )
    page.wait_for_function(
        f"() => new Set(presented.map((f) => f.stretch)).size >= {stretches}", timeout=timeout_ms
    )
    frames: list[dict[str, Any]] = page.evaluate("presented")
    errors: list[Any] = page.evaluate("mediaErrors")
    said: list[str] = page.evaluate("said")
    page.evaluate("player.stop()")
    order = list(dict.fromkeys(f["stretch"] for f in frames))
    within: list[float] = []
    switches: list[float] = []
    for a, b in itertools.pairwise(frames):
        (within if a["stretch"] == b["stretch"] else switches).append((b["t"] - a["t"]) / 1000)
    firsts = {s: next(f["wall"] / 1000 for f in frames if f["stretch"] == s) for s in order[1:]}
    walls = [f["wall"] / 1000 for f in frames if f["wall"] is not None]
    return Presented(order, walls, within, switches, firsts, errors, said)
