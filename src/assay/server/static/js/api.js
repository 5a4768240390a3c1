// JSON API client: cookie session, CSRF header on state-changing requests, one error type.

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
  /** Network failures (status 0), server errors and rate limits are worth retrying. */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

/**
 * Call the API. Resolves to the parsed JSON body, or null for 204 No Content.
 * Rejects with ApiError (status 0 when the request never reached the server).
 */
export async function api(method, path, body = undefined, { timeout = 15000 } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  let resp;
  try {
    resp = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal: ctrl.signal,
    });
  } catch (err) {
    throw new ApiError(0, "the server could not be reached");
  } finally {
    clearTimeout(timer);
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const msg = (data && (data.error || data.detail)) || `${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  return data;
}

/** The logged-in user ({name, role, clearance, csrf_token}); sends to /login when there is none. */
export async function currentUser() {
  try {
    const me = await api("GET", "/me");
    setCsrf(me.csrf_token);
    return me;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign(`/login?next=${next}`);
      return new Promise(() => {}); // the page is going away
    }
    throw err;
  }
}

export async function logout() {
  try {
    await api("POST", "/auth/logout", {});
  } finally {
    location.assign("/login");
  }
}

/** A random v4 UUID (crypto.randomUUID needs a secure context; 127.0.0.1 is one, LAN IPs are not). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
