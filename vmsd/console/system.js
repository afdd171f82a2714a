// The box: CPU, memory, each storage path's free space and days left (the storage API's
// days_until_low_watermark, at the current recording rate), cameras by state, and the
// components' readiness (MediaMTX, the database) from /readyz.
import { get } from "./api.js";
import { h, replace, onLeave, bytes, errorText } from "./dom.js";

const REFRESH_MS = 5000;

function table(caption, head, rows) {
  return h("table", {}, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

async function readiness() {
  // /readyz answers 503 with the same body when something is down.
  const response = await fetch("/readyz", { credentials: "same-origin" });
  const data = await response.json();
  if (!data.checks) throw new Error(data.error ? data.error.message : `readyz answered ${response.status}`);
  return data;
}

const pct = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} %`);

async function draw(box) {
  const [system, storage, cameras, ready] = await Promise.all([
    get("/api/v1/system"), get("/api/v1/storage"), get("/api/v1/cameras"),
    readiness().catch((err) => ({ status: errorText(err), checks: [] })),
  ]);
  const counts = {};
  for (const c of cameras) counts[c.state] = (counts[c.state] || 0) + 1;
  const days = (d) => (d === null ? "nothing records there" : `${d.toFixed(1)} days`);
  replace(box,
    h("div", { class: "cards" },
      h("section", { class: "card", "aria-label": "CPU" }, h("h2", {}, "CPU"),
        h("p", { class: "big" }, pct(system.cpu.percent)),
        h("p", { class: "muted" }, `${system.cpu.count} cores, load ${system.cpu.load_average.map((l) => l.toFixed(2)).join(" ")}`)),
      h("section", { class: "card", "aria-label": "Memory" }, h("h2", {}, "Memory"),
        h("p", { class: "big" }, pct(system.memory.percent)),
        h("p", { class: "muted" }, `${bytes(system.memory.used_bytes)} used of ${bytes(system.memory.total_bytes)}`)),
      h("section", { class: "card", "aria-label": "Cameras by state" }, h("h2", {}, "Cameras"),
        h("ul", {}, Object.entries(counts).map(([s, n]) => h("li", {}, h("span", { class: `state state-${s}` }, s), ` ${n}`))))),
    table("Storage paths", ["path", "free", "used", "total", "days left until the low watermark"],
      storage.paths.map((p) => [p.path, bytes(p.free_bytes), bytes(p.used_bytes), bytes(p.total_bytes), days(p.days_until_low_watermark)])),
    table(`Components: ${ready.status}`, ["component", "state", "detail"],
      ready.checks.map((c) => [c.name, c.ok ? "ok" : "failing", c.detail || ""])),
    h("p", { class: "muted" }, `vmsd ${system.version}; host up ${(system.uptime_seconds / 3600).toFixed(1)} h; sampled ${new Date(system.time).toLocaleTimeString(undefined, { hour12: false })}`));
}

export async function systemPage(root) {
  const box = h("div");
  replace(root, h("h1", {}, "System"), box);
  await draw(box);
  const timer = setInterval(() => draw(box).catch((err) => console.error(err)), REFRESH_MS);
  onLeave(() => clearInterval(timer));
}
