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
import { critpathSection } from './critpath.js';
import { formatDuration, shortStackNote } from './format.js';
import { h } from './dom.js';
import { STATES, LATER_STATES, stateColor, stateHelp, stateLabel as stateLabelOf } from './states.js';
import {
  STATE_OF_BYTE, LABEL_W, RULER_H, STATE_H, LOG_H, REGION_H, ROW_PAD, TASK_H, COUNTER_H, PROC_H,
  createModel, decode, formatAt, rowKey,
} from './timeline-model.js';
import { createPainter } from './timeline-draw.js';
import { attachInput } from './timeline-input.js';
import { reportConnection } from './api.js';
import { createSearch } from './timeline-find.js';
import { rangeContents } from './timeline-range.js';
import { createOverview } from './timeline-overview.js';
import { createSamples } from './timeline-samples.js';
import { linkTip, procOf, procRows, endText, loadFlows, flowTip } from './timeline-procs.js';

// What outlives the view when another tab is shown (the window and the
// selection are in the URL, which the tab link keeps).
const remembered = { scrollTop: 0, tracks: null };

// the seven states, and those the state machine may add (runnable, blocked
// in a call ctrace does not see, not recorded): every code has a label
const STATE_LABELS = Object.fromEntries([...STATES, ...LATER_STATES].map((st) => [st.key, st.label]));
const STATE_KEYS = STATES.map((st) => st.key);

function mount(container, ctx) {
  const api = ctx.api;
  const color = {};
  for (const st of [...STATES, ...LATER_STATES]) color[st.key] = stateColor(st.key);
  const m = createModel();

  // DOM
  const legend = h('div', { class: 'tl-legend', role: 'list', 'aria-label': 'Legend' },
    STATES.map((st) => h('span', { class: 'tl-legend-item', role: 'listitem', title: stateHelp(st.key), dataset: { state: st.key } },
      h('span', { class: 'tl-swatch', style: `background:${color[st.key]}` }), st.label)),
    // the later states, shown once the window has some
    LATER_STATES.map((st) => h('span', { class: 'tl-legend-item', role: 'listitem', title: stateHelp(st.key), hidden: true, dataset: { state: st.key } },
      h('span', { class: 'tl-swatch', style: `background:${color[st.key]}` }), st.label)),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-swatch tl-sw-outside' }), 'Not started / exited'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-swatch tl-sw-region' }), 'Region'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-swatch tl-sw-task' }), 'Task'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-mark-log' }), 'Log'),
    h('span', { class: 'tl-legend-item', role: 'listitem', title: 'the recorder lost events of the thread here (no free buffer)' }, h('span', { class: 'tl-swatch tl-sw-drop' }), 'Events lost'),
    h('span', { class: 'tl-legend-item', role: 'listitem', title: 'values recorded with ctrace_counter()' }, h('span', { class: 'tl-swatch tl-sw-counter' }), 'Counter'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-mark-wake' }), 'Wake-up'),
    h('span', { class: 'tl-legend-item', role: 'listitem' }, h('span', { class: 'tl-mark-create' }), 'Thread created'),
    // a process tree only (timeline-procs.js)
    h('span', { class: 'tl-legend-item', role: 'listitem', hidden: true, 'data-legend': 'fork', title: 'a process forked (solid) or exec\'d (dashed) a child: from the call to the child\'s first event' }, h('span', { class: 'tl-mark-fork' }), 'Fork / exec'),
    h('span', { class: 'tl-legend-item', role: 'listitem', hidden: true, 'data-legend': 'flow', title: 'bytes written into a pipe, socketpair or TCP connection by one thread and read by another (teal); a release of a process-shared lock or semaphore that ended a wait (orange)' }, h('span', { class: 'tl-mark-flow' }), 'Data / shared wake'));
  const btn = (label, title, fn, extra = {}) => h('button', { type: 'button', class: 'tl-btn', title, onclick: fn, ...extra }, label);
  const zoomSelBtn = btn('Zoom to selection', 'Zoom to the shift-dragged selection (Z)', () => zoomToSelection(), { disabled: true, 'data-action': 'zoom-selection' });
  const rangeLabel = h('span', { class: 'tl-range', 'aria-live': 'polite' });
  const createsBox = h('input', { type: 'checkbox', checked: true, 'data-action': 'toggle-creates' });
  createsBox.addEventListener('change', () => { m.showCreates = createsBox.checked; showNote(); draw(); });
  // tracks: which thread rows are shown, and how (timeline-model.js, arrange)
  const trackFilter = h('input', { type: 'search', class: 'tl-track-filter', placeholder: 'Filter threads', 'aria-label': 'Show only the threads whose name or id contains', 'data-action': 'track-filter' });
  let trackTimer = 0;
  trackFilter.addEventListener('input', () => {
    clearTimeout(trackTimer);
    trackTimer = setTimeout(() => { m.tracks.filter = trackFilter.value; tracksChanged(); }, 150);
  });
  trackFilter.addEventListener('keydown', (e) => { if (e.key === 'Escape') { trackFilter.value = ''; m.tracks.filter = ''; tracksChanged(); trackFilter.blur(); } });
  const groupBox = h('input', { type: 'checkbox', 'data-action': 'group-threads' });
  groupBox.addEventListener('change', () => { m.tracks.group = groupBox.checked; tracksChanged(); });
  const aliveBox = h('input', { type: 'checkbox', 'data-action': 'alive-only' });
  aliveBox.addEventListener('change', () => { m.tracks.aliveOnly = aliveBox.checked; tracksChanged(); });
  const trackTools = h('span', { class: 'tl-tracks' }, trackFilter,
    h('label', { class: 'tl-toggle', title: 'Threads of a process with the same name become one row with their states stacked; click it to open it' }, groupBox, 'Group by name'),
    h('label', { class: 'tl-toggle', title: 'Hide the threads that did not exist at any time of the window' }, aliveBox, 'Alive in window'));
  const createsToggle = h('label', { class: 'tl-toggle', title: 'Draw the arrows from a thread\'s creator to the new thread' }, createsBox, 'Creation arrows');
  const help = h('div', { class: 'tl-help', role: 'dialog', 'aria-label': 'Keyboard and mouse', hidden: true },
    h('div', { class: 'tl-details-head' }, h('h2', null, 'Keyboard and mouse'),
      h('button', { type: 'button', class: 'tl-close', 'aria-label': 'Close help', onclick: () => toggleHelp(false) }, '×')),
    h('table', { class: 'tl-kv' }, [
      ['W / S', 'zoom in / out at the pointer (faster while held)'],
      ['Wheel', 'zoom about 2x per notch, at the pointer'],
      ['Shift+wheel, or wheel over the names', 'scroll the rows'],
      ['A / D, or drag', 'pan left / right'],
      ['Shift+drag', 'select a range: its numbers in the panel; Z zooms to it'],
      ['/ or Ctrl+F', 'search names, logs and calls; Enter / Shift+Enter: next / previous match'],
      ['Click a thread\'s name', 'pin it to the top (again: unpin); a group: open or close it'],
      ['Click the whole-trace strip', 'move the window there (drag to follow)'],
      ['0', 'show the whole trace'],
      ['Click', 'details of a span, region, task, log or arrow'],
      ['Alt+Left', 'back to the previous selection (after "Woken by →")'],
      ['Escape', 'clear the range, close this help'],
      ['?', 'show or hide this help'],
    ].map(([k, v]) => h('tr', null, h('th', null, h('kbd', null, k)), h('td', null, v)))));
  const toolbar = h('div', { class: 'tl-toolbar' },
    btn('−', 'Zoom out (S)', () => zoomBy(2), { 'data-action': 'zoom-out', 'aria-label': 'Zoom out' }),
    btn('+', 'Zoom in (W)', () => zoomBy(0.5), { 'data-action': 'zoom-in', 'aria-label': 'Zoom in' }),
    btn('Reset', 'Show the whole trace (0)', () => reset(), { 'data-action': 'reset' }),
    zoomSelBtn,
    rangeLabel,
    createsToggle,
    trackTools,
    btn('?', 'Keyboard and mouse (?)', () => toggleHelp(), { 'data-action': 'help', 'aria-label': 'Keyboard and mouse help' }));
  // the search bar (timeline-find.js): its actions are defined further down
  const search = createSearch(m, {
    api,
    get root() { return root; },
    setWindow: (a, b) => setWindow(a, b, true),
    revealRow: (tid) => revealRow(tid),
    loadDetails: (q) => { pushHistory(); return loadDetails(q); },
    highlight: (tids) => { m.highlight = new Set(tids); publishParams(); scheduleDraw(); },
    scheduleDraw: () => scheduleDraw(),
  });
  toolbar.insertBefore(search.el, toolbar.querySelector('[data-action="help"]'));
  legend.append(h('span', { class: 'tl-hint' }, 'Wheel, W/S: zoom · Shift+wheel or wheel on names: rows · drag, A/D: pan · / search · ? keys'));
  const canvas = h('canvas', { class: 'tl-canvas', tabindex: '0', 'aria-label': 'Timeline of the trace\'s threads' });
  const spacer = h('div', { class: 'tl-spacer' });
  const tip = h('div', { class: 'tl-tooltip', role: 'tooltip', hidden: true });
  const note = h('div', { class: 'tl-note', hidden: true });
  const scroller = h('div', { class: 'tl-scroll' }, canvas, spacer);
  const stage = h('div', { class: 'tl-stage' }, scroller, tip, note, help);
  const panel = h('aside', { class: 'tl-details', hidden: true, 'aria-label': 'Details' });
  const ovCanvas = h('canvas', { class: 'tl-overview', 'aria-label': 'The whole trace: click or drag to move the window there', title: 'The whole trace: click or drag to move the window there' });
  const stageCol = h('div', { class: 'tl-stagecol' }, ovCanvas, stage);
  const body = h('div', { class: 'tl-body' }, stageCol, panel);
  // The rows as text, for screen readers (and the browser tests): the canvas
  // itself says nothing to assistive technology.
  const srList = h('ul', { class: 'tl-sr', 'aria-label': 'Thread rows' });
  const root = h('div', { class: 'tl' }, toolbar, legend, body, srList);
  container.append(root);

  const paint = createPainter(m, canvas, color);
  const samples = createSamples(m, {
    api, stackList: (f) => stackList(f), threadName: (tid) => threadName(tid), draw: () => scheduleDraw(),
    openPanel: (title, ...c) => openPanel(title, ...c), navigate: (v, p) => ctx.navigate && ctx.navigate(v, p),
    showTipAgain: () => { if (m.hover && tipAt) showTip(m.hover, tipAt.x, tipAt.y); }, done: () => { root.dataset.details = 'ready'; },
  });
  const overview = createOverview(m, ovCanvas, color, {
    moveTo: (c) => {
      const half = (m.v1 - m.v0) / 2;
      setWindow(c - half, c + half);
    },
  });
  // The overview's data: the view's own answer when it is the whole trace
  // (the first, usually), else one request of its own for the first rows.
  let overviewAsked = false;
  async function feedOverview(d, a, b) {
    if (overview.hasData()) return;
    if (a <= m.home + 1 && b >= m.T1 - 1) {
      overview.setData(d);
      return;
    }
    if (overviewAsked) return;
    overviewAsked = true;
    const tids = m.allThreads.slice(0, 60).map((t) => t.tid).join(',');
    try {
      const res = await fetch(`/api/timeline?start_ns=${Math.floor(m.home)}&end_ns=${Math.ceil(m.T1)}&width=${Math.round(m.plotW())}&tids=${tids}&format=2`);
      if (res.ok && !destroyed) overview.setData(decode(await res.arrayBuffer()));
    } catch { /* the banner says when the server is gone */ }
  }
  let fetchCtl = null;
  let fetchTimer = 0;
  let raf = 0;
  let previewTimer = 0; // a draw of the old answer, if the new one is late (setWindow)
  let destroyed = false;

  function layout() {
    m.layout();
    spacer.style.height = `${Math.max(0, m.totalH - m.height)}px`;
  }

  // Only a new width asks the server again (its answer is fitted to the
  // width); a new height only changes which rows are drawn.
  let fetchedWidth = 0;
  function resize() {
    const r = stage.getBoundingClientRect();
    m.width = Math.max(300, Math.floor(r.width));
    m.height = Math.max(200, Math.floor(r.height));
    m.dpr = window.devicePixelRatio || 1;
    // a canvas given its size again is cleared and its pixels allocated
    // again (tens of ms for a large one): only when the size changed
    const cw = Math.floor(m.width * m.dpr), ch = Math.floor(m.height * m.dpr);
    if (canvas.width !== cw || canvas.height !== ch) {
      canvas.width = cw;
      canvas.height = ch;
      canvas.style.width = `${m.width}px`;
      canvas.style.height = `${m.height}px`;
    }
    layout();
    if (m.width !== fetchedWidth || missingRows()) {
      fetchedWidth = m.width;
      requestFetch(0);
    }
    draw();
  }

  // ---- fetching ----
  function requestFetch(delay = 40) {
    clearTimeout(fetchTimer);
    answerShown = false; // an answer shown but not drawn yet is no longer the one
    // loading from now on, not only once the request leaves: what is on
    // screen is about to be replaced (tests wait for loading to end)
    root.dataset.loading = 'true';
    fetchTimer = setTimeout(doFetch, delay);
  }

  // The last few answers, to show a window again without asking (a zoom
  // out after a zoom in, a pan back): the trace does not change, and an
  // answer is fitted to its window, width and rows. A handful only: an
  // answer of a large trace is a few MB.
  const ANSWERS_KEPT = 4;
  const answers = []; // {a, b, width, rows, d, cd}, the newest last
  function answerFor(a, b, width, rows) {
    const near = (b - a) / width / 100; // well under a pixel
    return answers.find((x) => x.width === width && x.rows === rows && Math.abs(x.a - a) <= near && Math.abs(x.b - b) <= near) || null;
  }
  function keepAnswer(x) {
    const i = answers.findIndex((y) => y.width === x.width && y.rows === x.rows && y.a === x.a && y.b === x.b);
    if (i >= 0) answers.splice(i, 1);
    answers.push(x);
    if (answers.length > ANSWERS_KEPT) answers.shift();
  }
  // The answer for the window as it is now, when one is kept: shown
  // without a request (and without drawing the old answer first).
  function useKeptAnswer() {
    if (destroyed || !m.summary || !m.data) return false;
    const rows = wantedRows();
    const x = answerFor(Math.floor(m.v0), Math.ceil(m.v1), Math.round(m.plotW()), rows ? rows.join(',') : '');
    if (!x) return false;
    clearTimeout(fetchTimer);
    if (fetchCtl) fetchCtl.abort();
    const ctl = new AbortController();
    fetchCtl = ctl;
    showAnswer(x);
    scheduleDraw();
    return true;
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
    const width = Math.round(m.plotW());
    const url = `/api/timeline?start_ns=${a}&end_ns=${b}&width=${width}${rows ? `&tids=${rows.join(',')}` : ''}&format=2`;
    root.dataset.loading = 'true';
    answerShown = false;
    // counter tracks: their values in the same window, asked beside it
    const hasCounters = Number((m.summary.events_by_kind || {}).COUNTER) > 0;
    const countersP = hasCounters
      ? fetch(`/api/counters?start_ns=${a}&end_ns=${b}&width=${width}`, { signal: ctl.signal }).then((r) => (r.ok ? r.json() : null)).catch(() => null)
      : null;
    // the CPU samples of the same window, asked beside it too: the answer is
    // drawn once, with them (not drawn again when they come)
    const samplesP = samples.enabled ? samples.load(a, b, width, rows, ctl.signal) : null;
    let res;
    const tAsked = performance.now();
    try {
      res = await fetch(url, { signal: ctl.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      root.dataset.loading = 'false';
      reportConnection(false); // the server is gone: the banner says it
      return;
    }
    reportConnection(true);
    try {
      if (!res.ok) {
        let msg = `${res.status}`;
        try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
        throw new Error(msg);
      }
      const buf = await res.arrayBuffer();
      const tGot = performance.now();
      lastAnswerMs = tGot - tAsked;
      const d = decode(buf);
      root.dataset.decodeMs = (performance.now() - tGot).toFixed(1);
      if (ctl !== fetchCtl || destroyed) return;
      const cd = countersP ? await countersP : null;
      const sd = samplesP ? await samplesP : null;
      if (ctl !== fetchCtl || destroyed) return;
      const x = { a, b, width, rows: rows ? rows.join(',') : '', d, cd, sd };
      // kept only when whole: a counters or samples answer lost on the way
      // is asked again
      if ((!hasCounters || cd) && (!samplesP || sd)) keepAnswer(x);
      showLaterStates(d);
      feedOverview(d, a, b);
      showAnswer(x);
      // drawn at the next frame, a task of its own: the answer's decoding
      // and its drawing are not one long task
      scheduleDraw('model');
    } catch (e) {
      if (e.name === 'AbortError') return;
      root.dataset.loading = 'false';
      note.textContent = `Cannot load the timeline: ${e.message}`;
      note.hidden = false;
    }
  }

  // Makes answer x the model's data; the caller asks for a draw, which ends
  // the loading (data-loading "false": the answer is on the canvas).
  let answerShown = false;
  function showAnswer(x) {
    const { d, cd } = x;
    const tracksChanged = !!cd && cd.counters.length !== m.counters.length;
    if (cd) m.counters = cd.counters;
    if (tracksChanged && m.data) layout();
    if (m.setData(d)) {
      layout();
      if (pendingScroll !== null) scroller.scrollTop = pendingScroll;
      if (pendingReveal !== null) revealRow(pendingReveal);
    }
    pendingReveal = null;
    pendingScroll = null;
    samples.use(x.sd);
    answerShown = true;
    root.dataset.ready = 'true';
    showNote();
  }

  // A later state (runnable, ...) enters the legend when an answer has it.
  // Each state's legend entry is looked up once, when first seen.
  const laterShown = new Set();
  function showLaterStates(d) {
    const first = STATES.length;
    for (const row of d.rows.values()) {
      const st = row.spans.state;
      for (let i = 0, n = row.spans.length; i < n; i++) {
        const state = st[i];
        if (state < first || laterShown.has(state)) continue;
        laterShown.add(state);
        const el = legend.querySelector(`[data-state="${STATE_OF_BYTE[state]}"]`);
        if (el) el.hidden = false;
      }
    }
  }

  const MANY_ROWS = 60;
  function wantedRows() {
    if (m.allThreads.length <= MANY_ROWS) return null;
    m.scrollTop = scroller.scrollTop;
    return m.visibleTids(m.height);
  }
  function missingRows() {
    m.scrollTop = scroller.scrollTop;
    return m.allThreads.length > MANY_ROWS && m.visibleTids(0).some((tid) => !m.rowsByTid.has(tid));
  }

  // What the canvas leaves out at this zoom, and a link that could not be
  // followed as it was: one line each.
  let linkNote = '';
  function showNote() {
    const lines = [];
    if (linkNote) lines.push(linkNote);
    if (m.data && m.data.wakesTotal > m.wakesShown().length) lines.push(`${m.data.wakesTotal.toLocaleString()} wake-ups in view: zoom in to see their arrows`);
    if (m.data && m.showCreates && m.data.creates.length > m.createsShown().length && !m.createBundles().length) lines.push(`${m.data.creates.length.toLocaleString()} thread creations in view: zoom in to see their arrows`);
    note.replaceChildren(...lines.map((l) => h('div', null, l)));
    note.hidden = !lines.length;
  }

  // ---- drawing ----
  // why: 'preview' (the old answer while a new one is on its way) or
  // 'names', counted when that frame draws (for tests); anything else is a
  // draw of what the model holds now. A frame asked for previews only is
  // the last image stretched (stretchDraw) when drawing costs time.
  const drawsFor = new Set();
  function scheduleDraw(why) {
    drawsFor.add(typeof why === 'string' ? why : 'model');
    if (!raf) {
      raf = requestAnimationFrame(() => {
        raf = 0;
        const onlyPreview = drawsFor.size === 1 && drawsFor.has('preview');
        if (drawsFor.has('preview')) previews++;
        if (drawsFor.has('names')) nameDraws++;
        if (onlyPreview && stretchable()) {
          stretchDraw();
        } else {
          if (drawsFor.has('preview')) root.dataset.preview = 'redraw';
          draw();
        }
      });
    }
  }

  // The last full draw: its window and cost, and whether its image is
  // copied (snap) for stretchDraw. A full draw of a large answer takes
  // tens of ms; stretching its image one.
  let lastFull = null;
  let lastDrawMs = 0;
  let stretchAboveMs = 8; // a full draw slower than this is stretched for previews (probe.stretchAbove)
  const snap = document.createElement('canvas');
  function slowDraws() {
    return lastDrawMs >= stretchAboveMs;
  }
  // how long the last answer took to come: a server slower than a preview's
  // delay is not waited for before the preview (setWindow)
  let lastAnswerMs = 0;
  function stretchable() {
    return !!lastFull && slowDraws() && lastFull.width === m.width && lastFull.height === m.height && lastFull.dpr === m.dpr &&
      lastFull.scrollTop === scroller.scrollTop && lastFull.b > lastFull.a;
  }
  function stretchDraw() {
    if (destroyed) return;
    drawsFor.clear();
    if (!lastFull.snapped) {
      snap.width = canvas.width;
      snap.height = canvas.height;
      snap.getContext('2d').drawImage(canvas, 0, 0);
      lastFull.snapped = true;
    }
    draws++;
    showWindow();
    paint.stretch(snap, lastFull.a, lastFull.b);
    overview.draw();
    root.dataset.preview = 'stretch';
    root.dataset.drawn = String(draws); // for the benchmark: when the canvas changed
  }

  function showWindow() {
    rangeLabel.textContent = `${formatAt(Math.round(m.v0))} – ${formatAt(Math.round(m.v1))} (${formatDuration(m.v1 - m.v0)} shown)`;
  }

  // Every draw is counted (root.probe.draws(), for tests: a zoom step whose
  // answer is kept draws once).
  let draws = 0;
  let previews = 0; // of them, old answers drawn stretched while a new one is late (setWindow)
  let nameDraws = 0; // and draws asked for once call names came (fetchCallNames)
  function draw() {
    if (destroyed) return;
    // a frame asked for earlier would draw the same again
    if (raf) { cancelAnimationFrame(raf); raf = 0; }
    drawsFor.clear();
    clearTimeout(previewTimer);
    previewTimer = 0;
    draws++;
    const tDraw = performance.now();
    m.scrollTop = scroller.scrollTop;
    showWindow();
    paint();
    lastDrawMs = performance.now() - tDraw;
    lastFull = { a: m.v0, b: m.v1, width: m.width, height: m.height, dpr: m.dpr, scrollTop: m.scrollTop, snapped: false };
    overview.draw();
    root.dataset.drawMs = (performance.now() - tDraw).toFixed(1); // for tests and tuning
    root.dataset.drawn = String(draws);
    if (answerShown) {
      answerShown = false;
      root.dataset.loading = 'false';
      // the names of the wide spans' calls, asked once the answer is drawn
      setTimeout(() => { if (!destroyed) fetchCallNames(); }, 0);
    }
  }

  // ---- help ----
  function toggleHelp(show = help.hidden) {
    help.hidden = !show;
    root.dataset.help = show ? 'open' : 'closed';
  }

  // ---- tooltip ----
  function tname(t) {
    return `${t.name || 'thread'} ${t.tid}`;
  }

  function tooltipText(o) {
    switch (o.kind) {
      case 'span': {
        const s = o.span;
        const st = STATE_LABELS[STATE_OF_BYTE[s.state]] || '?';
        if (s.merged && s.n > 1) return [`${tname(o.thread)} · ${s.n.toLocaleString()} spans, mostly ${st.toLowerCase()}`, `${formatDuration(s.e - s.s)} at ${formatAt(Math.round(s.s))}`, 'Zoom in for each span'];
        const whole = wholeSpan(o);
        if (whole) return [`${tname(o.thread)} · ${st}${whole.name ? `: ${whole.name}` : ''}`, `${formatDuration(whole.dur)} from ${formatAt(Math.round(whole.start))}`, whole.clipped ? `${formatDuration(s.e - s.s)} of it in this window` : '', 'Click for details'];
        return [`${tname(o.thread)} · ${st}`, 'the whole span: loading…', `${formatDuration(s.e - s.s)} in this window`];
      }
      case 'region':
        if (o.region.merged) return [`${o.region.n.toLocaleString()} regions`, `${formatDuration(o.region.e - o.region.s)}`, 'Zoom in to tell them apart'];
        {
          // the server cuts regions to the window: say so rather than show the cut part as the whole
          const r = o.region;
          const before = m.data && r.s <= m.data.start + 1, after = m.data && r.e >= m.data.end - 1 && !r.open;
          if (before || after) {
            return [`Region ${r.name}${r.open ? ' (not ended)' : ''}`, `${before ? 'began before' : `from ${formatAt(Math.round(r.s))}`}${after ? ', ends after' : ''} this window`, `${formatDuration(r.e - r.s)} of it in this window`, 'Click for its whole duration'];
          }
          return [`Region ${r.name}${r.open ? ' (not ended)' : ''}`, `${formatDuration(r.e - r.s)} from ${formatAt(Math.round(r.s))}`, r.task ? `task ${r.task}` : ''];
        }
      case 'log':
        // crowded logs come without their texts (a click fetches the one under it)
        if (o.log.dense) return [`${o.log.n > 1 ? `${o.log.n.toLocaleString()} logs` : 'Log'} at ${formatAt(Math.round(o.log.t))}`, 'Zoom in or click for the message'];
        return [`Log ${o.log.category ? `[${o.log.category}] ` : ''}${o.log.message}`, `at ${formatAt(Math.round(o.log.t))}${o.log.n > 1 ? ` (+${o.log.n - 1} more here)` : ''}`];
      case 'task':
        return [`Task ${o.task.name} (id ${o.task.id})`, `${formatDuration(o.task.e - o.task.s)}${o.task.open ? ', not ended' : ''}`, `${o.task.touches.length} thread${o.task.touches.length === 1 ? '' : 's'}`];
      case 'wake':
        return [`Wake-up: ${o.wake.from} woke ${o.wake.to}`, `at ${formatAt(Math.round(o.wake.t))}`];
      case 'create':
        return [`${tname(o.thread)} created thread ${o.create.child}`, `at ${formatAt(Math.round(o.create.t0))}; it started ${formatDuration(o.create.t1 - o.create.t0)} later`];
      case 'proc':
        if (o.proc.tree) return [o.proc.label.replace(/^[▾▸] /, ''), o.proc.proc.argv.join(' '), endText(o.proc.proc), o.proc.collapsed ? 'Click to show its threads' : 'Click to collapse it to one row'];
        return [o.proc.label.replace(/^[▾▸] /, ''), o.proc.collapsed ? 'Click to show its threads' : 'Click to collapse it'];
      case 'procback':
        return [...linkTip(m, o.link).slice(0, 2), 'Click to go to the parent\'s call'];
      case 'proclink':
        return linkTip(m, o.link);
      case 'flow':
        return flowTip(m, o.flow);
      case 'label':
        if (o.thread.group) return [`${o.thread.members.length} threads named ${o.thread.name || '(unnamed)'}`, o.thread.open ? 'Click to close the group' : 'Click to show each thread'];
        return [tname(o.thread), o.thread.pinned ? 'Pinned: click to unpin' : 'Click to pin it to the top'];
      case 'group': {
        if (o.group.procGroup) {
          const p = procOf(m, o.group.proc);
          const parts = Object.entries(o.states).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${n} ${(stateLabelOf(k)).toLowerCase()}`);
          return [`Process ${p ? p.pid : o.group.pid}: ${o.group.members.length} threads`, parts.length ? `at ${formatAt(Math.round(o.t))}: ${parts.join(', ')}` : 'none alive here', 'Click to show each thread'];
        }
        const parts = Object.entries(o.states).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${n} ${(stateLabelOf(k)).toLowerCase()}`);
        return [`${o.group.members.length} threads named ${o.group.name || '(unnamed)'}`, parts.length ? `at ${formatAt(Math.round(o.t))}: ${parts.join(', ')}` : 'none alive here', 'Click to show each thread'];
      }
      case 'drop':
        return [`${o.drop.count.toLocaleString()} event${o.drop.count === 1 ? '' : 's'} of ${tname(o.thread)} lost here`, `from ${formatAt(Math.round(o.drop.start))} to ${formatAt(Math.round(o.drop.end))} (${formatDuration(o.drop.end - o.drop.start)})`, 'the recorder had no free buffer: what the thread did then is missing'];
      case 'counter':
        return [`Counter ${o.counter.name}`, o.value === null ? 'not set yet' : `${o.value.toLocaleString()} at ${formatAt(Math.round(o.t))}`, `from ${o.counter.min.toLocaleString()} to ${o.counter.max.toLocaleString()} in the trace`];
      case 'outside':
        return [tname(o.thread), o.t < o.thread.first ? 'not started yet' : 'exited'];
      case 'sample':
        return samples.tooltip(o);
      default:
        return [];
    }
  }

  // A span as the server drew it is cut to the window; the tooltip shows
  // all of it, asked of /api/event when it reaches an edge of the window.
  const spanInfo = new Map(); // "tid:start" -> {start, dur, name}
  function spanKey(tid, sp) {
    return `${tid}:${sp.s}:${sp.e}`;
  }
  function wholeSpan(o) {
    const sp = o.span;
    const key = spanKey(o.thread.tid, sp);
    const known = spanInfo.get(key);
    if (known) return { ...known, clipped: known.start < sp.s || known.start + known.dur > sp.e + 1 };
    const clipped = m.data && (sp.s <= m.data.start + 1 || sp.e >= m.data.end - 1);
    if (!clipped) return { start: sp.s, dur: sp.e - sp.s, name: callName(o.thread.tid, sp), clipped: false };
    lookUpSpan(o.thread.tid, sp).then(() => {
      if (m.hover && m.hover.kind === 'span' && m.hover.span === sp && !tip.hidden) showTip(m.hover, tipAt.x, tipAt.y);
    });
    return null;
  }
  function lookUpSpan(tid, sp) {
    const key = spanKey(tid, sp);
    const ns = Math.round(Math.min(Math.max((sp.s + sp.e) / 2, sp.s), sp.e - 1));
    // not through api.getJSON, whose cache keeps every URL: this one is bounded
    return api.getRaw('/api/event', { kind: 'span', tid, ns }).then((res) => res.json()).then((d) => {
      const info = { start: d.start_ns, dur: d.dur_ns, name: eventName(d) };
      if (spanInfo.size >= 4000) spanInfo.clear();
      spanInfo.set(key, info);
      return info;
    }, () => null);
  }
  // "read fd 7", "mutex 0x7f…": what a blocked span was blocked in.
  function eventName(d) {
    if (!d) return '';
    if (d.event === 'SYSCALL' && d.call) return `${d.call}${d.fd !== undefined && d.fd !== null && d.fd >= 0 ? ` fd ${d.fd}` : ''}`;
    if (d.event === 'WAIT' && String(d.reason).toUpperCase() === 'SLEEP' && /^0x[0-9a-f]+$/i.test(String(d.object)) && !/^0x0*$/i.test(String(d.object))) {
      return `sleep ${formatDuration(Number(BigInt(d.object)))}`; // the object of a sleep: the ns it asked for
    }
    if (d.event === 'WAIT') return `${String(d.reason || 'wait').toLowerCase().replace('_', ' ')}${d.object && !/^(0x)?0*$/.test(String(d.object)) ? ` ${d.object}` : ''}`;
    return '';
  }
  // Names on spans: the blocked spans wide enough for a label get their
  // call's name, asked of /api/event a few at a time once an answer is in.
  const NAME_MIN_PX = 60;
  const NAME_BATCH = 24;
  let namesToken = 0;
  let namesTimer = 0;
  async function fetchCallNames() {
    const token = ++namesToken;
    const want = [];
    m.scrollTop = scroller.scrollTop;
    for (const t of m.visibleRows(0)) {
      const row = m.rowsByTid.get(rowKey(t));
      if (!row) continue;
      // the columns, read in place: a span object only for the wide ones
      const S = row.spans.s, E = row.spans.e, ST = row.spans.state, MG = row.spans.merged;
      for (let i = 0, n = row.spans.length; i < n; i++) {
        if (MG[i] || ST[i] === 0 || m.xOf(E[i]) - m.xOf(S[i]) < NAME_MIN_PX) continue;
        const sp = row.spans.at(i);
        if (!spanInfo.has(spanKey(t.tid, sp))) want.push([t.tid, sp]);
        if (want.length >= NAME_BATCH) break;
      }
      if (want.length >= NAME_BATCH) break;
    }
    if (!want.length) return;
    await Promise.all(want.map(([tid, sp]) => lookUpSpan(tid, sp)));
    if (token === namesToken && !destroyed) scheduleDraw('names');
  }
  m.spanName = (tid, sp) => callName(tid, sp);

  function callName(tid, sp) {
    const known = spanInfo.get(spanKey(tid, sp));
    return known ? known.name : '';
  }

  let tipAt = { x: 0, y: 0 };
  function hideTip() {
    tip.hidden = true;
  }
  function showTip(o, x, y) {
    tipAt = { x, y };
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
    const list = h('ol', { class: 'tl-stack' }, frames.map((f) => h('li', null,
      h('span', { class: 'tl-fn' }, f.function || '??'),
      f.file
        ? h('span', { class: 'tl-file' }, `${f.file}:${f.line}`)
        : h('span', { class: 'tl-file' }, f.object ? `${f.object}+${f.offset}` : f.pc || ''))));
    const note = shortStackNote(m.summary && m.summary.config, frames);
    return note ? h('div', null, list, h('p', { class: 'muted short-stack' }, `This stack may be cut short: ${note}`)) : list;
  }

  // Each selection (or closing) takes a new generation: the answer of an
  // older request, arriving late, is dropped instead of reopening the panel.
  let detailsGen = 0;

  function closePanel() {
    detailsGen++;
    m.selected = null;
    m.overlay = null; // a critical path drawn from the panel (critpath.js)
    if (!panel.hidden) {
      panel.hidden = true;
      resize();
    }
    delete root.dataset.details;
    publishParams();
  }

  function openPanel(title, ...content) {
    delete panel.dataset.panel;
    panel.replaceChildren(
      h('div', { class: 'tl-details-head' },
        h('h2', null, title),
        backStack.length ? h('button', { type: 'button', class: 'tl-btn tl-back', 'data-action': 'back', title: 'Back to the previous selection (Alt+Left)', onclick: () => back() }, '← Back') : null,
        h('button', { type: 'button', class: 'tl-close', 'aria-label': 'Close details', onclick: () => closePanel() }, '×')),
      ...content.filter(Boolean));
    if (panel.hidden) {
      panel.hidden = false;
      resize();
    }
  }

  // ---- selection: the details panel, the URL's "ev", and a history ----
  // ev is "task:ID" or "KIND:TID:NS" (span, region, log, wake, create): the
  // event of /api/event, so a link reopens it selected.
  const backStack = []; // {ev, v0, v1, scrollTop}
  function evOf(sel) {
    if (!sel) return undefined;
    if (sel.kind === 'task') return `task:${sel.id}`;
    if (sel.kind === 'proclink' || sel.kind === 'flow') return undefined; // not an /api/event (timeline-procs.js)
    const ns = sel.kind === 'span' || sel.kind === 'region' ? (sel.ns !== undefined ? sel.ns : sel.s) : sel.ns;
    return `${sel.kind}:${sel.tid}:${Math.round(ns)}`;
  }
  function pushHistory() {
    if (!m.selected) return;
    backStack.push({ ev: evOf(m.selected), v0: m.v0, v1: m.v1, scrollTop: scroller.scrollTop });
    if (backStack.length > 50) backStack.shift();
  }
  function back() {
    const b = backStack.pop();
    if (!b) return;
    setWindow(b.v0, b.v1, true);
    scroller.scrollTop = b.scrollTop;
    openEv(b.ev, { reveal: false });
  }

  /** Opens the event named by ev (see above) in the panel, selected; reveal scrolls its row into view. */
  function openEv(ev, { reveal = true } = {}) {
    const parts = String(ev || '').split(':');
    const kind = parts[0];
    const q = kind === 'task' ? { kind, id: Number(parts[1]) } : { kind, tid: Number(parts[1]), ns: Number(parts[2]) };
    if (!['task', 'span', 'region', 'log', 'wake', 'create'].includes(kind) || Object.values(q).some((v) => typeof v === 'number' && !Number.isFinite(v))) {
      linkNote = `The link's selected event "${ev}" is not one this view knows: nothing is selected`;
      showNote();
      return Promise.resolve();
    }
    return loadDetails(q, { reveal });
  }

  // What is selected once /api/event has answered q with d: the whole
  // span, region or task, not the part the click or the link knew of.
  function selectedFrom(q, d) {
    const { kind } = q;
    if (kind === 'task') return { kind, id: d.id, s: d.start_ns, e: d.end_ns, touches: (d.threads || []).map((t) => ({ tid: t.tid, first: t.first_ns, last: t.last_ns })) };
    if (kind === 'span') return { kind, tid: q.tid, s: d.start_ns, e: d.end_ns, ns: q.ns };
    if (kind === 'region') return { kind, tid: q.tid, s: d.start_ns, ns: d.start_ns };
    const sel = { kind, tid: q.tid, ns: d.event_ns };
    if (kind === 'create') {
      const child = m.childOf(q.tid, d.event_ns);
      if (child) Object.assign(sel, { child: child.tid, started: child.first });
    }
    return sel;
  }

  /**
   * The one loader of the details panel: selects q ({kind:'task', id} or
   * {kind, tid, ns}, the parameters of /api/event), shows "Loading…", asks
   * the server and shows the answer. preset is what to draw as selected
   * until the answer comes (what was clicked); reveal scrolls the row into
   * view. An answer of an older selection is dropped.
   */
  async function loadDetails(q, { reveal = false, preset = null } = {}) {
    m.selected = preset || (q.kind === 'task' ? { kind: 'task', id: q.id } : { kind: q.kind, tid: q.tid, ns: q.ns, s: q.ns });
    publishParams();
    const gen = ++detailsGen;
    root.dataset.details = 'loading';
    openPanel('Loading…');
    if (reveal && q.tid) revealRow(q.tid);
    draw();
    try {
      const d = await api.getJSON('/api/event', q);
      if (destroyed || gen !== detailsGen) return;
      m.selected = selectedFrom(q, d);
      if (reveal && q.kind === 'task' && d.begin_tid) revealRow(d.begin_tid);
      showDetails(d);
      root.dataset.details = 'ready';
    } catch (e) {
      if (destroyed || gen !== detailsGen) return;
      openPanel('Details', h('p', { class: 'tl-error' }, e.message));
      root.dataset.details = 'error';
    }
    publishParams();
    draw();
  }

  function select(o) {
    if (!o) return;
    tip.hidden = true;
    if (o.kind === 'label' && o.thread.procGroup) { // a collapsed process (timeline-procs.js)
      m.tracks.collapsed.delete(o.thread.proc);
      tracksChanged();
      return;
    }
    if (o.kind === 'label') {
      if (o.thread.group) toggleGroup(o.thread.key);
      else togglePin(o.thread.tid);
      return;
    }
    if (o.kind === 'group' && o.group.procGroup) {
      m.tracks.collapsed.delete(o.group.proc);
      tracksChanged();
      return;
    }
    if (o.kind === 'group') {
      toggleGroup(o.group.key);
      return;
    }
    if (o.kind === 'proc') {
      // one process: keyed by pid; a tree: by process index (timeline-procs.js)
      const key = o.proc.tree ? o.proc.key : o.proc.pid;
      if (m.tracks.collapsed.has(key)) m.tracks.collapsed.delete(key);
      else m.tracks.collapsed.add(key);
      tracksChanged();
      return;
    }
    if (o.kind === 'proclink') {
      pushHistory();
      goToChild(o.link);
      return;
    }
    if (o.kind === 'flow') { // the tooltip says it all: select it
      m.selected = { kind: 'flow', flow: o.flow, tid: o.flow.from, ns: o.flow.t0 };
      draw();
      return;
    }
    if (o.kind === 'procback') {
      pushHistory();
      goToFork(o.link);
      return;
    }
    if (o.kind === 'sample') {
      pushHistory();
      ++detailsGen;
      root.dataset.details = 'loading';
      samples.select(o);
      return;
    }
    if (o.kind === 'outside' || o.kind === 'counter' || o.kind === 'drop' || (o.kind === 'region' && o.region.merged)) return;
    pushHistory();
    if (o.kind === 'span') {
      const ns = Math.round(Math.min(Math.max(o.t, o.span.s), o.span.e - 1));
      loadDetails({ kind: 'span', tid: o.thread.tid, ns }, { preset: { kind: 'span', tid: o.thread.tid, s: o.span.s, e: o.span.e, ns } });
    } else if (o.kind === 'region') {
      loadDetails({ kind: 'region', tid: o.thread.tid, ns: Math.round(o.region.s) }, { preset: { kind: 'region', tid: o.thread.tid, s: o.region.s, ns: o.region.s } });
    } else if (o.kind === 'log') {
      loadDetails({ kind: 'log', tid: o.thread.tid, ns: Math.round(o.log.t) }, { preset: { kind: 'log', tid: o.thread.tid, ns: o.log.t } });
    } else if (o.kind === 'task') {
      loadDetails({ kind: 'task', id: o.task.id }, { preset: { kind: 'task', id: o.task.id, s: o.task.s, e: o.task.e, touches: o.task.touches } });
    } else if (o.kind === 'create') {
      loadDetails({ kind: 'create', tid: o.thread.tid, ns: Math.round(o.create.t0) }, { preset: { kind: 'create', tid: o.thread.tid, ns: o.create.t0, child: o.create.child, started: o.create.t1 } });
    } else if (o.kind === 'wake') {
      loadDetails({ kind: 'wake', tid: o.wake.from, ns: Math.round(o.wake.t) }, { preset: { kind: 'wake', tid: o.wake.from, ns: o.wake.t } });
    }
  }

  // ---- a process tree (timeline-procs.js): fork and exec links ----
  /** Shows time t (keeping the window's width when it is outside). */
  function showTime(t) {
    if (t >= m.v0 && t <= m.v1) return;
    const w = m.v1 - m.v0;
    setWindow(t - w / 2, t + w / 2, true);
  }
  /** Scrolls content y into view, a little below the ruler. */
  function revealY(y) {
    const top = scroller.scrollTop + RULER_H, bottom = scroller.scrollTop + m.height;
    if (y >= top + 4 && y + PROC_H <= bottom - 40) return;
    scroller.scrollTop = Math.max(0, y - RULER_H - 24);
  }
  /** Link l selected, its child process in view and in the panel. */
  function goToChild(l) {
    m.selected = { kind: 'proclink', link: l, tid: l.parent, ns: l.t0 };
    showTime(l.t1);
    const head = m.procs.find((p) => p.tree && p.key === l.child);
    if (head) revealY(head.y);
    const p = procOf(m, l.child);
    openPanel(p ? `Process ${p.pid}${p.exe ? ` · ${p.exe}` : ''}` : 'Process',
      h('table', { class: 'tl-kv' }, p ? procRows(m, p).map(([k, v]) => row(k, v)) : null),
      h('div', { class: 'tl-actions' }, h('button', { type: 'button', class: 'tl-btn', 'data-action': 'go-fork', onclick: () => { pushHistory(); goToFork(l); } }, `← ${l.kind === 'exec' ? 'The exec' : l.kind === 'spawn' ? 'The spawn' : 'The fork'} in ${procOf(m, l.process) ? procOf(m, l.process).pid : 'its parent'}`)));
    root.dataset.details = 'ready';
    root.dataset.proc = String(l.child);
    publishParams();
    draw();
  }
  /** Link l selected at the parent's call, with its stack. */
  function goToFork(l) {
    m.selected = { kind: 'proclink', link: l, tid: l.parent, ns: l.t0 };
    showTime(l.t0);
    const r = m.rowByKey && m.rowByKey.get(l.parentKey);
    if (r) revealY(r.y);
    const parent = procOf(m, l.process), child = procOf(m, l.child);
    openPanel(l.kind === 'exec' ? 'Exec' : l.kind === 'spawn' ? 'Spawn' : 'Fork',
      h('table', { class: 'tl-kv' }, [
        row('Process', parent ? `${parent.pid}${parent.exe ? ` · ${parent.exe}` : ''}` : ''), row('Thread', threadName(l.parent)),
        row('At', formatAt(Math.round(l.t0)), 'mono'),
        row(l.kind === 'exec' ? 'New image' : 'Child', child ? `${child.pid}${child.exe ? ` · ${child.exe}` : ''}` : ''),
        row('Child\'s first event', formatAt(Math.round(l.t1)), 'mono')]),
      h('h3', null, 'Stack'), stackList(l.stack),
      h('div', { class: 'tl-actions' }, h('button', { type: 'button', class: 'tl-btn tl-primary', 'data-action': 'go-child', onclick: () => { pushHistory(); goToChild(l); } }, 'Go to the child →')));
    root.dataset.details = 'ready';
    root.dataset.proc = String(l.process);
    publishParams();
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
      if (samples.enabled) actions.push(samples.profileButton('CPU flame graph of this thread', { tid: d.tid }, 'thread-cpu-profile'));
      if (d.woken_by) {
        actions.push(h('button', { type: 'button', class: 'tl-btn tl-primary', 'data-action': 'go-waker', onclick: () => goToWaker(d.woken_by, d.dur_ns) },
          `Woken by ${threadName(d.woken_by.tid)} →`));
      }
    } else if (d.kind === 'region') {
      title = `Region ${d.name}`;
      rows.push(row('Thread', threadName(d.tid)), row('Start', formatAt(d.start_ns), 'mono'), row('Duration', d.open ? `${formatDuration(d.dur_ns)} (not ended)` : formatDuration(d.dur_ns)),
        row('Task', d.task ? String(d.task) : 'none'), row('Depth', d.depth));
      actions.push(h('button', { type: 'button', class: 'tl-btn', onclick: () => setWindow(d.start_ns, d.end_ns, true) }, 'Zoom to region'));
      if (samples.enabled) actions.push(samples.profileButton('CPU profile of this region', { tid: d.tid, start_ns: d.start_ns, end_ns: d.end_ns }, 'region-cpu-profile'));
    } else if (d.kind === 'log') {
      title = `Log${d.category ? ` [${d.category}]` : ''}`;
      rows.push(row('Message', d.message), row('Thread', threadName(d.tid)), row('At', formatAt(d.event_ns), 'mono'), row('Task', d.task ? String(d.task) : 'none'));
    } else if (d.kind === 'task') {
      title = `Task ${d.name}`;
      rows.push(row('Id', String(d.id)), row('Start', formatAt(d.start_ns), 'mono'), row('Duration', d.open ? `${formatDuration(d.dur_ns)} (not ended)` : formatDuration(d.dur_ns)),
        row('Began on', threadName(d.begin_tid)), row('Ended on', d.end_tid ? threadName(d.end_tid) : '—'),
        row('Threads', (d.threads || []).map((t) => threadName(t.tid)).join(', ')));
      const br = d.breakdown || {};
      const tot = STATE_KEYS.reduce((a, s) => a + (br[s] || 0), 0);
      if (tot > 0) {
        rows.push(h('tr', null, h('th', null, 'Time'), h('td', null,
          h('div', { class: 'tl-breakdown' }, STATE_KEYS.filter((s) => br[s]).map((s) => h('span', { style: `width:${(100 * br[s]) / tot}%;background:${color[s]}`, title: `${STATE_LABELS[s]}: ${formatDuration(br[s])}` }))),
          h('div', { class: 'tl-breakdown-legend' }, STATE_KEYS.filter((s) => br[s]).map((s) => h('span', null, h('span', { class: 'tl-swatch', style: `background:${color[s]}` }), `${STATE_LABELS[s]} ${formatDuration(br[s])}`))))));
      }
      actions.push(h('button', { type: 'button', class: 'tl-btn', onclick: () => { m.highlight = new Set((d.threads || []).map((t) => t.tid)); setWindow(d.start_ns, d.end_ns, true); } }, 'Zoom to task'));
      if (samples.enabled) actions.push(samples.profileButton('CPU profile of this task', { task_id: d.id }, 'task-cpu-profile'));
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
      critpathSection(d, { api, m, draw, threadName, zoomTo: (a, b) => setWindow(a - (b - a) / 4, b + (b - a) / 4, true), reveal: revealRow }),
      h('h3', null, 'Stack'),
      stackList(d.stack));
  }

  // Centres the wake-up that ended a blocked span of length blockedNs, zoomed
  // in enough (a few times the span) for its arrow to be drawn.
  function goToWaker(w, blockedNs) {
    pushHistory();
    const span = Math.min(m.v1 - m.v0, Math.max(8 * (blockedNs || 0), 20000));
    const half = Math.min(span, (m.T1 - m.T0)) / 2;
    setWindow(w.ns - half, w.ns + half, true);
    const th = m.thread(w.tid);
    if (th) scroller.scrollTop = Math.max(0, th.y - RULER_H - 60);
    return loadDetails({ kind: 'wake', tid: w.tid, ns: Math.round(w.ns) });
  }

  // ---- tracks ----
  // drawNow false: the caller draws (at the next frame).
  function tracksChanged(drawNow = true) {
    remembered.tracks = m.tracks;
    const top = m.threads.find((t) => t.y + t.h > scroller.scrollTop + RULER_H);
    layout();
    if (top && m.threads.includes(top)) scroller.scrollTop = Math.max(0, top.y - RULER_H);
    root.dataset.rows = String(m.threads.length);
    if (missingRows()) requestFetch(0);
    if (drawNow) draw();
  }
  function togglePin(tid) {
    if (m.tracks.pinned.has(tid)) m.tracks.pinned.delete(tid);
    else m.tracks.pinned.add(tid);
    tracksChanged();
  }
  function toggleGroup(key) {
    if (m.tracks.expanded.has(key)) m.tracks.expanded.delete(key);
    else m.tracks.expanded.add(key);
    tracksChanged();
  }

  // ---- the numbers of a shift-dragged range (timeline-range.js) ----
  async function showRange() {
    if (!m.selection) return;
    const a = Math.round(Math.min(m.selection.s, m.selection.e)), b = Math.round(Math.max(m.selection.s, m.selection.e));
    // the highlighted threads, else those the track filter shows, else all
    const filtered = m.tracks.filter.trim() || m.tracks.aliveOnly;
    const tids = m.highlight.size ? [...m.highlight] : filtered ? m.threads.flatMap((t) => (t.group ? t.members.map((x) => x.tid) : [t.tid])) : undefined;
    const gen = ++detailsGen;
    m.selected = null;
    publishParams();
    root.dataset.details = 'loading';
    openPanel('Loading…');
    panel.dataset.panel = 'range';
    try {
      const d = await api.getJSON('/api/range', { start_ns: a, end_ns: b, tids });
      if (destroyed || gen !== detailsGen) return;
      openPanel(`Range of ${formatDuration(b - a)}`, ...rangeContents(d, {
        threadName,
        zoom: () => { m.selection = null; zoomSelBtn.disabled = true; setWindow(a, b, true); },
        // the range's threads: one (profile_tid), several (their profiles summed) or all
        openProfile: (kind) => ctx.navigate && ctx.navigate('profiles', { kind, start_ns: a, end_ns: b, tid: d.profile_tid || undefined, tids: !d.profile_tid && tids && tids.length > 1 ? tids : undefined }),
        cpuProfile: samples.enabled ? () => ctx.navigate && ctx.navigate('profiles', { kind: 'cpu', start_ns: a, end_ns: b, tid: d.profile_tid || undefined }) : null,
      }));
      panel.dataset.panel = 'range';
      panel.dataset.start = String(a);
      panel.dataset.end = String(b);
      root.dataset.details = 'ready';
    } catch (e) {
      if (destroyed || gen !== detailsGen) return;
      openPanel('Range', h('p', { class: 'tl-error' }, e.message));
      root.dataset.details = 'error';
    }
    draw();
  }

  // ---- navigation ----
  let paramsTimer = 0;
  // The URL follows the window, the highlighted threads and the selected
  // event (a little later, so a zoom does not rewrite it on every step).
  function publishParams(now = false) {
    if (!ctx.setParams) return;
    clearTimeout(paramsTimer);
    const write = () => {
      if (destroyed) return;
      const p = { start_ns: Math.round(m.v0), end_ns: Math.round(m.v1) };
      if (m.highlight.size) p.tids = [...m.highlight];
      const ev = evOf(m.selected);
      if (ev) p.ev = ev;
      ctx.setParams(p);
    };
    if (now) write();
    else paramsTimer = setTimeout(write, 300);
  }
  // A lone step (a key press, a wheel notch, a link) asks for its window at
  // once and draws when the answer is in: one draw. Only when the answer is
  // slower than PREVIEW_MS is the old answer drawn stretched into the new
  // window first. Moves in a row (a held key, a drag, a wheel spin) draw the
  // old answer on every frame and ask once they pause (FETCH_PAUSE_MS).
  // A window whose answer is kept draws it at the next frame. When a full
  // draw is dear (a large trace: slowDraws), the old answer is not drawn
  // again: its image is stretched into the new window at the next frame
  // (stretchDraw), so the canvas follows the key at once and the answer's
  // draw is the only full one; when the last answer took longer than
  // PREVIEW_MS, the preview is not delayed either.
  const MOVES_APART_MS = 150;
  const PREVIEW_MS = 100;
  const FETCH_PAUSE_MS = 40;
  let lastMove = -Infinity;
  function setWindow(a, b, fetchNow = false) {
    m.clampWindow(a, b);
    if (m.tracks.aliveOnly && m.summary) tracksChanged(false);
    tip.hidden = true; // what it described has moved
    showWindow();
    const now = performance.now();
    const inARow = !fetchNow && (m.zoomHeld || m.panning || now - lastMove < MOVES_APART_MS);
    lastMove = now;
    if (useKeptAnswer()) {
      scheduleDraw();
    } else if (inARow || !m.data) {
      requestFetch(inARow ? FETCH_PAUSE_MS : 0);
      // the old answer at once in the new window: a preview of the answer
      // to come (stretched when drawing is dear)
      scheduleDraw(m.data ? 'preview' : 'model');
    } else {
      requestFetch(0);
      // drawing is dear (a large answer: the old image stretched at once),
      // or answers are slow to come (the old answer drawn at once)
      if (slowDraws() || lastAnswerMs > PREVIEW_MS) scheduleDraw('preview');
      else if (!previewTimer && !raf) previewTimer = setTimeout(() => { previewTimer = 0; scheduleDraw('preview'); }, PREVIEW_MS);
    }
    publishParams();
  }

  // Scrolls a thread's row into view below the ruler (and the task lanes),
  // unless it is already there; again after the first answer, which may
  // change the layout.
  let pendingReveal = null;
  let pendingScroll = null;
  function revealRow(tid) {
    const t = m.thread(tid);
    if (!t) return;
    if (!m.data) pendingReveal = tid;
    const top = scroller.scrollTop + RULER_H, bottom = scroller.scrollTop + m.height;
    if (t.y >= top + 4 && t.y + t.h <= bottom - 4) return;
    scroller.scrollTop = Math.max(0, t.y - RULER_H - 40);
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
    zoomBy, panBy, setWindow, reset, zoomToSelection, select, showTip, hideTip, scheduleDraw, toggleHelp, back,
    search: () => search.focus(),
    escape: () => {
      if (!help.hidden) toggleHelp(false);
      m.selection = null;
      zoomSelBtn.disabled = true;
      scheduleDraw();
    },
    selectionChanged: (usable) => {
      zoomSelBtn.disabled = !usable;
      if (usable) showRange();
    },
    scrolled: () => {
      tip.hidden = true;
      scheduleDraw();
      if (missingRows()) {
        requestFetch(60);
      } else {
        // rows already in the answer came into view: their wide spans'
        // names, once the scrolling settles (a new answer asks by itself)
        clearTimeout(namesTimer);
        namesTimer = setTimeout(() => { if (!destroyed) fetchCallNames(); }, 150);
      }
    },
  });
  const ro = new ResizeObserver(() => resize());
  ro.observe(stage);

  // A route's parameters (a link, another view, a tab): the window, the
  // highlighted threads (their first row scrolled into view) and the
  // selected event. What the link does not select is closed.
  function applyParams(p) {
    m.highlight = new Set(Array.isArray(p.tids) ? p.tids : []);
    let a = Number.isFinite(p.start_ns) ? p.start_ns : m.home;
    let b = Number.isFinite(p.end_ns) ? p.end_ns : m.T1;
    linkNote = '';
    if (Number.isFinite(p.start_ns) && Number.isFinite(p.end_ns) && p.end_ns <= p.start_ns) {
      linkNote = `The link's window ends (${formatAt(p.end_ns)}) before it starts (${formatAt(p.start_ns)}): showing it the right way round`;
      [a, b] = [p.end_ns, p.start_ns];
    }
    setWindow(a, b, true);
    showNote();
    const first = m.threads.find((t) => m.highlight.has(t.tid));
    if (first) revealRow(first.tid);
    if (p.ev) {
      if (p.ev !== evOf(m.selected)) openEv(p.ev, { reveal: !first });
    } else if (m.selected || !panel.hidden) {
      closePanel();
    }
    publishParams(true);
  }

  // ---- start ----
  const ready = (ctx.summary || api.summary()).then((s) => {
    if (destroyed) return;
    m.setSummary(s);
    samples.enable(s);
    legend.querySelector('[data-legend="fork"]').hidden = !m.multiProc; // a process tree (timeline-procs.js)
    legend.querySelector('[data-legend="flow"]').hidden = !s.flows;
    loadFlows(api, m, () => scheduleDraw());
    if (remembered.tracks) {
      m.tracks = remembered.tracks;
      trackFilter.value = m.tracks.filter;
      groupBox.checked = m.tracks.group;
      aliveBox.checked = m.tracks.aliveOnly;
    }
    srList.replaceChildren(...m.allThreads.map((t) => h('li', { dataset: { tid: t.tid } }, `${t.name || '(unnamed)'} ${t.tid} (process ${t.pid})`)));
    // where the recorder lost events: few, asked once
    if (Number(s.dropped_events) > 0) {
      api.getJSON('/api/drops').then((d) => {
        if (destroyed) return;
        m.drops = new Map();
        for (const x of d.drops) {
          if (!m.drops.has(x.tid)) m.drops.set(x.tid, []);
          m.drops.get(x.tid).push({ start: x.start_ns, end: x.end_ns, count: x.count });
        }
        root.dataset.drops = String(d.drops.length);
        scheduleDraw();
      }, () => {});
    }
    const p = ctx.params || {};
    resize();
    applyParams(p);
    // back from another tab: the rows scrolled as they were
    if (!(Array.isArray(p.tids) && p.tids.length) && !p.ev && remembered.scrollTop) {
      scroller.scrollTop = remembered.scrollTop;
      pendingScroll = remembered.scrollTop;
      if (m.data) pendingScroll = null;
    }
  });

  // Where things are drawn, in client coordinates: for tests and debugging.
  root.probe = {
    window: () => ({ start_ns: m.v0, end_ns: m.v1 }),
    /** How many times the canvas was drawn since the view was mounted. */
    draws: () => draws,
    /** Of them: late answers' previews, and redraws for call names that came. */
    previews: () => previews,
    /** Sets the cost of a full draw above which previews stretch the last image (ms; 0: always). */
    stretchAbove: (ms) => { stretchAboveMs = ms; },
    nameDraws: () => nameDraws,
    findSample: (tid) => samples.find(tid, canvas.getBoundingClientRect()), // timeline-samples.js
    findSpan(stateName, tid, nth = 0) { // the nth such span on screen (0: the first)
      if (!m.data) return null;
      const r = canvas.getBoundingClientRect();
      const st = STATE_OF_BYTE.indexOf(stateName);
      for (const t of m.threads) {
        if (tid !== undefined && t.tid !== tid) continue;
        const row = m.rowsByTid.get(rowKey(t));
        const y = t.y - scroller.scrollTop + ROW_PAD + LOG_H;
        if (!row || y < RULER_H || y + STATE_H > m.height) continue; // not on screen
        for (const sp of row.spans) {
          const x0 = Math.max(LABEL_W, m.xOf(sp.s)), x1 = Math.min(m.width, m.xOf(sp.e));
          if (sp.state === st && !sp.merged && x1 - x0 >= 6 && nth-- === 0) {
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
        const row = m.rowsByTid.get(rowKey(t));
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
    /** The row of thread tid in client coordinates, and the part of the canvas below the ruler. */
    rowBox(tid) {
      const t = m.thread(tid);
      const r = canvas.getBoundingClientRect();
      if (!t) return null;
      const stripTop = r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H;
      return { top: r.top + t.y - scroller.scrollTop, bottom: r.top + t.y + t.h - scroller.scrollTop, stripTop, stripBottom: stripTop + STATE_H, visibleTop: r.top + RULER_H, visibleBottom: r.top + m.height };
    },
    selected: () => (m.selected ? { ...m.selected, ev: evOf(m.selected) } : null),
    scrollTop: () => scroller.scrollTop,
    tasksNote: () => m.tasksNote || '',
    createsShown: () => m.createsShown().length,
    /** Where the call name or state label of a wide blocked span is drawn, and the text. */
    namedSpan() {
      const r = canvas.getBoundingClientRect();
      for (const t of m.visibleRows(0)) {
        const row = m.rowsByTid.get(rowKey(t));
        for (const sp of (row ? row.spans : [])) {
          if (sp.merged || sp.state === 0 || m.xOf(sp.e) - m.xOf(sp.s) < 60) continue;
          const x0 = Math.max(LABEL_W, m.xOf(sp.s)), x1 = Math.min(m.width, m.xOf(sp.e));
          if (x1 - x0 < 60) continue;
          return { tid: t.tid, name: m.spanName(t.tid, sp), x: r.left + (x0 + x1) / 2, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H / 2 };
        }
      }
      return null;
    },
    search: () => search.state(),
    /** The creation arrows drawn: one by one (creates) or bundled ({parent, n}). */
    creations: () => ({ creates: m.createsShown().length, bundles: m.createBundles().map((b) => ({ parent: b.parent, n: b.n, x: m.xOf(b.t0) })) }),
    /** The loaded search matches as kind:start_ns:tid, and a step to the i-th (tests). */
    searchMatches: () => (m.search ? m.search.matches.map((x) => `${x.kind}:${x.start_ns}:${x.tid}`) : []),
    searchGoTo: (i) => search.goToIndex(i),
    /** The overview strip: whether it has data, and the client x of time t in it. */
    overview: (t) => ({ ready: overview.hasData(), x: t === undefined ? null : overview.clientX(t), window: ovCanvas.dataset.window }),
    /** The drop marks in the window: [{tid, count, x, y}] in client coordinates. */
    dropMarks() {
      const r = canvas.getBoundingClientRect();
      const out = [];
      for (const [tid, list] of m.drops) {
        const t = m.thread(tid);
        if (!t) continue;
        for (const d of list) {
          if (d.end < m.v0 || d.start > m.v1) continue;
          out.push({ tid, count: d.count, x: r.left + (Math.max(LABEL_W, m.xOf(d.start)) + Math.min(m.width, m.xOf(d.end))) / 2, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H / 2 });
        }
      }
      return out;
    },
    /** The process headers: [{pid, collapsed, label, y (client)}]. */
    procs: () => { const r = canvas.getBoundingClientRect(); return m.procs.map((p) => ({ pid: p.pid, collapsed: !!p.collapsed, label: p.label, x: r.left + 60, y: r.top + p.y - scroller.scrollTop + PROC_H / 2, ...(p.tree ? { index: p.key, depth: p.proc.depth, contentY: p.y, back: p.back ? { x: r.left + (p.back.x0 + p.back.x1) / 2 } : null } : {}) })); },
    /** The fork and exec arrows (a process tree): [{kind, process, child, x0, y0, x1, y1}] in client coordinates, the call's end first. */
    procLinks() {
      const r = canvas.getBoundingClientRect();
      return (m.procLinks || []).map((l) => {
        const a = m.rowByKey && m.rowByKey.get(l.parentKey), b = m.rowByKey && m.rowByKey.get(l.childKey);
        const off = ROW_PAD + LOG_H + STATE_H / 2;
        return { kind: l.kind, process: l.process, child: l.child, x0: r.left + m.xOf(l.t0), y0: a ? r.top + a.y + off - scroller.scrollTop : null, x1: r.left + m.xOf(l.t1), y1: b ? r.top + b.y + off - scroller.scrollTop : null };
      });
    },
    /** The rows shown, in order: {tid} or {group: name, members: [tids], open}. */
    rows: () => m.threads.map((t) => (t.group ? { group: t.name, members: t.members.map((x) => x.tid), open: t.open, y: t.y, ...(t.procGroup ? { process: t.proc } : {}) } : { tid: t.tid, name: t.name, pinned: !!t.pinned, y: t.y, pid: t.pid, process: t.proc })),
    /** The label of the row showing tid (or a group row by index) in client coordinates. */
    labelAt(i) {
      const t = m.threads[i];
      if (!t) return null;
      const r = canvas.getBoundingClientRect();
      return { x: r.left + 60, y: r.top + t.y - scroller.scrollTop + ROW_PAD + LOG_H + STATE_H / 2, stripX: r.left + LABEL_W + (m.width - LABEL_W) / 2 };
    },
    /** Counter track i: its name, points and where it is drawn. */
    counterTrack(i = 0) {
      const c = m.counters[i];
      if (!c) return null;
      const r = canvas.getBoundingClientRect();
      const top = r.top + m.countersY - scroller.scrollTop;
      return { name: c.name, points: c.points.length, top, bottom: top + COUNTER_H, left: r.left + LABEL_W, right: r.left + m.width };
    },
    /** Where the matches of the search are highlighted on screen: [{kind, tid, x, y}]. */
    searchMarks: () => (m.searchMarks || []).map((k) => { const r = canvas.getBoundingClientRect(); return { ...k, x: r.left + k.x, y: r.top + k.y - scroller.scrollTop }; }),
    /** The data and shared wake edges known (/api/flows): [{kind, via, bytes, from, to}]. */
    flows: () => (m.flows || []).map((f) => ({ kind: f.kind, via: f.via, bytes: f.bytes, from: f.from, to: f.to, t0: f.t0, t1: f.t1 })),
    counts: () => (m.data ? { rows: m.data.rows.size, tasks: m.data.tasks.length, wakes: m.data.wakes.length, creates: m.data.creates.length } : null),
  };

  return ready.then(() => ({
    unmount() {
      remembered.scrollTop = scroller.scrollTop;
      destroyed = true;
      search.cancel();
      clearTimeout(trackTimer);
      clearTimeout(namesTimer);
      if (fetchCtl) fetchCtl.abort();
      clearTimeout(fetchTimer);
      clearTimeout(paramsTimer);
      ro.disconnect();
      detachInput();
      overview.detach();
      if (raf) cancelAnimationFrame(raf);
      clearTimeout(previewTimer);
    },
    update(p) {
      applyParams(p || {});
    },
  }));
}

export default { id: 'timeline', title: 'Timeline', mount };
