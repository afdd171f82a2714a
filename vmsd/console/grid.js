// The camera grid: 1, 4, 9 or 16 tiles a page, each with its live picture and states.
import { get } from "./api.js";
import { h, replace, field, onLeave, formatTime } from "./dom.js";
import { livePicture } from "./live.js";

const SIZES = [1, 4, 9, 16];
const REFRESH_MS = 5000;
let perPage = Number(localStorage.getItem("vmsd.perPage")) || 4;
let pageIndex = 0;

function stateLines(camera) {
  const recorder = camera.recorder ? camera.recorder.state : "stopped";
  const error = camera.last_error ? camera.last_error.class : "none";
  return [
    h("dt", {}, "State"), h("dd", { class: `state state-${camera.state}` }, camera.state),
    h("dt", {}, "Why"), h("dd", {}, camera.state_reason || "–"),
    h("dt", {}, "Recorder"), h("dd", {}, recorder),
    h("dt", {}, "Last error"), h("dd", { title: camera.last_error ? `${camera.last_error.message} (${formatTime(camera.last_error.at)})` : "" }, error),
  ];
}

function tile(camera, stops) {
  const picture = h("div", { class: "picture" });
  stops.push(livePicture(picture, camera.name));
  const states = h("dl", { class: "states" }, stateLines(camera));
  const el = h("article", { class: "tile", "data-camera": camera.name },
    h("h2", {}, h("a", { href: `#/camera/${encodeURIComponent(camera.name)}` }, camera.name)),
    picture, states);
  return { el, states };
}

export async function camerasPage(root) {
  const size = h("select", { name: "per-page" }, SIZES.map((n) =>
    h("option", { value: n, selected: n === perPage }, `${n}`)));
  const prev = h("button", { type: "button" }, "Previous");
  const next = h("button", { type: "button" }, "Next");
  const where = h("span", { class: "muted", "aria-live": "polite" });
  const grid = h("div", { class: "grid", role: "list" });
  replace(root, h("div", { class: "toolbar" }, h("h1", {}, "Cameras"), field("Per page", size), prev, where, next), grid);

  let cameras = await get("/api/v1/cameras");
  let stops = [];
  let tiles = new Map();
  const stopAll = () => { stops.forEach((s) => s()); stops = []; };
  onLeave(stopAll);

  function draw() {
    stopAll();
    tiles = new Map();
    const pages = Math.max(1, Math.ceil(cameras.length / perPage));
    pageIndex = Math.min(pageIndex, pages - 1);
    const shown = cameras.slice(pageIndex * perPage, (pageIndex + 1) * perPage);
    grid.dataset.size = String(perPage);
    replace(grid, shown.map((c) => {
      const t = tile(c, stops);
      t.el.setAttribute("role", "listitem");
      tiles.set(c.name, t);
      return t.el;
    }));
    if (cameras.length === 0) grid.append(h("p", {}, "No camera to show."));
    replace(where, `page ${pageIndex + 1} of ${pages} (${cameras.length} cameras)`);
    prev.disabled = pageIndex === 0;
    next.disabled = pageIndex >= pages - 1;
  }
  size.addEventListener("change", () => {
    perPage = Number(size.value);
    localStorage.setItem("vmsd.perPage", String(perPage));
    draw();
  });
  prev.addEventListener("click", () => { pageIndex--; draw(); });
  next.addEventListener("click", () => { pageIndex++; draw(); });
  draw();

  // States refresh in place; the pictures go on undisturbed.
  const timer = setInterval(async () => {
    try {
      const fresh = await get("/api/v1/cameras");
      const same = fresh.map((c) => c.name).join() === cameras.map((c) => c.name).join();
      cameras = fresh;
      if (!same) { draw(); return; }
      for (const c of fresh) {
        const t = tiles.get(c.name);
        if (t) replace(t.states, stateLines(c));
      }
    } catch (err) { console.error(err); }
  }, REFRESH_MS);
  onLeave(() => clearInterval(timer));
}
