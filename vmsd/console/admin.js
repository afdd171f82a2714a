// Admin pages: users, tokens, cameras. The API refuses these to anyone but an admin anyway;
// the console only hides them from the others.
import { get, post, patch, del, cameraPath } from "./api.js";
import { h, replace, field, formatTime, errorText } from "./dom.js";

const ROLES = ["viewer", "operator", "admin"];
const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function alertBox() { return h("div", { role: "alert", "aria-live": "assertive" }); }
function fail(box, err) { replace(box, h("p", { class: "error" }, errorText(err))); }
function ok(box, text) { replace(box, h("p", { class: "ok" }, text)); }
function button(label, fn, attrs = {}) {
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", fn);
  return b;
}
function roleSelect(name) { return h("select", { name }, ROLES.map((r) => h("option", { value: r }, r))); }

function table(caption, head, rows) {
  return h("div", { class: "scroll" }, h("table", {}, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows)));
}

// --- users ---

export async function usersPage(root) {
  const message = alertBox();
  const body = h("div");
  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const role = roleSelect("role");
  const password = h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" });
  const cameras = h("input", { name: "cameras", placeholder: "* or names, group:<name>" });
  const form = h("form", { class: "inline", "aria-label": "New user" }, h("h2", {}, "New user"),
    field("Name", name), field("Role", role), field("New password", password), field("Cameras", cameras),
    h("button", { type: "submit" }, "Create user"));
  async function load() {
    const users = await get("/api/v1/users");
    replace(body, table("Users", ["name", "role", "cameras", "enabled", "last login", ""], users.map((u) =>
      h("tr", { "data-user": u.name }, h("td", {}, u.name), h("td", {}, u.role), h("td", {}, u.cameras.join(", ") || "none"),
        h("td", {}, u.enabled ? "yes" : "no"), h("td", {}, u.last_login_at ? formatTime(u.last_login_at) : "never"),
        h("td", { class: "actions" },
          button(u.enabled ? "Disable" : "Enable", async () => {
            try { await patch(`/api/v1/users/${encodeURIComponent(u.name)}`, { enabled: !u.enabled }); ok(message, `${u.name} ${u.enabled ? "disabled" : "enabled"}`); await load(); } catch (err) { fail(message, err); }
          }, { "aria-label": `${u.enabled ? "Disable" : "Enable"} ${u.name}` }),
          button("Delete", async () => {
            if (!confirm(`Delete user ${u.name} and end its sessions?`)) return;
            try { await del(`/api/v1/users/${encodeURIComponent(u.name)}`); ok(message, `${u.name} deleted`); await load(); } catch (err) { fail(message, err); }
          }, { "aria-label": `Delete ${u.name}`, class: "danger" }))))));
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const wanted = { name: name.value, role: role.value, password: password.value };
    if (cameras.value.trim()) wanted.cameras = list(cameras.value);
    try { await post("/api/v1/users", wanted); ok(message, `${name.value} created`); form.reset(); await load(); } catch (err) { fail(message, err); }
  });
  replace(root, h("h1", {}, "Users"), message, body, form);
  await load();
}

// --- tokens ---

export async function tokensPage(root) {
  const message = alertBox();
  const body = h("div");
  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const role = roleSelect("role");
  const cameras = h("input", { name: "cameras", value: "*" });
  const form = h("form", { class: "inline", "aria-label": "New token" }, h("h2", {}, "New token"),
    field("Name", name), field("Role", role), field("Cameras", cameras), h("button", { type: "submit" }, "Create token"));
  async function load() {
    const tokens = await get("/api/v1/tokens");
    replace(body, table("Tokens", ["id", "name", "role", "cameras", "created", ""], tokens.map((t) =>
      h("tr", {}, h("td", {}, t.id), h("td", {}, t.name), h("td", {}, t.role), h("td", {}, t.cameras.join(", ")),
        h("td", {}, formatTime(t.created_at)),
        h("td", { class: "actions" }, button("Revoke", async () => {
          if (!confirm(`Revoke token ${t.name}? It stops working at once.`)) return;
          try { await del(`/api/v1/tokens/${t.id}`); ok(message, `${t.name} revoked`); await load(); } catch (err) { fail(message, err); }
        }, { "aria-label": `Revoke ${t.name}`, class: "danger" }))))));
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await post("/api/v1/tokens", { name: name.value, role: role.value, cameras: list(cameras.value) });
      const secret = h("input", { readonly: true, value: made.token, class: "link", "aria-label": "Token secret" });
      replace(message, h("p", { class: "ok" }, `Token ${made.name} created. Copy its secret now: it is not shown again.`), secret);
      secret.select();
      form.reset();
      await load();
    } catch (err) { fail(message, err); }
  });
  replace(root, h("h1", {}, "Tokens"), message, body, form);
  await load();
}

// --- cameras ---

function probeSummary(p) {
  if (!p.ok) return `Not readable: ${p.failure ? `${p.failure.class}: ${p.failure.message}` : "unknown failure"}`;
  const v = p.video;
  const video = v ? `${v.codec} ${v.width || "?"}×${v.height || "?"} at ${v.fps ? v.fps.toFixed(1) : "?"} fps` : "no video";
  const how = p.recording ? `; recorded ${p.recording.mode} as ${p.recording.format}` : "";
  return `Readable (${p.via}): ${video}${how}${p.note ? `. ${p.note}` : ""}`;
}

function cameraForm(message, existing, done) {
  const name = h("input", { name: "name", required: true, readonly: existing ? true : false, value: existing ? existing.name : "" });
  const source = h("input", { name: "source", required: true, value: existing ? existing.source : "", placeholder: "rtsp://host/path" });
  const username = h("input", { name: "username", autocomplete: "off", value: existing && existing.username ? existing.username : "" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", placeholder: existing && existing.has_password ? "(unchanged)" : "" });
  const description = h("input", { name: "description", value: existing ? existing.description : "" });
  const location = h("input", { name: "location", value: existing ? existing.location : "" });
  const groups = h("input", { name: "groups", value: existing ? existing.groups.join(", ") : "" });
  const record = h("input", { type: "checkbox", name: "record", checked: existing ? existing.record : true });
  const verdict = h("p", { class: "muted", "aria-live": "polite" }, existing ? "" : "Probe the source before adding it.");
  const save = h("button", { type: "submit", disabled: !existing }, existing ? "Save" : "Add camera");
  const credentials = () => {
    const c = {};
    if (username.value) c.username = username.value;
    if (password.value) c.password = password.value;
    return c;
  };
  const probe = button("Probe", async () => {
    replace(verdict, "Probing…");
    try {
      const p = existing && !source.value.includes("***") && source.value === existing.source && !password.value
        ? await post(`${cameraPath(existing.name)}/probe`)
        : await post("/api/v1/probe", { source: source.value, ...credentials() });
      replace(verdict, probeSummary(p));
      save.disabled = false;
    } catch (err) { fail(verdict, err); }
  });
  const form = h("form", { class: "inline", "aria-label": existing ? `Edit ${existing.name}` : "New camera" },
    h("h2", {}, existing ? `Edit ${existing.name}` : "New camera"),
    field("Name", name), field("Source", source), field("Username", username), field("Password", password),
    field("Description", description), field("Location", location), field("Groups", groups),
    field("Record", record),
    h("div", { class: "row" }, probe, save), verdict);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const wanted = {
      source: source.value, description: description.value, location: location.value,
      groups: list(groups.value), record: record.checked, ...credentials(),
    };
    if (!username.value && existing && existing.username) wanted.username = null;
    try {
      if (existing) {
        const changed = Object.fromEntries(Object.entries(wanted).filter(([k, v]) =>
          JSON.stringify(v) !== JSON.stringify(existing[k]) && !(k === "source" && v === existing.source)));
        await patch(cameraPath(existing.name), changed);
        ok(message, `${existing.name} saved`);
      } else {
        await post("/api/v1/cameras", { name: name.value, ...wanted });
        ok(message, `${name.value} added`);
      }
      await done();
    } catch (err) { fail(message, err); }
  });
  return form;
}

export async function adminCamerasPage(root) {
  const message = alertBox();
  const body = h("div");
  const editor = h("div");
  async function load() {
    const cameras = await get("/api/v1/cameras");
    replace(body, table("Cameras", ["name", "source", "managed by", "enabled", "state", ""], cameras.map((c) => {
      const actions = c.managed_by === "config"
        ? h("td", { class: "muted" }, "read-only: set in the config file")
        : h("td", { class: "actions" },
          button("Edit", () => { replace(editor, cameraForm(message, c, load)); editor.querySelector("input[name=source]").focus(); }, { "aria-label": `Edit ${c.name}` }),
          button(c.enabled ? "Disable" : "Enable", async () => {
            try { await patch(cameraPath(c.name), { enabled: !c.enabled }); ok(message, `${c.name} ${c.enabled ? "disabled" : "enabled"}`); await load(); } catch (err) { fail(message, err); }
          }, { "aria-label": `${c.enabled ? "Disable" : "Enable"} ${c.name}` }));
      return h("tr", { "data-camera": c.name }, h("td", {}, c.name), h("td", { class: "mono" }, c.source), h("td", {}, c.managed_by),
        h("td", {}, c.enabled ? "yes" : "no"), h("td", {}, h("span", { class: `state state-${c.state}` }, c.state)), actions);
    })));
  }
  replace(root, h("h1", {}, "Manage cameras"), message, body,
    button("New camera", () => replace(editor, cameraForm(message, null, load))), editor);
  await load();
}
