// The only module that knows where the backend is.
// In DSS the webapp backend lives behind dataiku.getWebAppBackendUrl(path); standalone,
// the page is served at "/" and the API at relative URLs ("api/config").
// Every call returns parsed JSON or throws an ApiError carrying the server's message.

const TIMEOUT_MS = 30000;
// A hanging save holds up every choice made after it, so it is given up sooner. Saving
// an item again is safe: the server edits the same annotation (same id and label id).
export const SAVE_TIMEOUT_MS = 10000;
let csrfToken = null;

/** An HTTP or network failure, with the server's own words when it sent JSON. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = "error", details = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Signing in again cures it: no session, or another tab's sign-in replaced it. */
  get unauthenticated() {
    return this.status === 401 || this.sessionChanged;
  }

  get sessionChanged() {
    return this.code === "session_changed";
  }
}

/** Remember the CSRF token of a cookie session: sent with every POST. */
export function setCsrfToken(token) {
  csrfToken = token || null;
}

/** True when running inside a DSS webapp. */
export function inDss() {
  const dku = globalThis.dataiku;
  return Boolean(dku && typeof dku.getWebAppBackendUrl === "function");
}

/** The URL of a backend route such as "/api/config", with an optional query object. */
export function backendUrl(path, query) {
  const base = inDss()
    ? globalThis.dataiku.getWebAppBackendUrl(path)
    : new URL(path.replace(/^\/+/, ""), document.baseURI).href;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  const text = params.toString();
  if (!text) return base;
  return base + (base.includes("?") ? "&" : "?") + text;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && typeof body.error === "string") {
    return new ApiError(body.error, {
      status: response.status,
      code: body.code || "error",
      details: body.details || null,
    });
  }
  const reasons = {
    401: "Sign in first",
    403: "You are not allowed to do this",
    404: "Not found on the server",
    413: "The request is too large",
    502: "The server is not answering (bad gateway)",
    503: "The server is unavailable for now",
    504: "The server took too long to answer",
  };
  const text = reasons[response.status] || `The server answered ${response.status}`;
  return new ApiError(text, { status: response.status, code: `http_${response.status}` });
}

/** One JSON request. `body` (if any) is sent as JSON; `timeoutMs`: when to give up. */
export async function request(method, path, { query, body, timeoutMs = TIMEOUT_MS } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(backendUrl(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
  } catch (err) {
    const timedOut = err && err.name === "AbortError";
    throw new ApiError(
      timedOut
        ? "The server did not answer in time"
        : "Cannot reach the server: is it still running? Check your connection",
      { code: timedOut ? "timeout" : "network" },
    );
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  try {
    return await response.json();
  } catch {
    throw new ApiError("The server sent an answer that is not JSON", {
      status: response.status,
      code: "bad_response",
    });
  }
}

export const get = (path, query) => request("GET", path, { query });

// Each save names this page and its place among the page's saves: a save given up on
// (SAVE_TIMEOUT_MS) may still reach the server after a later one, which then refuses it
// (409 stale) instead of letting it undo the later one.
const CLIENT_ID = Array.from(crypto.getRandomValues(new Uint8Array(12)),
  (b) => b.toString(16).padStart(2, "0")).join("");
let sequence = 0;

function ordered(payload) {
  sequence += 1;
  return { ...payload, client_id: CLIENT_ID, sequence };
}
export const post = (path, body, options) =>
  request("POST", path, { body: body ?? {}, ...options });

// The labeling API, one function per route.
export const api = {
  config: (query) => get("/api/config", query),
  login: (name, password) => post("/api/login", { name, password }),
  logout: () => post("/api/logout", {}),
  next: (count) => get("/api/next", { count }),
  release: (itemIds) => post("/api/releases", { item_ids: itemIds }),
  annotate: (payload) =>
    post("/api/annotations", ordered(payload), { timeoutMs: SAVE_TIMEOUT_MS }),
  skip: (payload) => post("/api/skips", ordered(payload), { timeoutMs: SAVE_TIMEOUT_MS }),
  history: ({ before, after, limit } = {}) => get("/api/history", { before, after, limit }),
  stats: () => get("/api/stats"),
};
