// The API over fetch with the session cookie. Mutating requests carry the browser's Origin
// header, which the API's CSRF check wants; nothing else is needed.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const e = (data && data.error) || {};
    const detail = (e.details || []).map((d) => (d.field ? `${d.field}: ${d.message}` : d.message));
    const message = [e.message || response.statusText, ...detail].join("; ");
    const err = new ApiError(response.status, e.code || "error", message, e.details);
    // The login's 401 is a wrong password, and /auth/me's is how the start finds no session.
    if (response.status === 401 && !path.endsWith("/auth/login") && !path.endsWith("/auth/me")) onSignedOut();
    throw err;
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else if (value !== undefined && value !== null && value !== "") q.append(key, value);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const cameraPath = (name) => `/api/v1/cameras/${encodeURIComponent(name)}`;
