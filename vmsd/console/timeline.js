// The timeline of one camera: recorded spans and the gaps between them, coloured by the reason
// the span before the gap ended (the timeline API's end_reason). Zoom from a week to a minute;
// move by drag, wheel, the buttons or the keyboard; a click (or Enter) plays from that point.
import { get, query, cameraPath } from "./api.js";
import { h, replace, formatTime } from "./dom.js";

export const ZOOMS = [
  [604800, "Week"], [259200, "3 days"], [86400, "Day"], [21600, "6 hours"], [10800, "3 hours"],
  [3600, "Hour"], [1800, "30 minutes"], [600, "10 minutes"], [300, "5 minutes"], [60, "Minute"],
];
const DRAG_PX = 4;

export class Timeline {
  constructor(camera, { onPick, onRange }) {
    this.camera = camera;
    this.onPick = onPick;
    this.onRange = onRange;
    this.zoom = 5; // an hour
    this.cursor = Date.now();
    this.end = this.liveEdge();
    this.playhead = null;
    this.range = null;
    this.spans = [];
    this.skipped = []; // gaps the player skipped: {start, end, seconds, reason}, epoch ms
    this.fetchTimer = null;
    this.track = h("div", { class: "track" });
    this.axis = h("div", { class: "axis", "aria-hidden": "true" });
    this.status = h("p", { class: "muted", "aria-live": "polite" });
    this.el = h("div", {
      class: "timeline", tabindex: "0", role: "slider", "aria-label": "Timeline",
      "aria-describedby": "timeline-help",
    }, this.track, this.axis);
    this.bind();
  }

  get span() { return ZOOMS[this.zoom][0] * 1000; }
  get start() { return this.end - this.span; }

  x(ms) { return ((ms - this.start) / this.span) * 100; }
  timeAt(clientX) {
    const box = this.track.getBoundingClientRect();
    return this.start + ((clientX - box.left) / box.width) * this.span;
  }

  // The right edge of a view that follows the wall clock: now, and a little room.
  liveEdge() { return Date.now() + this.span * 0.03; }

  // A view showing now stays at the live edge; any other zooms around `around`.
  setZoom(index, around = this.cursor) {
    const live = this.end >= Date.now();
    const frac = Math.max(0, Math.min(1, (around - this.start) / this.span));
    this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, index));
    this.end = live ? this.liveEdge() : around + (1 - frac) * this.span;
    this.changed();
  }

  showDay(dayStartMs, days = 1) {
    this.zoom = days >= 7 ? 0 : days >= 3 ? 1 : 2;
    this.end = dayStartMs + this.span;
    this.cursor = dayStartMs;
    this.changed();
  }

  pan(ms) { this.end += ms; this.changed(); }
  toNow() { this.end = this.liveEdge(); this.cursor = Date.now(); this.changed(); }

  moveCursor(ms) {
    this.cursor += ms;
    if (this.cursor < this.start) this.end -= this.start - this.cursor;
    if (this.cursor > this.end) this.end = this.cursor;
    this.changed();
  }

  bind() {
    let down = null;
    this.track.addEventListener("pointerdown", (e) => {
      down = { x: e.clientX, end: this.end, dragging: false };
      this.track.setPointerCapture(e.pointerId);
    });
    this.track.addEventListener("pointermove", (e) => {
      if (!down) return;
      const dx = e.clientX - down.x;
      if (Math.abs(dx) > DRAG_PX) down.dragging = true;
      if (down.dragging) {
        const perPx = this.span / this.track.getBoundingClientRect().width;
        this.end = down.end - dx * perPx;
        this.changed();
      }
    });
    this.track.addEventListener("pointerup", (e) => {
      const was = down;
      down = null;
      if (!was || was.dragging) return;
      const t = this.timeAt(e.clientX);
      if (e.shiftKey) { this.select(Math.min(this.cursor, t), Math.max(this.cursor, t)); return; }
      this.cursor = t;
      this.changed();
      this.onPick(t);
    });
    this.track.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.setZoom(this.zoom + (e.deltaY < 0 ? 1 : -1), this.timeAt(e.clientX));
    }, { passive: false });
    this.el.addEventListener("keydown", (e) => this.key(e));
  }

  key(e) {
    const step = this.span / (e.shiftKey ? 10 : 50);
    const keys = {
      ArrowLeft: () => this.moveCursor(-step),
      ArrowRight: () => this.moveCursor(step),
      PageUp: () => this.pan(-this.span / 2),
      PageDown: () => this.pan(this.span / 2),
      "+": () => this.setZoom(this.zoom + 1),
      "=": () => this.setZoom(this.zoom + 1),
      "-": () => this.setZoom(this.zoom - 1),
      Home: () => this.toNow(),
      Enter: () => this.onPick(this.cursor),
      " ": () => this.onPick(this.cursor),
      "[": () => this.select(this.cursor, this.range ? Math.max(this.range.end, this.cursor + 1000) : this.cursor + 60000),
      "]": () => this.select(this.range ? Math.min(this.range.start, this.cursor - 1000) : this.cursor - 60000, this.cursor),
    };
    const action = keys[e.key];
    if (action) { e.preventDefault(); action(); }
  }

  select(start, end) {
    this.range = { start, end };
    this.onRange(this.range);
    this.draw();
  }

  setPlayhead(ms) { this.playhead = ms; this.draw(); }
  setSkipped(gaps) { this.skipped = gaps; this.draw(); }

  changed() {
    this.draw();
    clearTimeout(this.fetchTimer);
    this.fetchTimer = setTimeout(() => this.load(), 150);
  }

  async load() {
    const start = new Date(this.start - this.span / 2);
    const end = new Date(Math.min(this.end + this.span / 2, Date.now() + 60000));
    if (end <= start) { this.spans = []; this.draw(); return; }
    try {
      const t = await get(`${cameraPath(this.camera)}/timeline${query({ start: start.toISOString(), end: end.toISOString() })}`);
      this.spans = t.spans;
      const n = t.spans.length;
      replace(this.status, `${n} recorded span${n === 1 ? "" : "s"} in and around this view`);
    } catch (err) {
      replace(this.status, `Timeline unavailable: ${err.message}`);
    }
    this.draw();
  }

  block(cls, from, to, title) {
    const left = Math.max(0, this.x(from));
    const right = Math.min(100, this.x(to));
    if (right <= 0 || left >= 100 || right <= left) return null;
    const el = h("div", { class: cls, title });
    el.style.left = `${left}%`;
    el.style.width = `${Math.max(right - left, 0.15)}%`;
    return el;
  }

  draw() {
    const parts = [];
    this.spans.forEach((s, i) => {
      const from = Date.parse(s.start);
      const to = Date.parse(s.end);
      parts.push(this.block("span", from, to, `recorded ${formatTime(s.start)} – ${formatTime(s.end)} (${s.segments} segments)`));
      const next = this.spans[i + 1];
      if (next) {
        const gapEnd = Date.parse(next.start);
        const seconds = Math.round((gapEnd - to) / 1000);
        const gap = this.block(`gap gap-${s.end_reason}`, to, gapEnd, `gap of ${seconds} s: ${s.end_reason}`);
        if (gap) { gap.dataset.reason = s.end_reason; parts.push(gap); }
      }
    });
    this.skipped.forEach((g) => {
      const mark = this.block("skipped", g.start, g.end, `skipped in playback: ${Math.round(g.seconds)} s, ${g.reason}`);
      if (mark) { mark.dataset.reason = g.reason; parts.push(mark); }
    });
    if (this.range) parts.push(this.block("range", this.range.start, this.range.end, "selected range"));
    const mark = (cls, t) => {
      const m = this.x(t);
      if (t === null || m < 0 || m > 100) return null;
      const el = h("div", { class: cls });
      el.style.left = `${m}%`;
      return el;
    };
    parts.push(mark("cursor", this.cursor), mark("playhead", this.playhead), mark("now", Date.now()));
    replace(this.track, parts.filter(Boolean));
    const ticks = [];
    for (let i = 0; i <= 4; i++) {
      const t = this.start + (this.span * i) / 4;
      const d = new Date(t);
      const label = this.span > 86400000
        ? d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false })
        : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: this.span <= 600000 ? "2-digit" : undefined, hour12: false });
      const tick = h("span", {}, label);
      tick.style.left = `${i * 25}%`;
      ticks.push(tick);
    }
    replace(this.axis, ticks);
    this.el.setAttribute("aria-valuetext", `cursor at ${formatTime(new Date(this.cursor))}, showing ${ZOOMS[this.zoom][1].toLowerCase()} until ${formatTime(new Date(this.end))}`);
  }
}
