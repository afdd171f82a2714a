// The live event feed: the SSE stream with the session cookie (EventSource sends it), after
// the latest events from the history, filtered by camera and type.
import { get, query } from "./api.js";
import { h, replace, field, onLeave, formatTime } from "./dom.js";

const KEEP = 200;

function row(event) {
  const data = Object.entries(event.data || {}).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  return h("li", { class: "event", "data-type": event.type },
    h("time", { datetime: event.time }, formatTime(event.time)), " ",
    h("strong", {}, event.type), " ", event.camera ? h("span", { class: "cam" }, event.camera) : "", " ",
    h("span", { class: "muted" }, data));
}

async function eventTypes() {
  // The document names every type the API can send; no list is kept twice.
  const doc = await get("/api/v1/openapi.json");
  const type = doc.components.schemas.EventOut.properties.type;
  return type && type.enum ? type.enum : [];
}

export async function eventsPage(root) {
  const [cameras, types] = await Promise.all([get("/api/v1/cameras"), eventTypes()]);
  const camera = h("select", { name: "camera" }, h("option", { value: "" }, "every camera"), cameras.map((c) => h("option", { value: c.name }, c.name)));
  const type = h("select", { name: "type" }, h("option", { value: "" }, "every type"), types.map((t) => h("option", { value: t }, t)));
  const state = h("p", { class: "muted", "aria-live": "polite" });
  const list = h("ol", { class: "events", reversed: true });
  replace(root, h("h1", {}, "Events"), h("div", { class: "toolbar" }, field("Camera", camera), field("Type", type), state), list);

  let source = null;
  let generation = 0;
  async function open() {
    // A filter changed while the last one was opening: only the newest stream lives.
    const mine = ++generation;
    if (source) { source.close(); source = null; }
    root.dataset.live = "connecting";
    replace(state, "Live: connecting…");
    const filter = { camera: camera.value || undefined, type: type.value || undefined };
    const recent = await get(`/api/v1/events${query({ ...filter, limit: 50 })}`);
    if (mine !== generation) return;
    replace(list, recent.items.map(row));
    const stream = new EventSource(`/api/v1/events/stream${query(filter)}`, { withCredentials: true });
    source = stream;
    stream.addEventListener("open", () => { replace(state, "Live: connected"); root.dataset.live = "open"; });
    stream.addEventListener("error", () => { replace(state, "Live: reconnecting…"); root.dataset.live = "error"; });
    stream.addEventListener("message", (message) => {
      list.prepend(row(JSON.parse(message.data)));
      while (list.children.length > KEEP) list.lastChild.remove();
    });
  }
  camera.addEventListener("change", open);
  type.addEventListener("change", open);
  onLeave(() => { if (source) source.close(); });
  await open();
}
