// timeline.js - the Timeline view: one canvas with a time ruler, a lane of
// tasks, and one row per thread (grouped by process, in creation order)
// showing its states over time, its regions as nested slices and its logs
// as markers; wake-up edges and thread creations as arrows between rows.
// Zoom (wheel, W/S), pan (drag, A/D), zoom to a shift-drag selection, reset
// (0); hover for a tooltip; click for the details panel, which fetches the
// event's stack and, for a blocked span, links to the wake-up that ended it.
//
// Data: /api/summary (threads), then /api/timeline for each visible window,
// in the compact binary form of src/serve/timeline_bin.c (docs/API.md),
// already fitted to the canvas' pixel width by the server; /api/event on
// click. Nothing here knows the trace format.
import { formatDuration } from './format.js';
import { h } from './dom.js';

const STATES = ['running', 'sync', 'net', 'io', 'poll', 'sleep', 'syscall'];
const STATE_LABELS = {
  running: 'Running', sync: 'Sync block', net: 'Network', io: 'File I/O',
  poll: 'Polling', sleep: 'Sleeping', syscall: 'Other syscall',
};
const FALLBACK_COLORS = {
  running: '#3a9a5b', sync: '#d1495b', net: '#7356b0', io: '#e39a2d',
  poll: '#2896a0', sleep: '#8da2ba', syscall: '#c2692a',
};

// Layout, in CSS pixels.
const LABEL_W = 200;
const RULER_H = 30;
const STATE_H = 16;
const LOG_H = 8;
const REGION_H = 16;
const ROW_PAD = 6;
const PROC_H = 24;
const TASK_H = 16;
const MAX_TASK_LANES = 6;
const MAGIC = 0x314c5443; // "CTL1"

// ---- the binary answer of /api/timeline ----

function decode(buf) {
  const dv = new DataView(buf);
  let o = 0;
  const u32 = () => { const v = dv.getUint32(o, true); o += 4; return v; };
  const u16 = () => { const v = dv.getUint16(o, true); o += 2; return v; };
  const u8 = () => dv.getUint8(o++);
  const f64 = () => { const v = dv.getFloat64(o, true); o += 8; return v; };
  if (u32() !== MAGIC) throw new Error('not a ctrace timeline answer');
  const nrows = u32();
  const out = { start: f64(), end: f64(), nsPerPx: f64(), rows: new Map(), tasks: [], wakes: [], wakesTotal: 0, creates: [] };
  const nstr = u32();
  u32(); // bytes of the string table
  const dec = new TextDecoder();
  const strings = new Array(nstr);
  for (let i = 0; i < nstr; i++) {
    const len = u16();
    strings[i] = dec.decode(new Uint8Array(buf, o, len));
    o += len;
  }
  for (let r = 0; r < nrows; r++) {
    const tid = u32();
    const ns = u32(), nr = u32(), nl = u32();
    const spans = new Array(ns);
    for (let i = 0; i < ns; i++) {
      const s = f64(), e = f64(), state = u8(), merged = u8();
      u16();
      spans[i] = { s, e, state, merged, n: u32() };
    }
    const regions = new Array(nr);
    for (let i = 0; i < nr; i++) {
      const s = f64(), e = f64(), task = f64(), name = strings[u32()], n = u32(), depth = u16(), flags = u16();
      regions[i] = { s, e, task, name, n, depth, open: !!(flags & 1), merged: !!(flags & 2) };
    }
    const logs = new Array(nl);
    for (let i = 0; i < nl; i++) {
      const t = f64(), task = f64(), category = strings[u32()], message = strings[u32()];
      logs[i] = { t, task, category, message, n: u32() };
    }
    out.rows.set(tid, { spans, regions, logs });
  }
  const nt = u32();
  for (let i = 0; i < nt; i++) {
    const s = f64(), e = f64(), id = f64(), parent = f64(), name = strings[u32()];
    const beginTid = u32(), endTid = u32(), open = u32() !== 0, ntouch = u32();
    const touches = [];
    for (let k = 0; k < ntouch; k++) touches.push({ tid: u32(), first: f64(), last: f64() });
    out.tasks.push({ s, e, id, parent, name, beginTid, endTid, open, touches });
  }
  const nw = u32();
  out.wakesTotal = u32();
  for (let i = 0; i < nw; i++) {
    const t = f64(), from = u32(), to = u32(), reason = u32();
    u32();
    out.wakes.push({ t, from, to, reason, object: f64() });
  }
  const nc = u32();
  for (let i = 0; i < nc; i++) out.creates.push({ t0: f64(), t1: f64(), parent: u32(), child: u32() });
  return out;
}

// ---- time formatting for the ruler and the panel ----

const UNITS = [[1e9, 's'], [1e6, 'ms'], [1e3, 'µs'], [1, 'ns']];

// The unit follows the window's magnitude (8.4 s, not 8400 ms), the
// decimals the tick step (10.000001 s at deep zoom).
function tickLabel(t, step, magnitude) {
  const [scale, unit] = UNITS.find(([s]) => magnitude >= s) || UNITS[3];
  const decimals = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / scale) - 1e-9)));
  return `${(t / scale).toFixed(decimals)} ${unit}`;
}

function formatAt(ns) {
  // an instant since the trace start, precise to the ns at deep zoom
  if (Math.abs(ns) >= 1e9) return `${(ns / 1e9).toFixed(9)} s`;
  if (Math.abs(ns) >= 1e6) return `${(ns / 1e6).toFixed(6)} ms`;
  if (Math.abs(ns) >= 1e3) return `${(ns / 1e3).toFixed(3)} µs`;
  return `${ns} ns`;
}

function niceStep(minStep) {
  const p = 10 ** Math.floor(Math.log10(Math.max(minStep, 1)));
  for (const m of [1, 2, 5, 10]) if (p * m >= minStep) return p * m;
  return p * 10;
}

function hashHue(s) {
  let x = 2166136261;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 16777619);
  return (x >>> 0) % 360;
}

// ---- the view ----

function mount(container, ctx) {
  const api = ctx.api;
  const css = getComputedStyle(document.documentElement);
  const color = {};
  for (const s of STATES) color[s] = css.getPropertyValue(`--state-${s}`).trim() || FALLBACK_COLORS[s];

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

  // state
  let summary = null;
  let threads = []; // {tid, name, pid, first, last, depth, y, h}
  let rowsByTid = new Map();
  let procs = []; // {pid, label, y}
  let taskLanes = 0;
  let tasksY = RULER_H;
  let totalH = 0;
  let T0 = 0, T1 = 1; // the trace
  let home = 0; // where the whole-trace view starts: a little before the first event
  let v0 = 0, v1 = 1; // the window
  let data = null; // decoded answer
  let highlight = new Set();
  let selection = null; // {s, e} being / been shift-dragged
  let selected = null; // {kind, ...} shown in the panel
  let hover = null;
  let fetchCtl = null;
  let fetchTimer = 0;
  let raf = 0;
  let destroyed = false;
  let width = 800, height = 400, dpr = 1;
  let taskLayout = []; // {task, lane}
  let lanesWanted = MAX_TASK_LANES; // fixed after the first answer, so rows do not jump

  const plotW = () => Math.max(10, width - LABEL_W);
  const xOf = (t) => LABEL_W + ((t - v0) / (v1 - v0)) * plotW();
  const tOf = (x) => v0 + ((x - LABEL_W) / plotW()) * (v1 - v0);

  function layout() {
    let y = RULER_H;
    tasksY = y;
    taskLanes = 0;
    if (summary && (summary.tasks || 0) > 0) {
      taskLanes = lanesWanted;
      y += 18 + taskLanes * (TASK_H + 2) + 6;
    }
    procs = [];
    let pid = null;
    for (const t of threads) {
      if (t.pid !== pid) {
        pid = t.pid;
        const p = (summary.process_list || []).find((x) => x.pid === pid);
        const exe = p ? String(p.exe).split('/').pop() : '';
        procs.push({ pid, label: `Process ${pid}${exe ? ` · ${exe}` : ''}`, y });
        y += PROC_H;
      }
      t.y = y;
      t.h = ROW_PAD + LOG_H + STATE_H + 2 + t.depth * REGION_H + ROW_PAD;
      y += t.h;
    }
    totalH = y + 10;
    spacer.style.height = `${Math.max(0, totalH - height)}px`;
  }

  function resize() {
    const r = stage.getBoundingClientRect();
    width = Math.max(300, Math.floor(r.width));
    height = Math.max(200, Math.floor(r.height));
    dpr = window.devicePixelRatio || 1;
    canvas.width = Math.floor(width * dpr);
    canvas.height = Math.floor(height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
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
    if (destroyed || !summary) return;
    if (fetchCtl) fetchCtl.abort();
    const ctl = new AbortController();
    fetchCtl = ctl;
    const a = Math.floor(v0), b = Math.ceil(v1);
    // With many threads, only the rows on screen (and a screen's worth
    // around them) are asked for; scrolling asks for more.
    const rows = wantedRows();
    const url = `/api/timeline?start_ns=${a}&end_ns=${b}&width=${Math.round(plotW())}${rows ? `&tids=${rows.join(',')}` : ''}`;
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
      const first = !data;
      data = d;
      rowsByTid = d.rows;
      layoutTasks();
      if (first) {
        const used = taskLayout.reduce((m, x) => Math.max(m, x.lane + 1), 0);
        lanesWanted = Math.max(1, Math.min(MAX_TASK_LANES, used));
        layout();
        layoutTasks();
      }
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
  function visibleRows(margin) {
    const top = scroller.scrollTop - margin, bottom = scroller.scrollTop + height + margin;
    return threads.filter((t) => t.y + t.h >= top && t.y <= bottom);
  }
  function wantedRows() {
    if (threads.length <= MANY_ROWS) return null;
    return visibleRows(height).map((t) => t.tid);
  }
  function missingRows() {
    return threads.length > MANY_ROWS && visibleRows(0).some((t) => !rowsByTid.has(t.tid));
  }

  function showNote() {
    if (data && data.wakesTotal > wakesShown().length) {
      note.textContent = `${data.wakesTotal.toLocaleString()} wake-ups in view: zoom in to see their arrows`;
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  function layoutTasks() {
    // greedy lanes by start; tasks that fit no lane are drawn in the last
    const lanes = Math.max(1, taskLanes || MAX_TASK_LANES);
    const ends = new Array(lanes).fill(-Infinity);
    const minGap = (v1 - v0) / plotW() * 3;
    taskLayout = [];
    const tasks = [...data.tasks].sort((x, y) => x.s - y.s);
    for (const t of tasks) {
      let lane = ends.findIndex((e) => e + minGap <= t.s);
      if (lane < 0) lane = lanes - 1;
      ends[lane] = Math.max(ends[lane], t.e);
      taskLayout.push({ task: t, lane });
    }
  }

  // ---- drawing ----
  function scheduleDraw() {
    if (!raf) raf = requestAnimationFrame(() => { raf = 0; draw(); });
  }

  function draw() {
    if (destroyed) return;
    const tDraw = performance.now();
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = '12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
    g.textBaseline = 'middle';
    const scrollY = scroller.scrollTop;
    rangeLabel.textContent = `${formatAt(Math.round(v0))} – ${formatAt(Math.round(v1))} (${formatDuration(v1 - v0)} shown)`;

    // rows (under the ruler, scrolled)
    g.save();
    g.beginPath();
    g.rect(0, RULER_H, width, height - RULER_H);
    g.clip();
    g.translate(0, -scrollY);
    drawGrid(g, scrollY);
    if (taskLanes) drawTasks(g);
    for (const p of procs) drawProcess(g, p);
    for (const t of threads) {
      if (t.y + t.h < scrollY + RULER_H || t.y > scrollY + height) continue;
      drawThread(g, t);
    }
    drawEdges(g);
    drawSelectedTask(g);
    g.restore();
    drawRuler(g);
    drawSelection(g);
    root.dataset.drawMs = (performance.now() - tDraw).toFixed(1); // for tests and tuning
  }

  function ticks() {
    const step = niceStep(((v1 - v0) / plotW()) * 110);
    const out = [];
    for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) out.push(t);
    return { step, out };
  }

  function drawGrid(g, scrollY) {
    const { out } = ticks();
    g.strokeStyle = '#eceff3';
    g.lineWidth = 1;
    g.beginPath();
    for (const t of out) {
      const x = Math.round(xOf(t)) + 0.5;
      g.moveTo(x, scrollY + RULER_H);
      g.lineTo(x, scrollY + height);
    }
    g.stroke();
  }

  function drawRuler(g) {
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, width, RULER_H);
    g.strokeStyle = '#c5cbd3';
    g.beginPath();
    g.moveTo(0, RULER_H - 0.5);
    g.lineTo(width, RULER_H - 0.5);
    g.stroke();
    const { step, out } = ticks();
    g.fillStyle = '#5b6573';
    g.textAlign = 'left';
    let lastEnd = LABEL_W;
    for (const t of out) {
      const x = xOf(t);
      if (x < LABEL_W) continue;
      g.beginPath();
      g.moveTo(Math.round(x) + 0.5, RULER_H - 8);
      g.lineTo(Math.round(x) + 0.5, RULER_H);
      g.stroke();
      const label = tickLabel(t, step, Math.max(Math.abs(v0), Math.abs(v1), step));
      const w = g.measureText(label).width;
      if (x + 4 >= lastEnd + 8 && x + 4 + w < width) {
        g.fillText(label, x + 4, RULER_H / 2 - 2);
        lastEnd = x + 4 + w;
      }
    }
    g.fillStyle = '#1d2430';
    g.font = '600 12px system-ui, sans-serif';
    g.fillText('Time since trace start', 10, RULER_H / 2 - 2);
    g.font = '12px system-ui, sans-serif';
  }

  function label(g, text, x, y, maxW, colorText = '#1d2430') {
    if (maxW < 14) return;
    g.fillStyle = colorText;
    let s = text;
    if (g.measureText(s).width > maxW) {
      while (s.length > 1 && g.measureText(`${s}…`).width > maxW) s = s.slice(0, -1);
      s = `${s}…`;
      if (s.length <= 2) return;
    }
    g.fillText(s, x, y);
  }

  function drawProcess(g, p) {
    g.fillStyle = '#eef1f5';
    g.fillRect(0, p.y, width, PROC_H);
    g.fillStyle = '#1d2430';
    g.font = '600 12px system-ui, sans-serif';
    g.textAlign = 'left';
    g.fillText(p.label, 10, p.y + PROC_H / 2);
    g.font = '12px system-ui, sans-serif';
  }

  function drawTasks(g) {
    const y0 = tasksY;
    g.fillStyle = '#fafbfc';
    g.fillRect(0, y0, width, 18 + taskLanes * (TASK_H + 2) + 6);
    g.fillStyle = '#1d2430';
    g.font = '600 12px system-ui, sans-serif';
    g.textAlign = 'left';
    g.fillText('Tasks', 10, y0 + 10);
    g.font = '12px system-ui, sans-serif';
    if (!data) return;
    const labelEnd = [];
    for (const { task, lane } of taskLayout) {
      const x0 = Math.max(LABEL_W, xOf(task.s));
      const x1 = Math.min(width, xOf(task.e));
      if (x1 < LABEL_W || x0 > width) continue;
      const y = y0 + 18 + lane * (TASK_H + 2);
      const w = Math.max(1, x1 - x0);
      const hue = 25 + (hashHue(task.name) % 40); // warm: apart from the states' colours
      const sel = selected && selected.kind === 'task' && selected.id === task.id;
      g.fillStyle = `hsl(${hue} 70% ${sel ? 66 : 82}%)`;
      g.fillRect(x0, y, w, TASK_H);
      if (sel) {
        g.strokeStyle = '#1f5fbf';
        g.lineWidth = 2;
        g.strokeRect(x0 + 1, y + 1, w - 2, TASK_H - 2);
        g.lineWidth = 1;
      }
      // a label only where it overlaps no other (the last lane takes the
      // tasks that fit nowhere else, so they may overlap there)
      if (w > 30 && x0 >= (labelEnd[lane] || 0)) {
        label(g, task.name, x0 + 4, y + TASK_H / 2, w - 8);
        labelEnd[lane] = x1;
      }
    }
    g.strokeStyle = '#dde1e6';
    g.beginPath();
    const yb = y0 + 18 + taskLanes * (TASK_H + 2) + 5.5;
    g.moveTo(0, yb);
    g.lineTo(width, yb);
    g.stroke();
  }

  function drawThread(g, t) {
    const row = rowsByTid.get(t.tid);
    const hl = highlight.has(t.tid);
    if (hl) {
      g.fillStyle = '#e7effb';
      g.fillRect(0, t.y, width, t.h);
    }
    // separator
    g.strokeStyle = '#eceff3';
    g.beginPath();
    g.moveTo(0, t.y + t.h - 0.5);
    g.lineTo(width, t.y + t.h - 0.5);
    g.stroke();
    // label column
    g.textAlign = 'left';
    const ys = t.y + ROW_PAD + LOG_H;
    g.font = hl ? '600 12px system-ui, sans-serif' : '12px system-ui, sans-serif';
    label(g, t.name || '(unnamed)', 12, ys + STATE_H / 2, LABEL_W - 80, '#1d2430');
    g.font = '11px ui-monospace, "DejaVu Sans Mono", monospace';
    g.fillStyle = '#5b6573';
    g.textAlign = 'right';
    g.fillText(String(t.tid), LABEL_W - 10, ys + STATE_H / 2);
    g.textAlign = 'left';
    g.font = '12px system-ui, sans-serif';
    g.save();
    g.beginPath();
    g.rect(LABEL_W, t.y, width - LABEL_W, t.h);
    g.clip();
    // outside the thread's life
    const xa = xOf(t.first), xb = xOf(t.last);
    g.fillStyle = hatch(g);
    if (xa > LABEL_W) g.fillRect(LABEL_W, ys, Math.min(xa, width) - LABEL_W, STATE_H);
    if (xb < width) g.fillRect(Math.max(xb, LABEL_W), ys, width - Math.max(xb, LABEL_W), STATE_H);
    if (row) {
      for (const s of row.spans) {
        const x0 = xOf(s.s), x1 = xOf(s.e);
        g.fillStyle = color[STATES[s.state]] || '#999';
        g.fillRect(x0, ys, Math.max(1, x1 - x0), STATE_H);
      }
      // selected span outline
      if (selected && selected.kind === 'span' && selected.tid === t.tid) {
        g.strokeStyle = '#1d2430';
        g.lineWidth = 2;
        const x0 = xOf(selected.s), x1 = xOf(selected.e);
        g.strokeRect(x0 + 1, ys + 1, Math.max(2, x1 - x0 - 2), STATE_H - 2);
        g.lineWidth = 1;
      }
      // regions
      for (const r of row.regions) {
        const x0 = Math.max(LABEL_W - 2, xOf(r.s));
        const x1 = Math.min(width + 2, xOf(r.e));
        const y = ys + STATE_H + 2 + r.depth * REGION_H;
        const w = Math.max(1, x1 - x0);
        if (r.merged) {
          g.fillStyle = '#b8c2cf';
          g.fillRect(x0, y + 1, w, REGION_H - 2);
          continue;
        }
        const hue = 195 + (hashHue(r.name) % 50); // cool light blues, lighter than any state
        const sel = selected && selected.kind === 'region' && selected.tid === t.tid && selected.s === r.s;
        g.fillStyle = `hsl(${hue} 40% ${sel ? 70 : 86}%)`;
        g.fillRect(x0, y + 1, w, REGION_H - 2);
        g.strokeStyle = `hsl(${hue} 35% ${sel ? 30 : 60}%)`;
        g.lineWidth = sel ? 2 : 1;
        if (w > 2) g.strokeRect(x0 + 0.5, y + 1.5, w - 1, REGION_H - 3);
        g.lineWidth = 1;
        if (w > 24) label(g, r.name + (r.open ? ' (not ended)' : ''), Math.max(x0, LABEL_W) + 4, y + REGION_H / 2, Math.min(x1, width) - Math.max(x0, LABEL_W) - 8, '#1d2430');
      }
      // logs: triangles, or thin ticks where they crowd
      const dense = row.logs.length > plotW() / 12;
      g.fillStyle = dense ? '#8a94a3' : '#1d2430';
      for (const l of row.logs) {
        const x = xOf(l.t);
        const y = t.y + ROW_PAD;
        if (dense) {
          g.fillRect(x, y + 1, 1, LOG_H - 2);
          continue;
        }
        g.beginPath();
        g.moveTo(x - 4, y);
        g.lineTo(x + 4, y);
        g.lineTo(x, y + LOG_H - 1);
        g.closePath();
        g.fill();
      }
    }
    g.restore();
  }

  let hatchPattern = null;
  function hatch(g) {
    if (hatchPattern) return hatchPattern;
    const c = document.createElement('canvas');
    c.width = 8;
    c.height = 8;
    const x = c.getContext('2d');
    x.fillStyle = '#f1f3f6';
    x.fillRect(0, 0, 8, 8);
    x.strokeStyle = '#d5dae1';
    x.beginPath();
    x.moveTo(0, 8);
    x.lineTo(8, 0);
    x.stroke();
    hatchPattern = g.createPattern(c, 'repeat');
    return hatchPattern;
  }

  function rowY(tid) {
    const t = threads.find((x) => x.tid === tid);
    return t ? t.y + ROW_PAD + LOG_H + STATE_H / 2 : null;
  }

  function arrow(g, x0, y0, x1, y1, col, dashed) {
    g.strokeStyle = col;
    g.fillStyle = col;
    g.lineWidth = 1.5;
    g.setLineDash(dashed ? [4, 3] : []);
    g.beginPath();
    g.moveTo(x0, y0);
    g.lineTo(x1, y1);
    g.stroke();
    g.setLineDash([]);
    const a = Math.atan2(y1 - y0, x1 - x0);
    g.beginPath();
    g.moveTo(x1, y1);
    g.lineTo(x1 - 7 * Math.cos(a - 0.45), y1 - 7 * Math.sin(a - 0.45));
    g.lineTo(x1 - 7 * Math.cos(a + 0.45), y1 - 7 * Math.sin(a + 0.45));
    g.closePath();
    g.fill();
    g.lineWidth = 1;
  }

  // Wake-up arrows only while they can be told apart: one per 8 px at most.
  function wakesShown() {
    return data && data.wakes.length <= plotW() / 8 ? data.wakes : [];
  }

  function drawEdges(g) {
    if (!data) return;
    g.save();
    g.beginPath();
    g.rect(LABEL_W, 0, width - LABEL_W, totalH);
    g.clip();
    for (const c of data.creates) {
      const y0 = rowY(c.parent), y1 = rowY(c.child);
      if (y0 === null || y1 === null) continue;
      arrow(g, xOf(c.t0), y0, xOf(c.t1), y1 + (y1 > y0 ? -STATE_H / 2 : STATE_H / 2), '#1f5fbf', true);
    }
    for (const w of wakesShown()) {
      const y0 = rowY(w.from), y1 = rowY(w.to);
      if (y0 === null || y1 === null) continue;
      const x = xOf(w.t);
      const sel = selected && selected.kind === 'wake' && selected.tid === w.from && Math.abs(selected.ns - w.t) < 1;
      arrow(g, x, y0, x, y1 + (y1 > y0 ? -STATE_H / 2 : STATE_H / 2), sel ? '#d1495b' : 'rgba(29,36,48,0.55)', false);
    }
    g.restore();
  }

  function drawSelectedTask(g) {
    if (!selected || selected.kind !== 'task' || !selected.touches) return;
    g.save();
    g.beginPath();
    g.rect(LABEL_W, 0, width - LABEL_W, totalH);
    g.clip();
    const lane = taskLayout.find((x) => x.task.id === selected.id);
    const ty = lane ? tasksY + 18 + lane.lane * (TASK_H + 2) + TASK_H : tasksY;
    for (const tc of selected.touches) {
      const t = threads.find((x) => x.tid === tc.tid);
      if (!t) continue;
      const x0 = xOf(Math.max(tc.first, selected.s)), x1 = xOf(Math.min(tc.last, selected.e));
      const y = t.y + ROW_PAD + LOG_H - 3;
      g.strokeStyle = '#1f5fbf';
      g.lineWidth = 2;
      g.strokeRect(x0, y, Math.max(2, x1 - x0), STATE_H + 6);
      g.setLineDash([3, 3]);
      g.beginPath();
      g.moveTo(x0, ty);
      g.lineTo(x0, y);
      g.stroke();
      g.setLineDash([]);
    }
    g.restore();
  }

  function drawSelection(g) {
    if (!selection) return;
    const x0 = Math.max(LABEL_W, xOf(Math.min(selection.s, selection.e)));
    const x1 = Math.min(width, xOf(Math.max(selection.s, selection.e)));
    g.fillStyle = 'rgba(31,95,191,0.12)';
    g.fillRect(x0, 0, x1 - x0, height);
    g.strokeStyle = 'rgba(31,95,191,0.7)';
    g.strokeRect(x0 + 0.5, 0.5, x1 - x0 - 1, height - 1);
    const text = formatDuration(Math.abs(selection.e - selection.s));
    g.font = '600 12px system-ui, sans-serif';
    const w = g.measureText(text).width + 10;
    g.fillStyle = '#1f5fbf';
    g.fillRect((x0 + x1) / 2 - w / 2, 4, w, 20);
    g.fillStyle = '#fff';
    g.textAlign = 'center';
    g.fillText(text, (x0 + x1) / 2, 14);
    g.textAlign = 'left';
    g.font = '12px system-ui, sans-serif';
  }

  // ---- hit testing ----
  function hit(x, yCanvas) {
    if (x < LABEL_W || yCanvas < RULER_H || !data) return null;
    const y = yCanvas + scroller.scrollTop;
    const t = tOf(x);
    const slack = ((v1 - v0) / plotW()) * 3;
    if (taskLanes && y >= tasksY + 18 && y < tasksY + 18 + taskLanes * (TASK_H + 2)) {
      const lane = Math.floor((y - tasksY - 18) / (TASK_H + 2));
      let best = null;
      for (const tl of taskLayout) {
        if (tl.lane === lane && tl.task.s - slack <= t && t <= tl.task.e + slack) {
          if (!best || tl.task.e - tl.task.s < best.e - best.s) best = tl.task;
        }
      }
      return best ? { kind: 'task', task: best } : null;
    }
    const th = threads.find((r) => y >= r.y && y < r.y + r.h);
    if (!th) return null;
    const row = rowsByTid.get(th.tid);
    if (!row) return null;
    const ys = th.y + ROW_PAD + LOG_H;
    // wake arrows near the pointer
    for (const w of wakesShown()) {
      if (Math.abs(xOf(w.t) - x) <= 3) {
        const ya = rowY(w.from), yb = rowY(w.to);
        if (ya !== null && yb !== null && y >= Math.min(ya, yb) - 4 && y <= Math.max(ya, yb) + 4 && (w.from === th.tid || w.to === th.tid || (y > Math.min(ya, yb) && y < Math.max(ya, yb)))) {
          if (Math.abs(y - ys - STATE_H / 2) > STATE_H / 2 || w.from === th.tid) return { kind: 'wake', wake: w, thread: th };
        }
      }
    }
    // thread creation: the start of the arrow, on the creator's row
    for (const c of data.creates) {
      if (c.parent === th.tid && Math.abs(xOf(c.t0) - x) <= 4 && y >= ys - 2 && y <= ys + STATE_H + 2) return { kind: 'create', create: c, thread: th };
    }
    if (y < ys) {
      let best = null;
      for (const l of row.logs) if (Math.abs(xOf(l.t) - x) <= 5 && (!best || Math.abs(l.t - t) < Math.abs(best.t - t))) best = l;
      return best ? { kind: 'log', log: best, thread: th } : null;
    }
    if (y < ys + STATE_H) {
      if (t < th.first || t > th.last) return { kind: 'outside', thread: th, t };
      const s = row.spans.find((sp) => sp.s <= t + slack / 3 && t - slack / 3 < sp.e);
      return s ? { kind: 'span', span: s, thread: th, t } : null;
    }
    const depth = Math.floor((y - ys - STATE_H - 2) / REGION_H);
    const r = row.regions.find((rg) => rg.depth === depth && rg.s - slack / 3 <= t && t <= rg.e + slack / 3);
    return r ? { kind: 'region', region: r, thread: th } : null;
  }

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
    tip.style.left = `${Math.max(4, Math.min(x + 14, width - tw - 4))}px`;
    tip.style.top = `${y + 18 + th > height ? y - th - 8 : y + 18}px`;
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
        h('button', { type: 'button', class: 'tl-close', 'aria-label': 'Close details', onclick: () => { selected = null; panel.hidden = true; resize(); } }, '×')),
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
      selected = { kind: 'span', tid: o.thread.tid, s: o.span.s, e: o.span.e };
      url = `/api/event?kind=span&tid=${o.thread.tid}&ns=${ns}`;
    } else if (o.kind === 'region' && !o.region.merged) {
      selected = { kind: 'region', tid: o.thread.tid, s: o.region.s };
      url = `/api/event?kind=region&tid=${o.thread.tid}&ns=${Math.round(o.region.s)}`;
    } else if (o.kind === 'log') {
      selected = { kind: 'log', tid: o.thread.tid, ns: o.log.t };
      url = `/api/event?kind=log&tid=${o.thread.tid}&ns=${Math.round(o.log.t)}`;
    } else if (o.kind === 'task') {
      selected = { kind: 'task', id: o.task.id, s: o.task.s, e: o.task.e, touches: o.task.touches };
      url = `/api/event?kind=task&id=${o.task.id}`;
    } else if (o.kind === 'create') {
      selected = { kind: 'create', tid: o.thread.tid, ns: o.create.t0, child: o.create.child, started: o.create.t1 };
      url = `/api/event?kind=create&tid=${o.thread.tid}&ns=${Math.round(o.create.t0)}`;
    } else if (o.kind === 'wake') {
      selected = { kind: 'wake', tid: o.wake.from, ns: o.wake.t };
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
    const t = threads.find((x) => x.tid === tid);
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
      actions.push(h('button', { type: 'button', class: 'tl-btn', onclick: () => { highlight = new Set((d.threads || []).map((t) => t.tid)); setWindow(d.start_ns, d.end_ns, true); } }, 'Zoom to task'));
    } else if (d.kind === 'create') {
      title = 'Thread created';
      rows.push(row('Creator', threadName(d.tid)), row('Created', selected && selected.child ? threadName(selected.child) : undefined),
        row('At', formatAt(d.event_ns), 'mono'), row('Started after', selected && selected.started ? formatDuration(selected.started - d.event_ns) : undefined));
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
    const span = Math.min(v1 - v0, Math.max(8 * (blockedNs || 0), 20000));
    const half = Math.min(span, (T1 - T0)) / 2;
    setWindow(w.ns - half, w.ns + half, true);
    const th = threads.find((x) => x.tid === w.tid);
    if (th) scroller.scrollTop = Math.max(0, th.y - RULER_H - 60);
    selected = { kind: 'wake', tid: w.tid, ns: w.ns };
    root.dataset.details = 'loading';
    try {
      const d = await api.getJSON('/api/event', { kind: 'wake', tid: w.tid, ns: Math.round(w.ns) });
      if (destroyed) return;
      selected.ns = d.event_ns;
      showDetails(d);
      root.dataset.details = 'ready';
    } catch (e) {
      openPanel('Wake-up', h('p', { class: 'tl-error' }, e.message));
      root.dataset.details = 'error';
    }
    draw();
  }

  // ---- navigation ----
  function setWindow(a, b, fetchNow = false) {
    const minSpan = 1000; // 1 µs
    let s = a, e = b;
    if (e - s < minSpan) {
      const m = (s + e) / 2;
      s = m - minSpan / 2;
      e = m + minSpan / 2;
    }
    const span = Math.min(e - s, (T1 - T0) * 1.0);
    if (s < T0) { s = T0; e = s + span; }
    if (e > T1) { e = T1; s = Math.max(T0, e - span); }
    v0 = s;
    v1 = e;
    requestFetch(fetchNow ? 0 : 40);
    scheduleDraw();
    if (ctx.setParams) {
      clearTimeout(setWindow.t);
      setWindow.t = setTimeout(() => {
        if (destroyed) return;
        const p = { start_ns: Math.round(v0), end_ns: Math.round(v1) };
        if (highlight.size) p.tids = [...highlight];
        ctx.setParams(p);
      }, 300);
    }
  }

  function zoomBy(f, at) {
    const c = at === undefined ? (v0 + v1) / 2 : at;
    setWindow(c - (c - v0) * f, c + (v1 - c) * f);
  }
  function panBy(frac) {
    const d = (v1 - v0) * frac;
    setWindow(v0 + d, v1 + d);
  }
  function reset() {
    selection = null;
    zoomSelBtn.disabled = true;
    setWindow(home, T1, true);
  }
  function zoomToSelection() {
    if (!selection) return;
    const a = Math.min(selection.s, selection.e), b = Math.max(selection.s, selection.e);
    selection = null;
    zoomSelBtn.disabled = true;
    setWindow(a, b, true);
  }

  // ---- input ----
  let drag = null;
  canvas.addEventListener('mousedown', (e) => {
    if (e.button !== 0) return;
    canvas.focus();
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    drag = { x0: x, y0: e.clientY - r.top, v0, v1, moved: false, select: e.shiftKey && x >= LABEL_W };
    if (drag.select) {
      selection = { s: tOf(x), e: tOf(x) };
      zoomSelBtn.disabled = true;
    }
  });
  const onMove = (e) => {
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (drag) {
      if (Math.abs(x - drag.x0) > 3) drag.moved = true;
      if (drag.select) {
        selection.e = tOf(Math.max(LABEL_W, Math.min(width, x)));
        scheduleDraw();
      } else if (drag.moved) {
        const dt = ((x - drag.x0) / plotW()) * (drag.v1 - drag.v0);
        setWindow(drag.v0 - dt, drag.v1 - dt);
        canvas.style.cursor = 'grabbing';
      }
      tip.hidden = true;
      return;
    }
    if (e.target !== canvas) return;
    hover = hit(x, y);
    canvas.style.cursor = hover && hover.kind !== 'outside' ? 'pointer' : 'default';
    showTip(hover, x, y);
  };
  window.addEventListener('mousemove', onMove);
  const onUp = (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    canvas.style.cursor = 'default';
    if (d.select) {
      if (selection && Math.abs(xOf(selection.e) - xOf(selection.s)) > 3) zoomSelBtn.disabled = false;
      else selection = null;
      scheduleDraw();
      return;
    }
    if (!d.moved && e.target === canvas) {
      const r = canvas.getBoundingClientRect();
      select(hit(e.clientX - r.left, e.clientY - r.top));
    }
  };
  window.addEventListener('mouseup', onUp);
  canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
  canvas.addEventListener('wheel', (e) => {
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    if (e.shiftKey) {
      scroller.scrollTop += e.deltaY || e.deltaX;
      e.preventDefault();
      return;
    }
    e.preventDefault();
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      panBy(e.deltaX / plotW());
      return;
    }
    const f = Math.exp(Math.max(-1, Math.min(1, e.deltaY * (e.deltaMode ? 0.05 : 0.002))));
    zoomBy(f, x >= LABEL_W ? tOf(x) : undefined);
  }, { passive: false });
  scroller.addEventListener('scroll', () => {
    scheduleDraw();
    if (missingRows()) requestFetch(60);
  });
  const onKey = (e) => {
    if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (k === 'w') zoomBy(0.7, hover && hover.t !== undefined ? hover.t : undefined);
    else if (k === 's') zoomBy(1 / 0.7);
    else if (k === 'a') panBy(-0.15);
    else if (k === 'd') panBy(0.15);
    else if (k === '0') reset();
    else if (k === 'z') zoomToSelection();
    else if (k === 'escape') { selection = null; zoomSelBtn.disabled = true; scheduleDraw(); }
    else return;
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);
  const ro = new ResizeObserver(() => resize());
  ro.observe(stage);

  function applyParams(p) {
    highlight = new Set(Array.isArray(p.tids) ? p.tids : []);
    const a = Number.isFinite(p.start_ns) ? p.start_ns : home;
    const b = Number.isFinite(p.end_ns) ? p.end_ns : T1;
    setWindow(a, b > a ? b : T1, true);
    if (highlight.size) {
      const first = threads.find((t) => highlight.has(t.tid));
      if (first) scroller.scrollTop = Math.max(0, first.y - RULER_H - 40);
    }
  }

  // ---- start ----
  const ready = (ctx.summary || api.summary()).then((s) => {
    if (destroyed) return;
    summary = s;
    T0 = Number(s.start_ns) || 0;
    T1 = Math.max(T0 + 1, Number(s.end_ns) || 1);
    home = T0;
    const list = s.thread_list || (Array.isArray(s.threads) ? s.threads : []);
    // grouped by process, in creation order (the server's order is the order
    // of first events)
    const order = new Map();
    for (const t of list) if (!order.has(t.pid)) order.set(t.pid, order.size);
    // an unnamed main thread goes by its program's name
    const exeOf = new Map((s.process_list || []).map((p) => [p.pid, String(p.exe || '').split('/').pop()]));
    const nameOf = (t) => t.name || (t.tid === t.pid && exeOf.get(t.pid)) || '';
    threads = list.map((t, i) => ({ tid: t.tid, name: nameOf(t), pid: t.pid, first: t.first_ns, last: t.last_ns, depth: Math.min(t.max_depth || 0, 12), i }))
      .sort((x, y) => order.get(x.pid) - order.get(y.pid) || x.i - y.i);
    // the window starts a little before the first event (the trace's clock
    // may start well before it)
    if (threads.length) {
      const first = Math.min(...threads.map((t) => t.first));
      if (first > T0) home = Math.max(T0, Math.floor(first - (T1 - first) * 0.01));
    }
    srList.replaceChildren(...threads.map((t) => h('li', { dataset: { tid: t.tid } }, `${t.name || '(unnamed)'} ${t.tid} (process ${t.pid})`)));
    v0 = home;
    v1 = T1;
    resize();
    applyParams(ctx.params || {});
  });

  // Where things are drawn, in client coordinates: for tests and debugging.
  root.probe = {
    window: () => ({ start_ns: v0, end_ns: v1 }),
    findSpan(stateName, tid) {
      if (!data) return null;
      const r = canvas.getBoundingClientRect();
      const st = STATES.indexOf(stateName);
      for (const t of threads) {
        if (tid !== undefined && t.tid !== tid) continue;
        const row = rowsByTid.get(t.tid);
        if (!row) continue;
        for (const sp of row.spans) {
          const x0 = Math.max(LABEL_W, xOf(sp.s)), x1 = Math.min(width, xOf(sp.e));
          if (sp.state === st && !sp.merged && x1 - x0 >= 6) {
            return { tid: t.tid, x: r.left + (x0 + x1) / 2, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H / 2 };
          }
        }
      }
      return null;
    },
    findTask(name) {
      if (!data) return null;
      const r = canvas.getBoundingClientRect();
      for (const { task, lane } of taskLayout) {
        const x0 = Math.max(LABEL_W, xOf(task.s)), x1 = Math.min(width, xOf(task.e));
        if (task.name === name && x1 - x0 >= 4) return { id: task.id, x: r.left + (x0 + x1) / 2, y: r.top + tasksY + 18 + lane * (TASK_H + 2) + TASK_H / 2 - scroller.scrollTop };
      }
      return null;
    },
    findRegion(name) {
      if (!data) return null;
      const r = canvas.getBoundingClientRect();
      for (const t of threads) {
        const row = rowsByTid.get(t.tid);
        for (const rg of (row ? row.regions : [])) {
          const x0 = Math.max(LABEL_W, xOf(rg.s)), x1 = Math.min(width, xOf(rg.e));
          if (rg.name === name && x1 - x0 >= 4) return { tid: t.tid, x: r.left + (x0 + x1) / 2, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H + 2 + rg.depth * REGION_H + REGION_H / 2 };
        }
      }
      return null;
    },
    findCreate() {
      if (!data) return null;
      const r = canvas.getBoundingClientRect();
      for (const c of data.creates) {
        const t = threads.find((x) => x.tid === c.parent);
        const x = xOf(c.t0);
        if (t && x > LABEL_W && x < width) return { parent: c.parent, child: c.child, x: r.left + x, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H / 2 };
      }
      return null;
    },
    counts: () => (data ? { rows: data.rows.size, tasks: data.tasks.length, wakes: data.wakes.length, creates: data.creates.length } : null),
  };

  return ready.then(() => ({
    unmount() {
      destroyed = true;
      if (fetchCtl) fetchCtl.abort();
      clearTimeout(fetchTimer);
      ro.disconnect();
      window.removeEventListener('mousemove', onMove);
      window.removeEventListener('mouseup', onUp);
      document.removeEventListener('keydown', onKey);
      if (raf) cancelAnimationFrame(raf);
    },
    update(p) {
      applyParams(p || {});
    },
  }));
}

export default { id: 'timeline', title: 'Timeline', mount };
