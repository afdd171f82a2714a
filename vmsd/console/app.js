// The console's shell: who is signed in, the navigation, and the page for the location's hash.
import { api, get, post, whenSignedOut } from "./api.js";
import { h, replace, field, errorText, leavePage } from "./dom.js";
import { camerasPage } from "./grid.js";
import { cameraPage } from "./camera.js";
import { eventsPage } from "./events.js";
import { systemPage } from "./system.js";
import { usersPage, tokensPage, adminCamerasPage } from "./admin.js";

const main = document.getElementById("main");
const header = document.getElementById("top");
let me = null;

const PAGES = [
  { path: "cameras", title: "Cameras", render: camerasPage },
  { path: "events", title: "Events", render: eventsPage },
  { path: "system", title: "System", render: systemPage },
  { path: "admin/users", title: "Users", render: usersPage, admin: true },
  { path: "admin/tokens", title: "Tokens", render: tokensPage, admin: true },
  { path: "admin/cameras", title: "Manage cameras", render: adminCamerasPage, admin: true },
];

function isAdmin() { return me !== null && me.role === "admin"; }

function signInForm(message) {
  leavePage();
  me = null;
  header.hidden = true;
  const user = h("input", { name: "username", autocomplete: "username", required: true });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "signin", "aria-label": "Sign in" },
    h("h1", {}, "vmsd"),
    field("Username", user),
    field("Password", pass),
    h("button", { type: "submit" }, "Sign in"),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(status, "");
    try {
      await api("POST", "/api/v1/auth/login", { username: user.value, password: pass.value });
      await start();
    } catch (err) {
      replace(status, err.status === 401 ? "Wrong username or password." : errorText(err));
      pass.value = "";
      pass.focus();
    }
  });
  replace(main, form);
  user.focus();
}

function renderNav() {
  const nav = document.getElementById("nav");
  const current = route().page;
  replace(nav, PAGES.filter((p) => !p.admin || isAdmin()).map((p) =>
    h("a", { href: `#/${p.path}`, "aria-current": current === p ? "page" : false }, p.title)));
  replace(document.getElementById("who"), `${me.name} (${me.role})`);
}

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  if (hash.startsWith("camera/")) return { camera: hash.slice("camera/".length) };
  return { page: PAGES.find((p) => p.path === hash) || PAGES[0], path: hash };
}

async function show() {
  if (me === null) return;
  leavePage();
  renderNav();
  const r = route();
  const root = h("div", { class: "page" });
  replace(main, root);
  if (r.camera !== undefined) {
    document.title = `${r.camera} · vmsd`;
    await cameraPage(root, r.camera, me);
    return;
  }
  if (r.page.admin && !isAdmin()) {
    document.title = "Refused · vmsd";
    replace(root, h("h1", {}, "Not allowed"),
      h("p", { role: "alert", class: "error" }, "This page is for admins only."));
    return;
  }
  document.title = `${r.page.title} · vmsd`;
  try {
    await r.page.render(root, me);
  } catch (err) {
    root.append(h("p", { role: "alert", class: "error" }, errorText(err)));
  }
}

async function start() {
  try {
    me = await get("/api/v1/auth/me");
  } catch (err) {
    signInForm(err.status === 401 ? "" : errorText(err));
    return;
  }
  header.hidden = false;
  await show();
  main.focus();
}

document.getElementById("signout").addEventListener("click", async () => {
  try { await post("/api/v1/auth/logout"); } catch (err) { console.error(err); }
  signInForm("Signed out.");
});
whenSignedOut(() => signInForm("Your session has ended; sign in again."));
// The skip link moves the focus; as a plain #main it would be a route.
document.querySelector(".skip").addEventListener("click", (event) => { event.preventDefault(); main.focus(); });
window.addEventListener("hashchange", show);
start();
