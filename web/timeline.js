// timeline.js - the Timeline view: one canvas with a time ruler, a lane of
// tasks, and one row per thread (grouped by process, in creation order)
// showing its states over time, its regions as nested slices and its logs
// as markers; wake-up edges and thread creations as arrows between rows.
// Zoom (wheel, W/S), pan (drag, A/D), zoom to a shift-drag selection, reset
// (0); hover for a tooltip; click for the details panel, which fetches the
// event's stack and, for a blocked span, links to the wake-up that ended it.
//
// This file builds the DOM, fetches, and holds the tooltip and the details
// panel; the model is timeline-model.js, the canvas timeline-draw.js and
// the mouse and keys timeline-input.js.
//
// Data: /api/summary (threads), then /api/timeline for each visible window,
// in the compact binary form of src/serve/timeline_bin.c (docs/API.md),
// already fitted to the canvas' pixel width by the server; /api/event on
// click. Nothing here knows the trace format.
import { formatDuration } from './format.js';
import { h } from './dom.js';
import {
  STATES, LABEL_W, RULER_H, STATE_H, LOG_H, REGION_H, ROW_PAD, TASK_H,
  createModel, decode, formatAt,
} from './timeline-model.js';
import { createPainter } from './timeline-draw.js';
import { attachInput } from './timeline-input.js';

const STATE_LABELS = {
  running: 'Running', sync: 'Sync block', net: 'Network', io: 'File I/O',
  poll: 'Polling', sleep: 'Sleeping', syscall: 'Other syscall',
};
const FALLBACK_COLORS = {
  running: '#3a9a5b', sync: '#d1495b', net: '#7356b0', io: '#e39a2d',
  poll: '#2896a0', sleep: '#8da2ba', syscall: '#c2692a',
};

function mount(container, ctx) {
  const api = ctx.api;
  const css = getComputedStyle(document.documentElement);
  const color = {};
  for (const s of STATES) color[s] = css.getPropertyValue(`--state-${s}`).trim() || FALLBACK_COLORS[s];
  const m = createModel();

  // DOM
  const legend = h('div', { class: 'tl-legend', role: 'list', 'aria-label': 'Legend' },
    STATES.map((s) => h('span', { class: 'tl-legend-item', role: 'listitem' },
      h('span', { class: 'tl-swatch', style: `background:${color[s]}` }), STATE_LABELS[s])),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-swatch tl-sw-outside' }), 'Not started / exited'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-swatch tl-sw-region' }), 'Region'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-swatch tl-sw-task' }), 'Task'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-mark-log' }), 'Log'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-mark-wake' }), 'Wake-up'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-mark-create' }), 'Thread created'));
  const btn = (label, title, fn, extra = {}) => h('button', { type: 'button', class: 'tl-btn', title, onclick: fn, ...extra }, label);
  const zoomSelBtn = btn('Zoom to selection', 'Zoom to the shift-dragged selection (Z)', () => zoomToSelection(), { disabled: true, 'data-action': 'zoom-selection' });
  const rangeLabel = h('span', { class: 'tl-range', 'aria-live': 'polite' });
  const toolbar = h('div', { class: 'tl-toolbar' },
    btn('−', 'Zoom out (S)', () => zoomBy(2), { 'data-action': 'zoom-out', 'aria-label': 'Zoom out' }),
    btn('+', 'Zoom in (W)', () => zoomBy(0.5), { 'data-action': 'zoom-in', 'aria-label': 'Zoom in' }),
    btn('Reset', 'Show the whole trace (0)', () => reset(), { 'data-action': 'reset' }),
    zoomSelBtn,
    rangeLabel,
    h('span', { class: 'tl-hint' }, 'Wheel or W/S zoom · drag or A/D pan · shift-drag select · click for details'));
  const canvas = h('canvas', { class: 'tl-canvas', tabindex: '0', 'aria-label': 'Timeline of the trace\'s threads' });
  const spacer = h('div', { class: 'tl-spacer' });
  const tip = h('div', { class: 'tl-tooltip', role: 'tooltip', hidden: true });
  const note = h('div', { class: 'tl-note', hidden: true });
  const scroller = h('div', { class: 'tl-scroll' }, canvas, spacer);
  const stage = h('div', { class: 'tl-stage' }, scroller, tip, note);
  const panel = h('aside', { class: 'tl-details', hidden: true, 'aria-label': 'Details' });
  const body = h('div', { class: 'tl-body' }, stage, panel);
  // The rows as text, for screen readers (and the browser tests): the canvas
  // itself says nothing to assistive technology.
  const srList = h('ul', { class: 'tl-sr', 'aria-label': 'Thread rows' });
  const root = h('div', { class: 'tl' }, toolbar, legend, body, srList);
  container.append(root);

  const paint = createPainter(m, canvas, color);
  let fetchCtl = null;
  let fetchTimer = 0;
  let raf = 0;
  let destroyed = false;

  function layout() {
    m.layout();
    spacer.style.height = `${Math.max(0, m.totalH - m.height)}px`;
  }

  function resize() {
    const r = stage.getBoundingClientRect();
    m.width = Math.max(300, Math.floor(r.width));
    m.height = Math.max(200, Math.floor(r.height));
    m.dpr = window.devicePixelRatio || 1;
    canvas.width = Math.floor(m.width * m.dpr);
    canvas.height = Math.floor(m.height * m.dpr);
    canvas.style.width = `${m.width}px`;
    canvas.style.height = `${m.height}px`;
    layout();
    requestFetch(0);
    draw();
  }

  // ---- fetching ----
  function requestFetch(delay = 40) {
    clearTimeout(fetchTimer);
    fetchTimer = setTimeout(doFetch, delay);
  }

  async function doFetch() {
    if (destroyed || !m.summary) return;
    if (fetchCtl) fetchCtl.abort();
    const ctl = new AbortController();
    fetchCtl = ctl;
    const a = Math.floor(m.v0), b = Math.ceil(m.v1);
    // With many threads, only the rows on screen (and a screen's worth
    // around them) are asked for; scrolling asks for more.
    const rows = wantedRows();
    const url = `/api/timeline?start_ns=${a}&end_ns=${b}&width=${Math.round(m.plotW())}${rows ? `&tids=${rows.join(',')}` : ''}`;
    root.dataset.loading = 'true';
    try {
      const res = await fetch(url, { signal: ctl.signal });
      if (!res.ok) {
        let msg = `${res.status}`;
        try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
        throw new Error(msg);
      }
      const tGot = performance.now();
      const d = decode(await res.arrayBuffer());
      root.dataset.decodeMs = (performance.now() - tGot).toFixed(1);
      if (ctl !== fetchCtl || destroyed) return;
      if (m.setData(d)) layout();
      root.dataset.loading = 'false';
      root.dataset.ready = 'true';
      showNote();
      draw();
    } catch (e) {
      if (e.name === 'AbortError') return;
      root.dataset.loading = 'false';
      note.textContent = `Cannot load the timeline: ${e.message}`;
      note.hidden = false;
    }
  }

  const MANY_ROWS = 60;
  function wantedRows() {
    if (m.threads.length <= MANY_ROWS) return null;
    m.scrollTop = scroller.scrollTop;
    return m.visibleRows(m.height).map((t) => t.tid);
  }
  function missingRows() {
    m.scrollTop = scroller.scrollTop;
    return m.threads.length > MANY_ROWS && m.visibleRows(0).some((t) => !m.rowsByTid.has(t.tid));
  }

  function showNote() {
    if (m.data && m.data.wakesTotal > m.wakesShown().length) {
      note.textContent = `${m.data.wakesTotal.toLocaleString()} wake-ups in view: zoom in to see their arrows`;
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  // ---- drawing ----
  function scheduleDraw() {
    if (!raf) raf = requestAnimationFrame(() => { raf = 0; draw(); });
  }

  function draw() {
    if (destroyed) return;
    const tDraw = performance.now();
    m.scrollTop = scroller.scrollTop;
    rangeLabel.textContent = `${formatAt(Math.round(m.v0))} – ${formatAt(Math.round(m.v1))} (${formatDuration(m.v1 - m.v0)} shown)`;
    paint();
    root.dataset.drawMs = (performance.now() - tDraw).toFixed(1); // for tests and tuning
  }

  // ---- tooltip ----
  function tname(t) {
    return `${t.name || 'thread'} ${t.tid}`;
  }

  function tooltipText(o) {
    switch (o.kind) {
      case 'span': {
        const s = o.span;
        const st = STATE_LABELS[STATES[s.state]] || '?';
        if (s.merged && s.n > 1) return [`${tname(o.thread)} · ${s.n.toLocaleString()} spans, mostly ${st.toLowerCase()}`, `${formatDuration(s.e - s.s)} at ${formatAt(Math.round(s.s))}`, 'Zoom in for each span'];
        return [`${tname(o.thread)} · ${st}`, `${formatDuration(s.e - s.s)} from ${formatAt(Math.round(s.s))}`, 'Click for details'];
      }
      case 'region':
        if (o.region.merged) return [`${o.region.n.toLocaleString()} regions`, `${formatDuration(o.region.e - o.region.s)}`, 'Zoom in to tell them apart'];
        return [`Region ${o.region.name}${o.region.open ? ' (not ended)' : ''}`, `${formatDuration(o.region.e - o.region.s)} from ${formatAt(Math.round(o.region.s))}`, o.region.task ? `task ${o.region.task}` : ''];
      case 'log':
        return [`Log ${o.log.category ? `[${o.log.category}] ` : ''}${o.log.message}`, `at ${formatAt(Math.round(o.log.t))}${o.log.n > 1 ? ` (+${o.log.n - 1} more here)` : ''}`];
      case 'task':
        return [`Task ${o.task.name} (id ${o.task.id})`, `${formatDuration(o.task.e - o.task.s)}${o.task.open ? ', not ended' : ''}`, `${o.task.touches.length} thread${o.task.touches.length === 1 ? '' : 's'}`];
      case 'wake':
        return [`Wake-up: ${o.wake.from} woke ${o.wake.to}`, `at ${formatAt(Math.round(o.wake.t))}`];
      case 'create':
        return [`${tname(o.thread)} created thread ${o.create.child}`, `at ${formatAt(Math.round(o.create.t0))}; it started ${formatDuration(o.create.t1 - o.create.t0)} later`];
      case 'outside':
        return [tname(o.thread), o.t < o.thread.first ? 'not started yet' : 'exited'];
      default:
        return [];
    }
  }

  function showTip(o, x, y) {
    const lines = o ? tooltipText(o).filter(Boolean) : [];
    if (!lines.length) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren(h('div', { class: 'tl-tip-title' }, lines[0]), ...lines.slice(1).map((l) => h('div', null, l)));
    tip.hidden = false;
    tip.style.left = '0px'; // measure at full width, then place
    tip.style.top = '0px';
    const tw = tip.offsetWidth, th = tip.offsetHeight;
    tip.style.left = `${Math.max(4, Math.min(x + 14, m.width - tw - 4))}px`;
    tip.style.top = `${y + 18 + th > m.height ? y - th - 8 : y + 18}px`;
  }

  // ---- details panel ----
  function row(k, v, cls) {
    if (v === undefined || v === null || v === '') return null;
    return h('tr', null, h('th', null, k), h('td', { class: cls || null }, v));
  }

  function stackList(frames) {
    if (!frames || !frames.length) return h('p', { class: 'muted' }, 'No stack was recorded for this event.');
    return h('ol', { class: 'tl-stack' }, frames.map((f) => h('li', null,
      h('span', { class: 'tl-fn' }, f.function || '??'),
      f.file
        ? h('span', { class: 'tl-file' }, `${f.file}:${f.line}`)
        : h('span', { class: 'tl-file' }, f.object ? `${f.object}+${f.offset}` : f.pc || ''))));
  }

  function openPanel(title, ...content) {
    panel.replaceChildren(
      h('div', { class: 'tl-details-head' },
        h('h2', null, title),
        h('button', { type: 'button', class: 'tl-close', 'aria-label': 'Close details', onclick: () => { m.selected = null; panel.hidden = true; resize(); } }, '×')),
      ...content.filter(Boolean));
    if (panel.hidden) {
      panel.hidden = false;
      resize();
    }
  }

  async function select(o) {
    if (!o) return;
    tip.hidden = true;
    let url;
    if (o.kind === 'span') {
      const ns = Math.round(Math.min(Math.max(o.t, o.span.s), o.span.e - 1));
      m.selected = { kind: 'span', tid: o.thread.tid, s: o.span.s, e: o.span.e };
      url = `/api/event?kind=span&tid=${o.thread.tid}&ns=${ns}`;
    } else if (o.kind === 'region' && !o.region.merged) {
      m.selected = { kind: 'region', tid: o.thread.tid, s: o.region.s };
      url = `/api/event?kind=region&tid=${o.thread.tid}&ns=${Math.round(o.region.s)}`;
    } else if (o.kind === 'log') {
      m.selected = { kind: 'log', tid: o.thread.tid, ns: o.log.t };
      url = `/api/event?kind=log&tid=${o.thread.tid}&ns=${Math.round(o.log.t)}`;
    } else if (o.kind === 'task') {
      m.selected = { kind: 'task', id: o.task.id, s: o.task.s, e: o.task.e, touches: o.task.touches };
      url = `/api/event?kind=task&id=${o.task.id}`;
    } else if (o.kind === 'create') {
      m.selected = { kind: 'create', tid: o.thread.tid, ns: o.create.t0, child: o.create.child, started: o.create.t1 };
      url = `/api/event?kind=create&tid=${o.thread.tid}&ns=${Math.round(o.create.t0)}`;
    } else if (o.kind === 'wake') {
      m.selected = { kind: 'wake', tid: o.wake.from, ns: o.wake.t };
      url = `/api/event?kind=wake&tid=${o.wake.from}&ns=${Math.round(o.wake.t)}`;
    } else {
      return;
    }
    root.dataset.details = 'loading';
    openPanel('Loading…');
    draw();
    try {
      const d = await api.getJSON(url.split('?')[0], Object.fromEntries(new URLSearchParams(url.split('?')[1])));
      if (destroyed) return;
      showDetails(d);
      root.dataset.details = 'ready';
    } catch (e) {
      openPanel('Details', h('p', { class: 'tl-error' }, e.message));
      root.dataset.details = 'error';
    }
    draw();
  }

  function threadName(tid) {
    const t = m.thread(tid);
    return t ? `${t.name || 'thread'} (${tid})` : String(tid);
  }

  function showDetails(d) {
    const rows = [];
    let title = 'Details';
    const actions = [];
    if (d.kind === 'span') {
      title = d.state === 'running' ? 'Running' : `Blocked: ${STATE_LABELS[d.state] || d.state}`;
      if (d.event === 'WAIT') title = `Blocked on ${String(d.reason).toLowerCase().replace('_', ' ')}`;
      if (d.event === 'SYSCALL') title = `In ${d.call}() (${STATE_LABELS[d.state] || d.state})`;
      rows.push(row('Thread', threadName(d.tid)), row('Kind', d.event ? `${d.event}${d.reason ? ` ${d.reason}` : ''}${d.call ? ` ${d.call}` : ''}` : STATE_LABELS[d.state]),
        row('Start', formatAt(d.start_ns), 'mono'), row('Duration', formatDuration(d.dur_ns)),
        row('Object', d.object, 'mono'), row('fd', d.fd), row('Peer', d.peer, 'mono'), row('Bytes', d.bytes),
        row('Result', d.event === 'SYSCALL' ? d.result : undefined), row('Task', d.task ? String(d.task) : undefined), row('Region', d.region));
      if (d.woken_by) {
        actions.push(h('button', { type: 'button', class: 'tl-btn tl-primary', 'data-action': 'go-waker', onclick: () => goToWaker(d.woken_by, d.dur_ns) },
          `Woken by ${threadName(d.woken_by.tid)} →`));
      }
    } else if (d.kind === 'region') {
      title = `Region ${d.name}`;
      rows.push(row('Thread', threadName(d.tid)), row('Start', formatAt(d.start_ns), 'mono'), row('Duration', d.open ? `${formatDuration(d.dur_ns)} (not ended)` : formatDuration(d.dur_ns)),
        row('Task', d.task ? String(d.task) : 'none'), row('Depth', d.depth));
      actions.push(h('button', { type: 'button', class: 'tl-btn', onclick: () => setWindow(d.start_ns, d.end_ns, true) }, 'Zoom to region'));
    } else if (d.kind === 'log') {
      title = `Log${d.category ? ` [${d.category}]` : ''}`;
      rows.push(row('Message', d.message), row('Thread', threadName(d.tid)), row('At', formatAt(d.event_ns), 'mono'), row('Task', d.task ? String(d.task) : 'none'));
    } else if (d.kind === 'task') {
      title = `Task ${d.name}`;
      rows.push(row('Id', String(d.id)), row('Start', formatAt(d.start_ns), 'mono'), row('Duration', d.open ? `${formatDuration(d.dur_ns)} (not ended)` : formatDuration(d.dur_ns)),
        row('Began on', threadName(d.begin_tid)), row('Ended on', d.end_tid ? threadName(d.end_tid) : '—'),
        row('Threads', (d.threads || []).map((t) => threadName(t.tid)).join(', ')));
      const br = d.breakdown || {};
      const tot = STATES.reduce((a, s) => a + (br[s] || 0), 0);
      if (tot > 0) {
        rows.push(h('tr', null, h('th', null, 'Time'), h('td', null,
          h('div', { class: 'tl-breakdown' }, STATES.filter((s) => br[s]).map((s) => h('span', { style: `width:${(100 * br[s]) / tot}%;background:${color[s]}`, title: `${STATE_LABELS[s]}: ${formatDuration(br[s])}` }))),
          h('div', { class: 'tl-breakdown-legend' }, STATES.filter((s) => br[s]).map((s) => h('span', null, h('span', { class: 'tl-swatch', style: `background:${color[s]}` }), `${STATE_LABELS[s]} ${formatDuration(br[s])}`))))));
      }
      actions.push(h('button', { type: 'button', class: 'tl-btn', onclick: () => { m.highlight = new Set((d.threads || []).map((t) => t.tid)); setWindow(d.start_ns, d.end_ns, true); } }, 'Zoom to task'));
    } else if (d.kind === 'create') {
      title = 'Thread created';
      rows.push(row('Creator', threadName(d.tid)), row('Created', m.selected && m.selected.child ? threadName(m.selected.child) : undefined),
        row('At', formatAt(d.event_ns), 'mono'), row('Started after', m.selected && m.selected.started ? formatDuration(m.selected.started - d.event_ns) : undefined));
    } else if (d.kind === 'wake') {
      title = 'Wake-up';
      rows.push(row('Waker', threadName(d.tid)), row('Woke', threadName(d.woken_tid)), row('At', formatAt(d.event_ns), 'mono'), row('Object', d.object, 'mono'), row('Reason', d.reason));
    }
    openPanel(title,
      h('table', { class: 'tl-kv' }, rows),
      actions.length ? h('div', { class: 'tl-actions' }, actions) : null,
      h('h3', null, 'Stack'),
      stackList(d.stack));
  }

  // Centres the wake-up that ended a blocked span of length blockedNs, zoomed
  // in enough (a few times the span) for its arrow to be drawn.
  async function goToWaker(w, blockedNs) {
    const span = Math.min(m.v1 - m.v0, Math.max(8 * (blockedNs || 0), 20000));
    const half = Math.min(span, (m.T1 - m.T0)) / 2;
    setWindow(w.ns - half, w.ns + half, true);
    const th = m.thread(w.tid);
    if (th) scroller.scrollTop = Math.max(0, th.y - RULER_H - 60);
    m.selected = { kind: 'wake', tid: w.tid, ns: w.ns };
    root.dataset.details = 'loading';
    try {
      const d = await api.getJSON('/api/event', { kind: 'wake', tid: w.tid, ns: Math.round(w.ns) });
      if (destroyed) return;
      m.selected.ns = d.event_ns;
      showDetails(d);
      root.dataset.details = 'ready';
    } catch (e) {
      openPanel('Wake-up', h('p', { class: 'tl-error' }, e.message));
      root.dataset.details = 'error';
    }
    draw();
  }

  // ---- navigation ----
  let paramsTimer = 0;
  function setWindow(a, b, fetchNow = false) {
    m.clampWindow(a, b);
    requestFetch(fetchNow ? 0 : 40);
    scheduleDraw();
    if (ctx.setParams) {
      clearTimeout(paramsTimer);
      paramsTimer = setTimeout(() => {
        if (destroyed) return;
        const p = { start_ns: Math.round(m.v0), end_ns: Math.round(m.v1) };
        if (m.highlight.size) p.tids = [...m.highlight];
        ctx.setParams(p);
      }, 300);
    }
  }

  function zoomBy(f, at) {
    const c = at === undefined ? (m.v0 + m.v1) / 2 : at;
    setWindow(c - (c - m.v0) * f, c + (m.v1 - c) * f);
  }
  function panBy(frac) {
    const d = (m.v1 - m.v0) * frac;
    setWindow(m.v0 + d, m.v1 + d);
  }
  function reset() {
    m.selection = null;
    zoomSelBtn.disabled = true;
    setWindow(m.home, m.T1, true);
  }
  function zoomToSelection() {
    if (!m.selection) return;
    const a = Math.min(m.selection.s, m.selection.e), b = Math.max(m.selection.s, m.selection.e);
    m.selection = null;
    zoomSelBtn.disabled = true;
    setWindow(a, b, true);
  }

  // ---- input ----
  const detachInput = attachInput(m, canvas, scroller, {
    zoomBy, panBy, setWindow, reset, zoomToSelection, select, showTip, scheduleDraw,
    hideTip: () => { tip.hidden = true; },
    clearSelection: () => { m.selection = null; zoomSelBtn.disabled = true; scheduleDraw(); },
    selectionChanged: (usable) => { zoomSelBtn.disabled = !usable; },
    scrolled: () => {
      scheduleDraw();
      if (missingRows()) requestFetch(60);
    },
  });
  const ro = new ResizeObserver(() => resize());
  ro.observe(stage);

  function applyParams(p) {
    m.highlight = new Set(Array.isArray(p.tids) ? p.tids : []);
    const a = Number.isFinite(p.start_ns) ? p.start_ns : m.home;
    const b = Number.isFinite(p.end_ns) ? p.end_ns : m.T1;
    setWindow(a, b > a ? b : m.T1, true);
    if (m.highlight.size) {
      const first = m.threads.find((t) => m.highlight.has(t.tid));
      if (first) scroller.scrollTop = Math.max(0, first.y - RULER_H - 40);
    }
  }

  // ---- start ----
  const ready = (ctx.summary || api.summary()).then((s) => {
    if (destroyed) return;
    m.setSummary(s);
    srList.replaceChildren(...m.threads.map((t) => h('li', { dataset: { tid: t.tid } }, `${t.name || '(unnamed)'} ${t.tid} (process ${t.pid})`)));
    resize();
    applyParams(ctx.params || {});
  });

  // Where things are drawn, in client coordinates: for tests and debugging.
  root.probe = {
    window: () => ({ start_ns: m.v0, end_ns: m.v1 }),
    findSpan(stateName, tid) {
      if (!m.data) return null;
      const r = canvas.getBoundingClientRect();
      const st = STATES.indexOf(stateName);
      for (const t of m.threads) {
        if (tid !== undefined && t.tid !== tid) continue;
        const row = m.rowsByTid.get(t.tid);
        if (!row) continue;
        for (const sp of row.spans) {
          const x0 = Math.max(LABEL_W, m.xOf(sp.s)), x1 = Math.min(m.width, m.xOf(sp.e));
          if (sp.state === st && !sp.merged && x1 - x0 >= 6) {
            return { tid: t.tid, x: r.left + (x0 + x1) / 2, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H / 2 };
          }
        }
      }
      return null;
    },
    findTask(name) {
      if (!m.data) return null;
      const r = canvas.getBoundingClientRect();
      for (const { task, lane } of m.taskLayout) {
        const x0 = Math.max(LABEL_W, m.xOf(task.s)), x1 = Math.min(m.width, m.xOf(task.e));
        if (task.name === name && x1 - x0 >= 4) return { id: task.id, x: r.left + (x0 + x1) / 2, y: r.top + m.taskLaneY(lane) + TASK_H / 2 - scroller.scrollTop };
      }
      return null;
    },
    findRegion(name) {
      if (!m.data) return null;
      const r = canvas.getBoundingClientRect();
      for (const t of m.threads) {
        const row = m.rowsByTid.get(t.tid);
        for (const rg of (row ? row.regions : [])) {
          const x0 = Math.max(LABEL_W, m.xOf(rg.s)), x1 = Math.min(m.width, m.xOf(rg.e));
          if (rg.name === name && x1 - x0 >= 4) return { tid: t.tid, x: r.left + (x0 + x1) / 2, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H + 2 + rg.depth * REGION_H + REGION_H / 2 };
        }
      }
      return null;
    },
    findCreate() {
      if (!m.data) return null;
      const r = canvas.getBoundingClientRect();
      for (const c of m.data.creates) {
        const t = m.thread(c.parent);
        const x = m.xOf(c.t0);
        if (t && x > LABEL_W && x < m.width) return { parent: c.parent, child: c.child, x: r.left + x, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H / 2 };
      }
      return null;
    },
    counts: () => (m.data ? { rows: m.data.rows.size, tasks: m.data.tasks.length, wakes: m.data.wakes.length, creates: m.data.creates.length } : null),
  };

  return ready.then(() => ({
    unmount() {
      destroyed = true;
      if (fetchCtl) fetchCtl.abort();
      clearTimeout(fetchTimer);
      clearTimeout(paramsTimer);
      ro.disconnect();
      detachInput();
      if (raf) cancelAnimationFrame(raf);
    },
    update(p) {
      applyParams(p || {});
    },
  }));
}

export default { id: 'timeline', title: 'Timeline', mount };
