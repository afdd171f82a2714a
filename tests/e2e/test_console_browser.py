"""The web console in a real browser (Debian's chromium, driven by Playwright) against the real
daemon recording two synthetic cameras: sign in, the grid with states, a camera's timeline with
the gap a stop made, an export downloaded and shared, the live event feed, the system page, the
admin pages, and a viewer granted one camera who sees only it and is refused the admin pages.

Every page is photographed (the test's tmp dir, and var/screenshots/ for a person to look at).
Any Content-Security-Policy violation or script error on any page fails the test that caused it.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    FloatRect,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from tests.conftest import ffmpeg_binary
from tests.daemon_client import request, until
from tests.daemon_process import DaemonProcess, create_token, write_config
from tests.paths import REPO_ROOT
from tests.player_probe import play_in_stretches
from tests.streams.sources import require
from vmsd.api.app import all_routes

CHROMIUM = "/usr/bin/chromium"  # Debian's (.ci/run installs it); Playwright downloads none
pytestmark = pytest.mark.slow

CAM_A, CAM_B = "cam-a", "cam-b"
PASSWORD = "console-pass-9183"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
HAS_PLAYBACK = any(r.path == "/api/v1/cameras/{name}/playback" for r in all_routes())
WAIT_MS = 30_000


@dataclass
class Box:
    daemon: DaemonProcess
    token: str
    shots: Path
    problems: list[str] = field(default_factory=list)  # CSP violations, script errors

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """With the fixture's admin token: the body of a 2xx answer."""
        return self.daemon.request(method, path, body=body, token=self.token, timeout_s=30).ok()

    def recordings(self, camera: str) -> list[dict[str, Any]]:
        page = self.call("GET", f"/api/v1/recordings?camera={camera}&limit=100&order=desc")
        return list(page["items"])

    def shoot(self, page: Page, name: str) -> None:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / path.name)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    directory = tmp_path_factory.mktemp("console")
    config = write_config(
        directory,
        ffmpeg={"binary": ffmpeg_binary()},
        recording={"segment_seconds": 2, "snapshot_timeout_seconds": 5, "probe_timeout_seconds": 5},
        # cam-a from the file (read-only in the console), cam-b made through the API below.
        cameras=[{"name": CAM_A, "source": "test://?size=320x180&fps=5"}],
        auth={"password_hash": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}},
        log={"level": "info", "format": "json"},
    )
    admin_token = create_token(config, "fixture", "admin")
    daemon = DaemonProcess(config)
    daemon.start().wait_ready()
    try:
        shots = directory / "screenshots"
        shots.mkdir()
        box = Box(daemon, admin_token, shots)
        box.call("POST", "/api/v1/cameras", {"name": CAM_B, "source": "test://?size=320x180&fps=5"})
        box.call("POST", "/api/v1/users", {"name": "ada", "role": "admin", "password": PASSWORD})
        box.call(
            "POST",
            "/api/v1/users",
            {"name": "vera", "role": "viewer", "cameras": [CAM_A], "password": PASSWORD},
        )
        for camera in (CAM_A, CAM_B):
            until(f"a recording of {camera}", lambda c=camera: box.recordings(c))  # type: ignore[misc]
        yield box
        assert daemon.stop() == 0, daemon.log_text()[-5000:]
    finally:
        daemon.close()


@pytest.fixture(scope="module")
def browser(box: Box) -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=require(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


def new_page(box: Box, browser: Browser, **options: Any) -> Page:
    context = browser.new_context(
        timezone_id="UTC", locale="en-GB", accept_downloads=True,
        viewport=options.pop("viewport", {"width": 1280, "height": 900}), **options,
    )  # fmt: skip
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()

    def console(message: ConsoleMessage) -> None:
        text = message.text
        # A refused WHEP offer or a missing recording is the page's business (it says so on
        # screen), not a bug: only the browser's line about the failed load is let through.
        if ("Content Security Policy" in text or message.type == "error") and (
            "Failed to load resource" not in text
        ):
            box.problems.append(f"console {message.type}: {text}")

    page.on("console", console)
    page.on("pageerror", lambda err: box.problems.append(f"page error: {err}"))
    return page


def rect(locator: Locator) -> FloatRect:
    """The element's box once it is drawn: the timeline redraws its spans whenever it reloads
    them (every 10 s, and after each move), and the box of one just replaced is None."""
    found = until(f"a box of {locator}", locator.bounding_box, WAIT_MS / 1000, 0.1)
    assert found is not None
    return found


def sign_in(box: Box, page: Page, user: str) -> None:
    page.goto(box.daemon.url + "/")
    page.get_by_label("Username", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(user)


@pytest.fixture
def admin_page(box: Box, browser: Browser) -> Iterator[Page]:
    box.problems.clear()
    page = new_page(box, browser)
    sign_in(box, page, "ada")
    yield page
    page.context.close()
    assert box.problems == []


def test_a_signed_out_visitor_sees_only_the_form_then_the_grid(box: Box, browser: Browser) -> None:
    box.problems.clear()
    page = new_page(box, browser)
    page.goto(box.daemon.url + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("header")).to_be_hidden()
    # Nothing but the form (and the skip link every page has).
    expect(page.get_by_role("link")).to_have_text(["Skip to content"])
    expect(page.locator("form")).to_have_count(1)
    box.shoot(page, "01-sign-in")
    page.get_by_label("Username", exact=True).fill("ada")
    page.get_by_label("Password", exact=True).fill("wrong password 1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")

    sign_in(box, page, "ada")
    for camera in (CAM_A, CAM_B):
        tile = page.locator(f"article[data-camera='{camera}']")
        expect(tile.get_by_role("link", name=camera, exact=True)).to_be_visible()
        expect(tile.locator(".states")).to_contain_text("online")
        expect(tile.locator(".states")).to_contain_text("recording")
        # The live view is off (its default, and MediaMTX is off): snapshots, and the tile says so.
        expect(tile.locator(".picture-label")).to_contain_text("Snapshot every 5 s")
        expect(tile.locator("img[data-loaded='true']")).to_have_count(1)
    box.shoot(page, "02-grid")
    page.get_by_label("Per page", exact=True).select_option("1")
    expect(page.locator("article.tile")).to_have_count(1)
    page.get_by_role("button", name="Next").click()
    expect(page.locator(f"article[data-camera='{CAM_B}']")).to_be_visible()
    page.get_by_label("Per page", exact=True).select_option("4")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.context.close()
    assert box.problems == []


@pytest.fixture(scope="module")
def cam_b_gap(box: Box) -> float:
    """A gap in cam-b's recording, made once for the module: the camera stopped for 5 s. Returns
    when it restarted (epoch seconds), once a recording after it has begun."""
    box.call("PATCH", f"/api/v1/cameras/{CAM_B}", {"enabled": False})
    time.sleep(5)  # the gap: five seconds with no recording
    box.call("PATCH", f"/api/v1/cameras/{CAM_B}", {"enabled": True})
    restarted = time.time()
    until(
        "a recording after the restart",
        lambda: any(
            datetime.fromisoformat(r["start"]).timestamp() > restarted - 1
            for r in box.recordings(CAM_B)
        ),
    )
    return restarted


def test_the_timeline_shows_spans_and_the_gap_a_stop_made(
    box: Box, admin_page: Page, cam_b_gap: float
) -> None:
    page = admin_page
    page.get_by_role("link", name=CAM_B, exact=True).click()
    expect(page.get_by_role("heading", name=CAM_B, level=1)).to_be_visible()
    page.get_by_label("Zoom", exact=True).select_option(label="10 minutes")
    track = page.locator(".timeline .track")
    expect(track.locator(".gap")).not_to_have_count(0)
    assert track.locator(".span").count() >= 2
    reasons = {g.get_attribute("data-reason") for g in track.locator(".gap").all()}
    assert reasons & {"recorder_stopped", "source_lost"}, reasons
    box.shoot(page, "03-camera-timeline")

    # The keyboard moves and zooms it.
    timeline = page.get_by_role("slider", name="Timeline")
    timeline.focus()
    before = timeline.get_attribute("aria-valuetext")
    page.keyboard.press("ArrowLeft")
    assert timeline.get_attribute("aria-valuetext") != before
    page.keyboard.press("-")
    expect(page.get_by_label("Zoom", exact=True)).to_have_value("6")  # 30 minutes
    page.keyboard.press("+")
    expect(page.get_by_label("Zoom", exact=True)).to_have_value("7")

    # A click plays from that moment: the player asks the playback API from there.
    span = track.locator(".span").last
    span.click()
    src = page.locator("video.player").get_attribute("src")
    assert src is not None and src.startswith(f"/api/v1/cameras/{CAM_B}/playback?start=")


@pytest.mark.skipif(not HAS_PLAYBACK, reason="GET .../playback is built on branch i15-playback")
def test_a_click_plays_across_a_segment_boundary(box: Box, admin_page: Page) -> None:
    page = admin_page
    page.goto(box.daemon.url + f"/#/camera/{CAM_A}")
    page.get_by_label("Zoom", exact=True).select_option(label="10 minutes")
    segments = box.recordings(CAM_A)
    page.evaluate(
        "() => { const v = document.querySelector('video.player'); v.muted = true;"
        " window.__errors = 0; v.addEventListener('error', () => window.__errors++); }"
    )
    target = page.locator(".timeline .track .span").last
    box_ = rect(target)
    # Some way left of its end: a few segments of 2 s to play through.
    page.mouse.click(box_["x"] + box_["width"] * 0.5, box_["y"] + box_["height"] / 2)
    assert len(segments) >= 3
    page.wait_for_function(
        "() => document.querySelector('video.player').currentTime > 5", timeout=WAIT_MS
    )
    assert page.evaluate("window.__errors") == 0


@pytest.mark.skipif(not HAS_PLAYBACK, reason="GET .../playback is built on branch i15-playback")
def test_playback_follows_the_wall_clock_across_a_gap_and_says_so(
    box: Box, admin_page: Page, cam_b_gap: float
) -> None:
    page = admin_page
    # Enough recorded after the gap (2 s segments) to play a couple of seconds past it.
    until(
        "4 s recorded after the restart",
        lambda: any(
            datetime.fromisoformat(r["end"]).timestamp() > cam_b_gap + 4
            for r in box.recordings(CAM_B)
        ),
    )
    page.goto(box.daemon.url + f"/#/camera/{CAM_B}")
    page.get_by_label("Zoom", exact=True).select_option(label="5 minutes")
    page.evaluate(
        "() => { const v = document.querySelector('video.player'); v.muted = true;"
        " window.__errors = 0; v.addEventListener('error', () => window.__errors++); }"
    )
    track = page.locator(".timeline .track")
    gap_box, track_box = rect(track.locator(".gap").last), rect(track)
    # Three seconds before the gap (the view is 300 s wide): the stream starts at the keyframe
    # at or before there, plays into the gap and is carried over it.
    per_second = track_box["width"] / 300
    page.mouse.click(gap_box["x"] - 3 * per_second, gap_box["y"] + gap_box["height"] / 2)

    # The player's plan is the stream's: ask the API the same, for the gap it skips.
    video = page.locator("video.player")
    expect(video).to_have_attribute("data-start", re.compile(r"^\d{4}-"))
    start = video.get_attribute("data-start")
    assert start is not None
    plan = box.call(
        "GET",
        f"/api/v1/cameras/{CAM_B}/playback/plan?"
        + urllib.parse.urlencode({"start": start, "duration": 600, "align": "segment"}),
    )
    assert plan["gaps"], plan
    gap = plan["gaps"][0]
    assert gap["reason"] in {"recorder_stopped", "source_lost"}, gap
    assert 0 < gap["at_seconds"] < 8, gap  # the click was just before it

    page.wait_for_function(
        "(at) => document.querySelector('video.player').currentTime > at + 1.5",
        arg=gap["at_seconds"],
        timeout=WAIT_MS,
    )
    # The time shown and the playhead are past the gap's end on the wall clock, not 5 s behind.
    shown = page.locator("time.play-clock").get_attribute("datetime")
    assert shown is not None
    assert datetime.fromisoformat(shown) > datetime.fromisoformat(gap["end"]), (shown, gap)
    playhead = rect(track.locator(".playhead"))
    assert playhead["x"] + playhead["width"] / 2 > gap_box["x"] + gap_box["width"], (
        playhead,
        gap_box,
    )
    # It says what it skipped, under the player and on the timeline.
    seconds = int(gap["seconds"] + 0.5)
    at = datetime.fromisoformat(gap["start"]).astimezone(UTC).strftime("%H:%M:%S")
    expect(page.get_by_role("list", name="Skipped gaps").get_by_role("listitem")).to_have_text(
        [f"skipped 00:00:{seconds:02d} gap ({gap['reason']}) at {at}"]
    )
    expect(track.locator(".skipped")).to_have_attribute("data-reason", gap["reason"])
    assert page.evaluate("window.__errors") == 0
    box.shoot(page, "03b-camera-skipped-gap")


def _end(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["end"])


@pytest.mark.skipif(not HAS_PLAYBACK, reason="GET .../playback is built on branch i15-playback")
def test_the_player_goes_on_from_stretch_to_stretch_without_a_replay(
    box: Box, admin_page: Page
) -> None:
    """At each stretch's end the next one, loaded meanwhile in the hidden <video>, takes over
    where it ended: the wall clock of the frames shown never steps back (no keyframe interval
    played twice, as a stream asked from a time mid-segment would) nor jumps ahead."""
    page = admin_page
    # 20 s of cam-a recorded without a hole (it is never stopped), the last 16 of it played.
    def recorded_s() -> float:
        rows = box.recordings(CAM_A)  # newest first
        return (_end(rows[0]) - datetime.fromisoformat(rows[-1]["start"])).total_seconds()

    until("20 s of cam-a", lambda: recorded_s() > 20)
    start = _end(box.recordings(CAM_A)[0]) - timedelta(seconds=16.3)
    page.goto(box.daemon.url + "/#/system")
    # Stretches of 3 s (the console's are 600 s): 4 of them within the 16 s played.
    shown = play_in_stretches(page, CAM_A, start, seconds=3, stretches=4, timeout_ms=WAIT_MS)
    steps = shown.wall_steps
    print(
        f"{len(shown.stretches)} stretches; wall steps {min(steps):.3f}..{max(steps):.3f} s; "
        f"longest between two frames shown: {max(shown.within):.3f} s within a stretch, "
        f"{max(shown.switches):.3f} s at a switch"
    )
    assert shown.media_errors == []
    # 5 fps: a frame every 0.2 s, the clock read when the browser calls back. Going on from
    # the keyframe before a stretch's end would step back by up to its 2 s GOP; starting the
    # next one a segment late would jump 2 s ahead.
    assert min(steps) > -0.15, (shown.stretches, steps)
    assert max(steps) < 1.0, (shown.stretches, steps)
    # Each stretch begins on the wall clock where the one before it ended.
    for stretch, wall in shown.first_walls.items():
        assert abs(wall - datetime.fromisoformat(stretch).timestamp()) < 0.3, shown.first_walls
    assert max(shown.switches) < 1.5, shown.switches  # the figure is bench/stretches.py's


@pytest.mark.skipif(not HAS_PLAYBACK, reason="GET .../playback is built on branch i15-playback")
def test_the_player_at_the_end_of_the_recording_goes_on_as_it_grows(
    box: Box, admin_page: Page
) -> None:
    """Played from 1 s before the newest segment's end, the player reaches the end of what is
    recorded (the stretch after it, asked for at once, had nothing yet), says so, and goes on
    with what the recorder writes after, from where it stopped."""
    page = admin_page
    newest = _end(box.recordings(CAM_A)[0])
    page.goto(box.daemon.url + "/#/system")
    shown = play_in_stretches(
        page, CAM_A, newest - timedelta(seconds=1), seconds=2, stretches=3, timeout_ms=WAIT_MS
    )
    assert shown.media_errors == []
    assert any(line.startswith("Played up to") for line in shown.said), shown.said
    # Stretches recorded after the play began, each from where the one before it ended.
    assert datetime.fromisoformat(shown.stretches[-1]) > newest, (newest, shown.stretches)
    assert min(shown.wall_steps) > -0.15 and max(shown.wall_steps) < 1.0, shown.wall_steps
    for stretch, wall in shown.first_walls.items():
        assert abs(wall - datetime.fromisoformat(stretch).timestamp()) < 0.3, shown.first_walls


@pytest.mark.skipif(not HAS_PLAYBACK, reason="GET .../playback is built on branch i15-playback")
def test_the_player_goes_on_past_a_gap_longer_than_a_stretch_and_says_so(
    box: Box, admin_page: Page, cam_b_gap: float
) -> None:
    """The stretch after the one that ends where cam-b was stopped finds nothing recorded for
    its length (the gap is longer): the player goes on from the next recording after it, and
    tells the gap it skipped, with the reason the segment before it ended."""
    page = admin_page
    until(
        "4 s recorded after the restart",
        lambda: any(_end(r).timestamp() > cam_b_gap + 4 for r in box.recordings(CAM_B)),
    )
    rows = sorted(box.recordings(CAM_B), key=lambda r: r["start"])
    before, after = next(
        (a, b)
        for a, b in itertools.pairwise(rows)
        if (datetime.fromisoformat(b["start"]) - _end(a)).total_seconds() > 3
    )
    gap_s = (datetime.fromisoformat(after["start"]) - _end(before)).total_seconds()
    page.goto(box.daemon.url + "/#/system")
    shown = play_in_stretches(
        page, CAM_B, _end(before) - timedelta(seconds=3.5), seconds=2, stretches=3,
        timeout_ms=WAIT_MS,
    )  # fmt: skip
    assert shown.media_errors == []
    # One step over the gap, on from the first recording after it; none back.
    assert after["start"] in shown.stretches, shown.stretches
    jumps = [step for step in shown.wall_steps if step > 1.0]
    assert len(jumps) == 1 and jumps[0] == pytest.approx(gap_s, abs=0.5), shown.wall_steps
    assert min(shown.wall_steps) > -0.15, shown.wall_steps
    reason = before["end_reason"]
    at = _end(before).astimezone(UTC).strftime("%H:%M:%S")
    expect(page.get_by_role("list", name="Skipped gaps").get_by_role("listitem")).to_have_text(
        [f"skipped 00:00:{round(gap_s):02d} gap ({reason}) at {at}"]
    )


def test_export_a_range_download_and_share_it(box: Box, admin_page: Page, tmp_path: Path) -> None:
    page = admin_page
    segments = sorted(box.recordings(CAM_A), key=lambda r: r["start"])[-4:-1]
    start = datetime.fromisoformat(segments[0]["start"]).astimezone(UTC)
    end = datetime.fromisoformat(segments[-1]["end"]).astimezone(UTC)
    page.goto(box.daemon.url + f"/#/camera/{CAM_A}")
    page.get_by_label("From", exact=True).fill(start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("To", exact=True).fill(end.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("To", exact=True).dispatch_event("change")
    expect(page.locator(".timeline .track .range")).to_have_count(1)
    page.get_by_role("button", name="Export").click()
    download_link = page.get_by_role("link", name="Download")
    expect(download_link).to_be_visible()
    expect(page.locator(".export-status")).to_contain_text("done")
    box.shoot(page, "04-export")
    with page.expect_download() as info:
        download_link.click()
    saved = tmp_path / "export.mp4"
    info.value.save_as(saved)
    probe = subprocess.run(
        ["/usr/bin/ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json",
         str(saved)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    duration = float(json.loads(probe.stdout)["format"]["duration"])
    assert duration > 2, duration

    page.get_by_role("button", name="Share").click()
    url = page.get_by_label("Shareable link", exact=True).input_value()
    assert url.startswith(box.daemon.url + "/api/v1/links/")
    shared = request("GET", url, timeout_s=30)  # no credentials
    assert shared.status == 200 and shared.body[4:8] == b"ftyp"
    box.shoot(page, "05-share")


def test_the_event_feed_receives_a_live_event(box: Box, admin_page: Page) -> None:
    page = admin_page
    page.get_by_role("link", name="Events").click()
    page.get_by_label("Type", exact=True).select_option("recorder_restart_requested")
    page.get_by_label("Camera", exact=True).select_option(CAM_A)
    expect(page.locator(".page[data-live='open']")).to_have_count(1)
    before = page.locator("li.event").count()
    box.call("POST", f"/api/v1/cameras/{CAM_A}/restart")
    expect(page.locator("li.event")).to_have_count(before + 1)
    newest = page.locator("li.event").first
    expect(newest).to_contain_text("recorder_restart_requested")
    expect(newest).to_contain_text(CAM_A)
    box.shoot(page, "06-events")


def test_the_system_page(box: Box, admin_page: Page) -> None:
    page = admin_page
    page.get_by_role("link", name="System").click()
    expect(page.get_by_role("region", name="CPU")).to_contain_text("%")
    expect(page.get_by_role("region", name="Memory")).to_contain_text("used of")
    cameras = page.get_by_role("region", name="Cameras by state")
    expect(cameras).to_contain_text("online")
    storage = page.locator("table", has=page.locator("caption", has_text="Storage paths"))
    expect(storage).to_contain_text(str(box.daemon.directory / "recordings"))
    days = storage.locator("tbody tr").first.locator("td").nth(4)
    expect(days).to_have_text(re.compile(r"^(\d+\.\d days|nothing records there)$"))
    components = page.locator("table", has=page.locator("caption", has_text="Components"))
    expect(components).to_contain_text("database")
    box.shoot(page, "07-system")


def test_admin_pages_users_tokens_cameras(box: Box, admin_page: Page) -> None:
    page = admin_page
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="Users").click()
    expect(page.locator("tr[data-user='vera']")).to_be_visible()
    form = page.get_by_role("form", name="New user")
    form.get_by_label("Name", exact=True).fill("gwen")
    form.get_by_label("Role", exact=True).select_option("operator")
    form.get_by_label("New password", exact=True).fill("tall-pine-lantern-5531")
    form.get_by_label("Cameras", exact=True).fill(CAM_A)
    form.get_by_role("button", name="Create user").click()
    expect(page.locator("tr[data-user='gwen']")).to_contain_text("operator")
    page.get_by_role("button", name="Disable gwen").click()
    expect(page.locator("tr[data-user='gwen'] td").nth(3)).to_have_text("no")
    box.shoot(page, "08-users")
    page.get_by_role("button", name="Delete gwen").click()
    expect(page.locator("tr[data-user='gwen']")).to_have_count(0)
    assert "gwen" not in {u["name"] for u in box.call("GET", "/api/v1/users")}

    page.get_by_role("link", name="Tokens").click()
    form = page.get_by_role("form", name="New token")
    form.get_by_label("Name", exact=True).fill("nightly")
    form.get_by_label("Role", exact=True).select_option("viewer")
    form.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token secret", exact=True).input_value()
    me = box.daemon.request("GET", "/api/v1/auth/me", token=secret, timeout_s=30)
    assert me.ok()["name"] == "nightly"
    box.shoot(page, "09-tokens")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke nightly").click()
    expect(page.get_by_role("button", name="Revoke nightly")).to_have_count(0)
    assert box.daemon.request("GET", "/api/v1/auth/me", token=secret, timeout_s=30).status == 401

    page.get_by_role("link", name="Manage cameras").click()
    expect(page.locator(f"tr[data-camera='{CAM_A}']")).to_contain_text("read-only")
    expect(page.get_by_role("button", name=f"Edit {CAM_B}")).to_be_visible()
    page.get_by_role("button", name="New camera").click()
    form = page.get_by_role("form", name="New camera")
    form.get_by_label("Name", exact=True).fill("cam-c")
    form.get_by_label("Source", exact=True).fill("test://?size=160x120&fps=5")
    form.get_by_label("Record", exact=True).uncheck()
    add = form.get_by_role("button", name="Add camera")
    expect(add).to_be_disabled()  # probe first
    form.get_by_role("button", name="Probe").click()
    expect(form).to_contain_text("Readable")
    add.click()
    row = page.locator("tr[data-camera='cam-c']")
    expect(row).to_contain_text("api")
    page.get_by_role("button", name="Edit cam-c").click()
    edit = page.get_by_role("form", name="Edit cam-c")
    edit.get_by_label("Location", exact=True).fill("loading bay")
    edit.get_by_role("button", name="Save").click()
    saved = lambda: box.call("GET", "/api/v1/cameras/cam-c")["location"] == "loading bay"  # noqa: E731
    until("the edit saved", saved)
    page.get_by_role("button", name="Disable cam-c").click()
    expect(row.locator("td").nth(3)).to_have_text("no")
    assert box.call("GET", "/api/v1/cameras/cam-c")["enabled"] is False
    box.shoot(page, "10-admin-cameras")
    box.call("DELETE", "/api/v1/cameras/cam-c")


def test_a_viewer_of_one_camera_by_keyboard_on_a_phone(box: Box, browser: Browser) -> None:
    box.problems.clear()
    page = new_page(box, browser, viewport={"width": 390, "height": 844}, has_touch=True)
    page.goto(box.daemon.url + "/")
    expect(page.get_by_label("Username", exact=True)).to_be_focused()
    page.keyboard.type("vera")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator(f"article[data-camera='{CAM_A}']")).to_be_visible()
    expect(page.locator("article.tile")).to_have_count(1)
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link")).to_have_text(["Cameras", "Events", "System"])
    tile = rect(page.locator("article.tile").first)
    assert tile["width"] <= 390
    box.shoot(page, "11-viewer-phone")

    # Tab reaches the camera's link; Enter opens it.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == CAM_A:
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=CAM_A, level=1)).to_be_visible()
    expect(page.get_by_text("Exporting a range needs the operator role")).to_be_visible()
    box.shoot(page, "12-viewer-camera-phone")

    page.goto(box.daemon.url + f"/#/camera/{CAM_B}")
    expect(page.get_by_role("alert")).to_contain_text("no camera")
    page.goto(box.daemon.url + "/#/admin/users")
    expect(page.get_by_role("alert")).to_contain_text("admins only")
    status = page.evaluate("fetch('/api/v1/users').then((r) => r.status)")
    assert status == 403
    box.shoot(page, "13-viewer-refused")
    page.context.close()
    assert box.problems == []
