// api.js - the page's only door to the ctrace server: one function per JSON
// endpoint of `ctrace view` (see src/serve/ and tests/browser/mock-server.mjs
// for the shapes), plus the way errors are shown to a person.
// Not here: rendering of data (the views) and the timeline's own binary
// requests, which may still use getJSON/getRaw below.
//
// The trace never changes while it is being viewed, so each GET is cached by
// URL: switching tabs does not ask the server again.

/** An error answered by the server (status >= 400) or a failed request. */
export class ApiError extends Error {
  constructor(message, status, url) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // 0 when the server could not be reached
    this.url = url;
  }
}

const cache = new Map();

// ---- the connection to `ctrace view` ----
// Every view learns of a lost server the same way: one banner (web/app.js),
// not a message of its own.

const connectionListeners = new Set();
let connected = true;

/** Calls fn(isConnected) whenever the server stops or starts answering. */
export function onConnection(fn) {
  connectionListeners.add(fn);
  return () => connectionListeners.delete(fn);
}

/** Records whether the server answered (any answer) or could not be reached. */
export function reportConnection(ok) {
  if (ok === connected) return;
  connected = ok;
  for (const fn of connectionListeners) fn(ok);
}

/** True until a request could not reach the server. */
export function isConnected() {
  return connected;
}

function buildUrl(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** fetch() that turns a network failure or an HTTP error into an ApiError. */
export async function getRaw(path, params) {
  const url = buildUrl(path, params);
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    reportConnection(false);
    throw new ApiError(`cannot reach the ctrace server (${e.message}); is \`ctrace view\` still running?`, 0, url);
  }
  reportConnection(true);
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) msg = body.error;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(msg, res.status, url);
  }
  return res;
}

/** GET path?params and parse JSON; cached by URL. Rejects with ApiError. */
export function getJSON(path, params) {
  const url = buildUrl(path, params);
  if (!cache.has(url)) {
    const p = getRaw(path, params).then(async (res) => {
      try {
        return await res.json();
      } catch (e) {
        throw new ApiError(`the server sent invalid JSON for ${url}: ${e.message}`, res.status, url);
      }
    });
    // A failed request is not cached: a retry may succeed.
    p.catch(() => cache.delete(url));
    cache.set(url, p);
  }
  return cache.get(url);
}

/**
 * The summary with its lists where the views look for them: the server may
 * send the thread and process lists as "thread_list"/"process_list" (the
 * agreed names) or under "threads"/"processes" (then the counts of
 * `ctrace stats` are gone from those keys: they are the lists' lengths).
 */
function normalizeSummary(s) {
  const out = { ...s };
  if (Array.isArray(out.threads)) {
    out.thread_list = out.thread_list || out.threads;
    out.threads = out.threads.length;
  }
  if (Array.isArray(out.processes)) {
    out.process_list = out.process_list || out.processes;
    out.processes = out.processes.length;
  }
  return out;
}

let summaryPromise = null;

export const api = {
  getJSON,
  getRaw,
  /** The object of `ctrace stats --json`, plus start_ns, end_ns, thread_list, process_list. */
  summary: () => {
    if (!summaryPromise) {
      summaryPromise = getJSON('/api/summary').then(normalizeSummary);
      summaryPromise.catch(() => {
        summaryPromise = null;
      });
    }
    return summaryPromise;
  },
  /** {threads: [{tid, name, total_ns, states: {running, sync, net, io, poll, sleep, syscall}}]} */
  threads: () => getJSON('/api/threads'),
  /** {tasks: [{name, count, min_ns, p50_ns, p90_ns, p99_ns, max_ns, histogram}], regions: [...]} */
  tasks: () => getJSON('/api/tasks'),
  /** {instances: [{id, name, start_ns, end_ns, dur_ns, tids, breakdown}]} */
  instances: (kind, name, limit = 200) => getJSON('/api/instances', { kind, name, limit }),
  /**
   * {kind, total_ns, stacks: [{total_ns, count, frames: [{function, file, line}]}], nstacks?}
   * filter: optional {tid, start_ns, end_ns} to limit the profile to one thread or a time range.
   */
  profile: (kind, filter = {}) => getJSON('/api/profile', { kind, ...filter }),
  /** URL of the gzipped pprof profile of one blocking kind (a download, not JSON), same filter. */
  pprofUrl: (kind, filter = {}) => buildUrl('/api/pprof', { kind, ...filter }),
};

/**
 * Replace the contents of container with a readable error box. Used by every
 * view so a failed request never leaves a blank page or a spinner forever.
 */
export function showError(container, err, what = 'Could not load this view') {
  const box = document.createElement('div');
  box.className = 'error-box';
  if (err && err.status === 0) {
    // the banner says what happened; the view only says it has nothing
    box.classList.add('error-offline');
    box.textContent = 'Nothing to show: the server is gone (see the banner above).';
    container.replaceChildren(box);
    return box;
  }
  box.setAttribute('role', 'alert');
  const h = document.createElement('strong');
  h.textContent = what;
  const p = document.createElement('p');
  p.textContent = err && err.message ? err.message : String(err);
  box.append(h, p);
  if (err && err.url) {
    const u = document.createElement('p');
    u.className = 'muted';
    u.textContent = `request: ${err.url}${err.status ? ` (HTTP ${err.status})` : ''}`;
    box.append(u);
  }
  container.replaceChildren(box);
  return box;
}
