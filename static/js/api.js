// Thin fetch helpers for the same-origin REST API. Every failure becomes an ApiError carrying the
// HTTP status, the server's human message and its machine-readable detail (422: [{loc, msg, type}]).

export class ApiError extends Error {
  // code and ctx: the body's stable kind of error ("too_many_runs") and its figures ({running, limit})
  constructor(status, message, detail, retryAfter, code = null, ctx = null) {
    super(message);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
    this.code = code;
    this.ctx = ctx;
  }
}

async function request(method, url, body, { signal } = {}) {
  const init = { method, headers: { Accept: "application/json" }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached. Is it still running?", null);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data && (data.message || (typeof data.detail === "string" && data.detail)))
      || `${method} ${url} failed with HTTP ${response.status}`;
    throw new ApiError(response.status, message, data ? data.detail : null, response.headers.get("Retry-After"),
      data?.code ?? null, data?.ctx ?? null);
  }
  return data;
}

// The object handed to optional panels (static/js/cliff.js): get/post/del return parsed JSON.
export const api = {
  get: (url, opts) => request("GET", url, undefined, opts),
  post: (url, body, opts) => request("POST", url, body, opts),
  del: (url, opts) => request("DELETE", url, undefined, opts),
  ApiError,
};
