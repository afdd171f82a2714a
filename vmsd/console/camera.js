// One camera: its states and live picture, the timeline, the player (player.js) that plays
// from any point, and a range to export, download and share.
import { get, post, cameraPath } from "./api.js";
import { h, replace, field, onLeave, formatTime, bytes, errorText } from "./dom.js";
import { livePicture } from "./live.js";
import { Timeline, ZOOMS } from "./timeline.js";
import { createPlayer } from "./player.js";

const EXPORT_POLL_MS = 1000;

function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function exportPanel(camera, timeline, current) {
  const from = h("input", { type: "datetime-local", step: "1", name: "from" });
  const to = h("input", { type: "datetime-local", step: "1", name: "to" });
  const status = h("div", { class: "export-status", "aria-live": "polite" });
  const exportButton = h("button", { type: "button" }, "Export");
  const markStart = h("button", { type: "button" }, "Start at playhead");
  const markEnd = h("button", { type: "button" }, "End at playhead");
  const set = (range) => { from.value = localInput(range.start); to.value = localInput(range.end); };
  const fromInputs = () => {
    const start = new Date(from.value).getTime();
    const end = new Date(to.value).getTime();
    if (Number.isFinite(start) && Number.isFinite(end) && end > start) timeline.select(start, end);
  };
  from.addEventListener("change", fromInputs);
  to.addEventListener("change", fromInputs);
  const at = () => current() ?? timeline.cursor;
  markStart.addEventListener("click", () => timeline.select(at(), Math.max(at() + 1000, timeline.range ? timeline.range.end : at() + 60000)));
  markEnd.addEventListener("click", () => timeline.select(Math.min(at() - 1000, timeline.range ? timeline.range.start : at() - 60000), at()));
  let polling = null;
  onLeave(() => clearTimeout(polling));

  async function share(job, box) {
    try {
      const link = await post(`/api/v1/exports/${job.id}/link`, { expires_in: "1h" });
      const url = h("input", { readonly: true, value: link.url, class: "link", "aria-label": "Shareable link" });
      replace(box, field(`Link (until ${formatTime(link.expires_at)})`, url));
      url.select();
    } catch (err) {
      replace(box, h("p", { class: "error", role: "alert" }, errorText(err)));
    }
  }

  function show(job) {
    const bar = h("progress", { max: "1", value: String(job.progress), "aria-label": "Export progress" });
    const line = [`Export ${job.id}: ${job.state}`, job.state === "done" ? ` (${bytes(job.bytes)})` : ""];
    const parts = [h("p", {}, line.join("")), bar];
    if (job.gaps && job.gaps.length) parts.push(h("p", { class: "muted" }, `${job.gaps.length} gap(s) with no recording in the range`));
    if (job.error) parts.push(h("p", { class: "error" }, job.error));
    if (job.state === "done") {
      const shareBox = h("div");
      const shareButton = h("button", { type: "button" }, "Share");
      shareButton.addEventListener("click", () => share(job, shareBox));
      parts.push(h("p", {}, h("a", { href: `/api/v1/exports/${job.id}/download`, download: "", class: "button" }, "Download"), " ", shareButton), shareBox);
    }
    replace(status, parts);
  }

  async function poll(id) {
    try {
      const job = await get(`/api/v1/exports/${id}`);
      show(job);
      if (job.state === "queued" || job.state === "running") polling = setTimeout(() => poll(id), EXPORT_POLL_MS);
    } catch (err) {
      replace(status, h("p", { class: "error", role: "alert" }, errorText(err)));
    }
  }

  exportButton.addEventListener("click", async () => {
    if (!timeline.range) {
      replace(status, h("p", { class: "error", role: "alert" }, "Select a range first: shift-click the timeline, press [ and ], or fill From and To."));
      return;
    }
    try {
      const job = await post("/api/v1/exports", {
        camera, start: new Date(timeline.range.start).toISOString(), end: new Date(timeline.range.end).toISOString(),
      });
      show(job);
      poll(job.id);
    } catch (err) {
      replace(status, h("p", { class: "error", role: "alert" }, errorText(err)));
    }
  });
  const el = h("section", { class: "export", "aria-label": "Export" }, h("h2", {}, "Export a range"),
    h("div", { class: "row" }, field("From", from), field("To", to)),
    h("div", { class: "row" }, markStart, markEnd, exportButton), status);
  return { el, set };
}

export async function cameraPage(root, name, me) {
  let camera;
  try {
    camera = await get(cameraPath(name));
  } catch (err) {
    replace(root, h("h1", {}, name), h("p", { role: "alert", class: "error" }, errorText(err)));
    return;
  }
  const picture = h("div", { class: "picture small" });
  onLeave(livePicture(picture, name));
  const info = h("dl", { class: "states" },
    h("dt", {}, "State"), h("dd", { class: `state state-${camera.state}` }, camera.state),
    h("dt", {}, "Why"), h("dd", {}, camera.state_reason || "–"),
    h("dt", {}, "Recorder"), h("dd", {}, camera.recorder.state),
    h("dt", {}, "Last error"), h("dd", {}, camera.last_error ? `${camera.last_error.class}: ${camera.last_error.message}` : "none"));

  let exporter = null;
  let play = () => {};
  const timeline = new Timeline(name, { onPick: (t) => play(t), onRange: (r) => exporter && exporter.set(r) });
  const p = createPlayer(name, { onPlayhead: (ms) => timeline.setPlayhead(ms), onSkipped: (gaps) => timeline.setSkipped(gaps) });
  onLeave(() => p.stop());
  play = p.play;
  exporter = exportPanel(name, timeline, p.now);

  const zoom = h("select", { name: "zoom" }, ZOOMS.map(([, label], i) => h("option", { value: i }, label)));
  zoom.value = String(timeline.zoom);
  zoom.addEventListener("change", () => timeline.setZoom(Number(zoom.value)));
  const day = h("input", { type: "date", name: "day" });
  day.addEventListener("change", () => { if (day.value) timeline.showDay(new Date(`${day.value}T00:00:00`).getTime()); });
  const button = (label, fn) => { const b = h("button", { type: "button" }, label); b.addEventListener("click", fn); return b; };
  const sync = () => { zoom.value = String(timeline.zoom); };
  timeline.el.addEventListener("keydown", sync);
  timeline.el.addEventListener("wheel", sync);

  const legend = h("ul", { class: "legend", "aria-label": "Legend" },
    ["recorded", "source_lost", "recorder_crashed", "recorder_stopped", "recovered", "segment_complete"].map((k) =>
      h("li", {}, h("span", { class: k === "recorded" ? "swatch span" : `swatch gap gap-${k}` }), k === "recorded" ? "recorded" : `gap: ${k}`)));

  replace(root,
    h("div", { class: "camera-head" }, h("div", {}, h("h1", {}, name), info), picture),
    h("section", { "aria-label": "Timeline controls", class: "toolbar" },
      field("Zoom", zoom), field("Day", day),
      button("Zoom in", () => { timeline.setZoom(timeline.zoom + 1); sync(); }),
      button("Zoom out", () => { timeline.setZoom(timeline.zoom - 1); sync(); }),
      button("Earlier", () => timeline.pan(-timeline.span / 2)),
      button("Later", () => timeline.pan(timeline.span / 2)),
      button("Now", () => timeline.toNow())),
    timeline.el,
    h("p", { id: "timeline-help", class: "muted small" },
      "Click to play from a moment; drag or PageUp/PageDown to move; wheel or +/− to zoom; arrows move the cursor, Enter plays, [ and ] mark a range, shift-click selects one."),
    legend, timeline.status, p.el,
    me.role === "viewer" ? h("p", { class: "muted" }, "Exporting a range needs the operator role.") : exporter.el);
  timeline.changed();
  const refresh = setInterval(() => timeline.load(), 10000);
  onLeave(() => clearInterval(refresh));
}
