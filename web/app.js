// app.js - the viewer's shell: header (trace name, key numbers, tabs),
// hash-based routing, and the lifetime of the view modules. It knows no
// view's content: each view is a module in its own file.
//
// View module interface (every *-view.js and timeline.js):
//
//   export default {
//     id: 'threads',                 // the route: #/threads
//     title: 'Threads',
//     mount(container, ctx) { ... }  // may be async; may return (or resolve to)
//   }                                // a cleanup function, or an object
//                                    // {unmount(), update(params)}
//
//   ctx = {
//     api,                      // ./api.js: fetch wrappers of the JSON endpoints
//     navigate(viewId, params), // go to another view (a history entry)
//     params,                   // this route's parameters, decoded (see below)
//     setParams(params),        // replace this route's parameters in the URL
//                               //   without re-mounting (no history entry)
//     summary,                  // Promise of /api/summary (shared, fetched once)
//   }
//
// Routes look like #/timeline?start_ns=1000&end_ns=5000&tids=12,13.
// Parameters are decoded as: "tids" -> array of numbers; keys ending in
// "_ns", "tid" or "id" -> numbers; everything else -> strings.
// Navigating to the view already shown calls its update(params) if it has
// one, else it is unmounted and mounted again.
//
// <main id="view"> carries data-view (the shown view's id) and data-state
// ("loading", then "ready" or "error" once mount() settles): the browser
// tests wait on it.
import { api, showError, onConnection, reportConnection, isConnected } from './api.js';
import { formatCount, formatDuration } from './format.js';
import { h } from './dom.js';
import { installStatePalette } from './states.js';

const VIEWS = [
  { id: 'timeline', title: 'Timeline', load: () => import('./timeline.js'), css: 'timeline.css', optional: true },
  { id: 'threads', title: 'Threads', load: () => import('./threads-view.js') },
  { id: 'tasks', title: 'Tasks & regions', load: () => import('./tasks-view.js') },
  { id: 'profiles', title: 'Blocking profiles', load: () => import('./profiles-view.js') },
  { id: 'summary', title: 'Summary', load: () => import('./summary-view.js') },
  { id: 'cpus', title: 'CPUs', load: () => import('./cpu-view.js'), tab: 'cpus_view' }, // a tab only with scheduling data
  { id: 'compare', title: 'Compare', load: () => import('./compare.js'), css: 'critpath.css', tab: 'compare_with' }, // a tab only with two traces
];
const DEFAULT_VIEW = 'timeline';

const main = document.getElementById('view');
const tabs = document.getElementById('tabs');
const banner = document.getElementById('banner');

let current = null; // {id, params, instance, handle, token}
let traceName = 'trace';
const loaded = new Map(); // view id -> Promise of module default export

// ---- routes ----

function encodeParams(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  return q.toString();
}

function decodeParams(query) {
  const params = {};
  for (const [k, v] of new URLSearchParams(query)) {
    if (k === 'tids') {
      params[k] = v.split(',').filter((s) => s !== '').map(Number).filter((n) => Number.isFinite(n));
    } else if (/(_ns|tid|id)$/.test(k) && /^-?\d+$/.test(v)) {
      params[k] = Number(v);
    } else {
      params[k] = v;
    }
  }
  return params;
}

function routeHash(id, params) {
  const q = encodeParams(params);
  return `#/${id}${q ? `?${q}` : ''}`;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const id = decodeURIComponent(qi < 0 ? raw : raw.slice(0, qi));
  const params = decodeParams(qi < 0 ? '' : raw.slice(qi + 1));
  const view = VIEWS.find((v) => v.id === id);
  return view ? { view, params } : { view: VIEWS.find((v) => v.id === DEFAULT_VIEW), params: {} };
}

export function navigate(viewId, params = {}) {
  const hash = routeHash(viewId, params);
  if (location.hash === hash) route();
  else location.hash = hash;
}

// The URL as the router last saw or wrote it. A view writes its parameters
// a little late (the timeline waits 300 ms); a navigation that changed the
// URL meanwhile (a link, the address bar, a test) wins: its hashchange is
// still to come, and writing over it would undo it.
let routedHash = null;

function setParams(params) {
  if (!current) return;
  if (routedHash !== null && location.hash !== routedHash) return;
  current.params = { ...params };
  history.replaceState(null, '', routeHash(current.id, params));
  routedHash = location.hash;
  keepInTab(current.id, params);
}

// A tab goes back to its view as it was left: its link carries the view's
// last parameters (the timeline's window and selection, a table's sort).
function keepInTab(id, params) {
  const a = [...tabs.children].find((x) => x.dataset.view === id);
  if (a) a.setAttribute('href', routeHash(id, params));
}

// ---- loading view modules ----

// Resolves once the sheet is applied (or failed): a view mounted before its
// CSS would be laid out, measured and fetched for twice.
function addStylesheet(href) {
  const have = document.querySelector(`link[data-view-css="${href}"]`);
  if (have) return have.loaded;
  const link = h('link', { rel: 'stylesheet', href, dataset: { viewCss: href } });
  link.loaded = new Promise((resolve) => {
    link.addEventListener('load', resolve, { once: true });
    link.addEventListener('error', resolve, { once: true });
  });
  document.head.append(link);
  return link.loaded;
}

function loadView(view) {
  if (!loaded.has(view.id)) {
    const p = view.load().then((mod) => {
      const def = mod.default;
      if (!def || typeof def.mount !== 'function') throw new Error(`${view.id}: the module has no default export with mount()`);
      return view.css ? addStylesheet(view.css).then(() => def) : def;
    });
    p.catch(() => loaded.delete(view.id));
    loaded.set(view.id, p);
  }
  return loaded.get(view.id);
}

function placeholder(view, err) {
  return h(
    'div',
    { class: 'placeholder' },
    h('h1', { class: 'view-title' }, `${view.title} is not available`),
    h('p', { class: 'muted' }, `This build of the viewer has no ${view.title.toLowerCase()} module yet (${err.message}).`),
    h('p', null, 'The other views work: ', ...VIEWS.filter((v) => v.id !== view.id).flatMap((v, i) => [i ? ' · ' : '', h('a', { href: routeHash(v.id) }, v.title)])),
  );
}

// ---- mounting ----

function unmountCurrent() {
  if (!current || !current.handle) return;
  try {
    if (typeof current.handle === 'function') current.handle();
    else if (typeof current.handle.unmount === 'function') current.handle.unmount();
  } catch (e) {
    console.error('ctrace: unmount failed', e);
  }
}

// The tabs are plain links (middle-click opens a view in a new tab; Tab
// reaches each one); the shown view's link carries aria-current="page".
function renderTabs(activeId) {
  for (const a of tabs.children) {
    if (a.dataset.view === activeId) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  routedHash = location.hash;
  const { view, params } = parseHash();
  renderTabs(view.id);
  document.title = `${view.title} · ${traceName} · ctrace`;

  if (current && current.id === view.id && current.handle && typeof current.handle.update === 'function') {
    current.params = params;
    current.handle.update(params);
    return;
  }

  unmountCurrent();
  keepInTab(view.id, params);
  const token = {};
  current = { id: view.id, params, handle: null, token };
  main.dataset.view = view.id;
  main.dataset.state = 'loading';
  main.className = `view view-${view.id}`;
  main.replaceChildren(h('div', { class: 'loading', role: 'status' }, `Loading ${view.title.toLowerCase()}…`));

  let def;
  try {
    def = await loadView(view);
  } catch (err) {
    if (current.token !== token) return;
    if (!(await checkConnection())) err = Object.assign(new Error(err.message), { status: 0 });
    if (current.token !== token) return;
    if (err.status === 0) showError(main, err);
    else if (view.optional) main.replaceChildren(placeholder(view, err));
    else showError(main, err, `Could not load the ${view.title} view`);
    main.dataset.state = 'error';
    return;
  }
  if (current.token !== token) return; // the user moved on meanwhile

  const container = h('div', { class: 'view-body' });
  main.replaceChildren(container);
  const ctx = { api, navigate, params, summary: api.summary() };
  ctx.setParams = (p) => {
    ctx.params = { ...p };
    if (current.token === token) setParams(p);
  };
  try {
    const handle = await def.mount(container, ctx);
    if (current.token !== token) {
      // Navigated away while mounting: clean up what was just built.
      if (typeof handle === 'function') handle();
      else if (handle && typeof handle.unmount === 'function') handle.unmount();
      return;
    }
    current.handle = handle || null;
    main.dataset.state = 'ready';
  } catch (err) {
    if (current.token !== token) return;
    console.error(`ctrace: mounting ${view.id} failed`, err);
    showError(container, err, `The ${view.title} view failed`);
    main.dataset.state = 'error';
  }
}

// ---- header ----

function basename(p) {
  return String(p).split('/').filter(Boolean).pop() || String(p);
}

async function fillHeader() {
  const nameEl = document.getElementById('trace-name');
  const metaEl = document.getElementById('trace-meta');
  const alertEl = document.getElementById('trace-alert');
  try {
    const s = await api.summary();
    const file = s.file ?? s.trace_file ?? s.path ?? s.trace ?? null;
    traceName = file ? basename(file) : 'trace';
    for (const v of VIEWS.filter((x) => x.tab && s[x.tab])) tabs.append(h('a', { href: routeHash(v.id), dataset: { view: v.id } }, v.title));
    renderTabs(parseHash().view.id);
    nameEl.textContent = traceName;
    nameEl.title = file || '';
    const threads = Array.isArray(s.thread_list) ? s.thread_list.length : s.threads;
    metaEl.textContent = [
      formatDuration(s.duration_ns),
      `${formatCount(threads)} thread${threads === 1 ? '' : 's'}`,
      `${formatCount(s.events)} events`,
    ].join(' · ');
    const problems = [];
    if (Number(s.dropped_events) > 0) problems.push(`${formatCount(s.dropped_events)} events dropped`);
    if (s.complete === false || s.read_error) problems.push('trace incomplete');
    if (problems.length) {
      alertEl.textContent = `⚠ ${problems.join(', ')}`;
      alertEl.hidden = false;
    }
    const { view } = parseHash();
    document.title = `${view.title} · ${traceName} · ctrace`;
  } catch (err) {
    nameEl.textContent = 'no trace';
    banner.textContent = `Cannot load the trace summary: ${err.message}`;
    banner.hidden = false;
  }
}

function buildTabs() {
  for (const v of VIEWS) {
    if (v.tab) continue; // added by fillHeader when the summary has its key
    tabs.append(h('a', { href: routeHash(v.id), dataset: { view: v.id } }, v.title));
  }
}

// ---- the connection ----
// One banner when `ctrace view` stops answering, whichever view noticed
// (a request failed) or the heartbeat did; gone when it answers again.

const OFFLINE_TEXT = 'ctrace view is no longer running: start it again (ctrace view TRACE) and reload this page.';
onConnection((ok) => {
  if (!ok) {
    banner.textContent = OFFLINE_TEXT;
    banner.dataset.kind = 'offline';
    banner.hidden = false;
  } else if (banner.dataset.kind === 'offline') {
    banner.hidden = true;
    delete banner.dataset.kind;
  }
});

const HEARTBEAT_MS = 3000;
/** Asks the server for its smallest answer; resolves to whether it answered. */
async function checkConnection() {
  try {
    const r = await fetch('./', { method: 'HEAD', cache: 'no-store' });
    reportConnection(r.status > 0);
  } catch {
    reportConnection(false);
  }
  return isConnected();
}
async function heartbeat() {
  if (document.visibilityState !== 'hidden') await checkConnection();
  setTimeout(heartbeat, isConnected() ? HEARTBEAT_MS : HEARTBEAT_MS / 2);
}

installStatePalette();
setTimeout(heartbeat, HEARTBEAT_MS);
buildTabs();
fillHeader();
window.addEventListener('hashchange', route);
route();
