// The recordings player: one camera from any moment, through the playback API, a stretch at a
// time. Each stretch runs on to the end of a segment (align=segment), so the stretch asked for
// from its end starts exactly there, on the next segment's first keyframe: nothing is played
// twice. That next stretch is loaded into a second <video>, stacked under the first and
// hidden, while the first plays its last PRELOAD_SECONDS; at `ended` the two swap, with no
// request to wait for. The wall clock follows each stretch's plan (clock.js) across the gaps
// it skips, and across a gap between two stretches; each skipped gap is told.
import { get, query, cameraPath } from "./api.js";
import { h, replace, formatTime, errorText } from "./dom.js";
import { readPlan, skippedBy, wallClock, playedOut, gapBetween, hms } from "./clock.js";

// How much one playback request asks for (it then runs on to its segment's end).
export const STRETCH_SECONDS = 600;
// How long before a stretch's end the next one is loaded.
const PRELOAD_SECONDS = 20;
// Played up to the recording's end: how often to look for what the recorder has written
// since, while that end is at most LIVE_EDGE_MS old.
const CATCH_UP_MS = 5000;
const LIVE_EDGE_MS = 3 * 60 * 1000;
// How many skipped gaps the list under the player keeps.
const SKIPPED_SHOWN = 5;

const iso = (ms) => new Date(ms).toISOString();

export function createPlayer(camera, { onPlayhead = () => {}, onSkipped = () => {}, stretchSeconds = STRETCH_SECONDS } = {}) {
  const screen = () => h("video", { controls: true, playsinline: true, preload: "auto", "aria-label": `${camera} recording` });
  const videos = [screen(), screen()];
  const status = h("p", { class: "muted", "aria-live": "polite" }, "Click the timeline (or press Enter on it) to play from that moment.");
  const clock = h("time", { class: "play-clock" }, "–");
  const skipped = h("ul", { class: "skipped-gaps", "aria-label": "Skipped gaps", "aria-live": "polite" });
  const shown = []; // the gaps told of, newest first, across stretches
  let active = null; // the stretch on screen: { video, from, plan, told, following }
  let asked = 0; // counts play(): what a stretch since replaced finishes late is dropped
  let retry = null;

  function show(front) {
    for (const video of videos) {
      const on = video === front;
      video.className = on ? "player" : "player-standby";
      video.setAttribute("aria-hidden", on ? "false" : "true");
      video.tabIndex = on ? 0 : -1;
    }
  }
  show(videos[0]);

  // `at`: an RFC 3339 time, as the API writes them (to the microsecond).
  const range = (at) => query({ start: at, duration: stretchSeconds, align: "segment" });
  const planOf = async (at) => readPlan(await get(`${cameraPath(camera)}/playback/plan${range(at)}`));
  function load(video, at) {
    video.src = `${cameraPath(camera)}/playback${range(at)}`;
    video.dataset.start = at;
    return { video, from: Date.parse(at), plan: null, told: 0, following: null };
  }
  function unload(video) {
    video.removeAttribute("src");
    delete video.dataset.start;
    video.load();
  }

  function tellSkipped(g) {
    if (shown.some((s) => s.start === g.start)) return; // seeking back and over it again
    shown.unshift(g);
    shown.length = Math.min(shown.length, SKIPPED_SHOWN);
    const at = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour12: false });
    replace(skipped, shown.map((s) => h("li", { "data-reason": s.reason }, `skipped ${hms(s.seconds)} gap (${s.reason}) at ${at(s.start)}`)));
    onSkipped([...shown]);
  }

  function follow(video) {
    if (active === null || video !== active.video || active.plan === null) return;
    const { plan } = active;
    const passed = skippedBy(plan, video.currentTime);
    passed.slice(active.told).forEach(tellSkipped);
    active.told = passed.length;
    const wall = wallClock(plan, video.currentTime);
    clock.dateTime = iso(wall);
    replace(clock, formatTime(new Date(wall)));
    onPlayhead(wall);
    // Its failure is told at `ended`, which awaits the same promise.
    if (plan.seconds - video.currentTime < PRELOAD_SECONDS) following(active).catch(() => {});
  }

  // The stretch after `s`, loaded into the hidden <video>: from s's end, or, when nothing is
  // recorded there for a stretch's length, from the next recording after it. Null when
  // nothing is recorded after it (yet). Asked once per stretch.
  function following(s) {
    s.following ??= (async () => {
      const mine = asked;
      let from = s.plan.endText;
      let plan;
      try {
        plan = await planOf(from);
      } catch (err) {
        if (err.code !== "nothing_recorded") throw err;
        const after = await get(`/api/v1/recordings${query({ camera, start: from, order: "asc", limit: 1 })}`);
        if (!after.items.length) return null;
        from = after.items[0].start; // the first segment ending after `from` starts after it
        plan = await planOf(from);
      }
      if (mine !== asked) return null;
      const next = load(videos.find((v) => v !== s.video), from);
      next.plan = plan;
      return next;
    })();
    return s.following;
  }

  function swap(old, next) {
    const gap = gapBetween(old.plan, next.plan);
    if (gap !== null) tellSkipped(gap);
    Object.assign(next.video, { muted: old.video.muted, volume: old.video.volume, playbackRate: old.video.playbackRate });
    active = next;
    show(next.video);
    next.video.play().catch(() => {});
    unload(old.video);
    follow(next.video);
  }

  async function ended(video) {
    const s = active;
    if (s === null || video !== s.video) return;
    if (s.plan === null) { replace(status, "This stretch ended before its plan came: click the timeline to go on."); return; }
    if (!playedOut(s.plan, video.currentTime)) {
      // Shorter than its plan (a file of it gone meanwhile): go on from where it stopped, on
      // the keyframe at or before that.
      play(wallClock(s.plan, video.currentTime));
      return;
    }
    let next;
    try {
      next = await following(s);
    } catch (err) {
      if (active === s) replace(status, `What comes after ${formatTime(new Date(s.plan.end))} could not be found: ${errorText(err)}`);
      return;
    }
    if (active !== s) return;
    if (next !== null && next.video.error !== null) {
      active = next; // its error is this player's now
      error(next.video);
      return;
    }
    if (next !== null) { swap(s, next); return; }
    const end = formatTime(new Date(s.plan.end));
    if (Date.now() - s.plan.end > LIVE_EDGE_MS) { replace(status, `Nothing is recorded after ${end}.`); return; }
    replace(status, `Played up to ${end}, the end of the recording: going on as the recorder writes more.`);
    s.following = null;
    retry = setTimeout(() => ended(video), CATCH_UP_MS);
  }

  function error(video) {
    if (active === null || video !== active.video) return; // the hidden one: told at its swap
    const code = video.error ? video.error.code : "?";
    if (code === MediaError.MEDIA_ERR_NETWORK && active.plan !== null && video.currentTime > 0) {
      // Broken off after playing (the server ends a stream left unread for its idle
      // timeout without HTTP's closing chunk): go on from where it stopped.
      const at = wallClock(active.plan, video.currentTime);
      play(at).then(() => replace(status, `The stream broke off at ${formatTime(new Date(at))}: playing on from there.`));
      return;
    }
    replace(status, `This moment could not be played (media error ${code}): no recording there, or playback is unavailable.`);
  }

  for (const video of videos) {
    video.addEventListener("timeupdate", () => follow(video));
    video.addEventListener("ended", () => ended(video));
    video.addEventListener("error", () => error(video));
  }

  async function play(ms) {
    const mine = ++asked;
    clearTimeout(retry);
    const front = active === null ? videos[0] : active.video;
    for (const video of videos) if (video !== front) unload(video);
    show(front);
    const at = iso(ms);
    const s = load(front, at);
    active = s;
    replace(status, `Playing from ${formatTime(new Date(ms))}`);
    front.play().catch(() => {});
    try {
      const plan = await planOf(at);
      if (mine === asked) { s.plan = plan; follow(front); }
    } catch (err) {
      if (mine === asked) replace(status, `Where this stream is on the clock is unknown: ${errorText(err)}`);
    }
  }

  return {
    el: h("section", { "aria-label": "Player" }, h("div", { class: "player-stack" }, videos), h("p", {}, "Playing at ", clock), status, skipped),
    play,
    now: () => (active === null ? null : active.plan === null ? active.from : wallClock(active.plan, active.video.currentTime)),
    stop() { asked++; clearTimeout(retry); videos.forEach(unload); active = null; },
  };
}
