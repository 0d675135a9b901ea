// timeline-model.js - what the Timeline view knows, without drawing or
// input: the decoding of /api/timeline's binary answer, the layout of rows
// (where each thread, process header and task lane is, in CSS pixels), the
// window and its clamping, the mapping between time and x, the task lanes,
// and hit testing (what is under a point).
// Not here: the canvas (timeline-draw.js), events (timeline-input.js), the
// requests and the details panel (timeline.js).

import { STATE_CODES } from './states.js';
import { setProcs, arrangeCollapsed, layoutProcs, hitProcLink, hitFlow, indexRows, procMatches } from './timeline-procs.js';

// The state keys in the order of the binary answer's state byte
// (docs/API.md): the server's state codes, kept in web/states.js.
export const STATE_OF_BYTE = STATE_CODES;

// Layout, in CSS pixels.
export const LABEL_W = 200;
export const RULER_H = 30;
export const STATE_H = 16;
export const LOG_H = 8;
export const REGION_H = 16;
export const ROW_PAD = 6;
export const PROC_H = 24;
export const TASK_H = 16;
export const TASK_HEAD = 18; // the "Tasks" title above the lanes
export const MAX_TASK_LANES = 6;
export const COUNTER_H = 34; // one track per ctrace_counter() name
const MAGIC = 0x314c5443; // "CTL1"
const MAGIC2 = 0x324c5443; // "CTL2": the columnar form (format=2), what the view asks for

/**
 * A row's spans, regions or logs in the columnar answer: typed arrays over
 * the answer's bytes (one per field: s, e, state, ...), read in place by the
 * drawing; `at(i)`, iteration, `find`, `some`, `filter` and `map` give items
 * as objects, as arrays of them would, for everything else.
 */
class Items {
  constructor(length, cols, make) {
    this.length = length;
    Object.assign(this, cols);
    this.make = make;
  }

  at(i) { return this.make(this, i); }

  * [Symbol.iterator]() {
    for (let i = 0; i < this.length; i++) yield this.make(this, i);
  }

  find(f) {
    for (let i = 0; i < this.length; i++) {
      const x = this.make(this, i);
      if (f(x)) return x;
    }
    return undefined;
  }

  some(f) { return this.find(f) !== undefined; }

  filter(f) { return [...this].filter(f); }

  map(f) { return [...this].map(f); }
}
const makeSpan = (c, i) => ({ s: c.s[i], e: c.e[i], state: c.state[i], merged: c.merged[i], n: c.n[i] });
const spansOf = (list) => {
  // the first format's objects as columns, so the drawing reads one shape
  const n = list.length;
  const c = { s: new Float64Array(n), e: new Float64Array(n), state: new Uint8Array(n), merged: new Uint8Array(n), n: new Uint32Array(n) };
  list.forEach((x, i) => { c.s[i] = x.s; c.e[i] = x.e; c.state[i] = x.state; c.merged[i] = x.merged; c.n[i] = x.n; });
  return new Items(n, c, makeSpan);
};

// ---- the binary answer of /api/timeline ----

/** The key of thread t's row in a decoded answer: its tid, and for a later
 * thread that got the same tid (tid reuse), tid#instance. */
export function rowKey(t) {
  return t.instance ? `${t.tid}#${t.instance}` : t.tid;
}

export function decode(buf) {
  const dv = new DataView(buf);
  if (buf.byteLength >= 4 && dv.getUint32(0, true) === MAGIC2) return decode2(buf, dv);
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
  const seen = new Map(); // tid -> rows of it so far (the kernel reuses tids)
  for (let r = 0; r < nrows; r++) {
    const tid = u32();
    const k = seen.get(tid) || 0;
    seen.set(tid, k + 1);
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
    // rows come in thread order: a later thread that got the same tid is
    // that tid's next instance (rowKey)
    out.rows.set(k ? `${tid}#${k}` : tid, { spans: spansOf(spans), regions, logs });
  }
  decodeRest(dv, o, strings, out);
  return out;
}

// Tasks, wakes and creations: the same in both formats.
function decodeRest(dv, o0, strings, out) {
  // explicit offsets, not closures over one: a third less of the time
  let o = o0;
  const nt = dv.getUint32(o, true);
  o += 4;
  for (let i = 0; i < nt; i++) {
    const ntouch = dv.getUint32(o + 48, true);
    const touches = new Array(ntouch);
    for (let k = 0, q = o + 52; k < ntouch; k++, q += 20) touches[k] = { tid: dv.getUint32(q, true), first: dv.getFloat64(q + 4, true), last: dv.getFloat64(q + 12, true) };
    out.tasks.push({
      s: dv.getFloat64(o, true), e: dv.getFloat64(o + 8, true), id: dv.getFloat64(o + 16, true), parent: dv.getFloat64(o + 24, true),
      name: strings[dv.getUint32(o + 32, true)], beginTid: dv.getUint32(o + 36, true), endTid: dv.getUint32(o + 40, true),
      open: dv.getUint32(o + 44, true) !== 0, touches,
    });
    o += 52 + 20 * ntouch;
  }
  const nw = dv.getUint32(o, true);
  out.wakesTotal = dv.getUint32(o + 4, true);
  o += 8;
  for (let i = 0; i < nw; i++, o += 32) {
    out.wakes.push({ t: dv.getFloat64(o, true), from: dv.getUint32(o + 8, true), to: dv.getUint32(o + 12, true), reason: dv.getUint32(o + 16, true), object: dv.getFloat64(o + 24, true) });
  }
  const nc = dv.getUint32(o, true);
  o += 4;
  for (let i = 0; i < nc; i++, o += 24) out.creates.push({ t0: dv.getFloat64(o, true), t1: dv.getFloat64(o + 8, true), parent: dv.getUint32(o + 16, true), child: dv.getUint32(o + 20, true) });
}

// A string of the answer: short ASCII ones without the TextDecoder, whose
// call costs more than the string.
function text(bytes, p, len, dec) {
  if (len <= 64) {
    let ascii = true;
    for (let i = 0; i < len; i++) if (bytes[p + i] >= 0x80) { ascii = false; break; }
    if (ascii) return String.fromCharCode.apply(null, bytes.subarray(p, p + len));
  }
  return dec.decode(bytes.subarray(p, p + len));
}

// The columnar answer (docs/API.md, "format=2"): each column is a typed
// array over the answer's bytes (they start at multiples of 8), so a row
// costs a few views, not an object per item.
function decode2(buf, dv) {
  let o = 4;
  const u32 = () => { const v = dv.getUint32(o, true); o += 4; return v; };
  const f64 = () => { const v = dv.getFloat64(o, true); o += 8; return v; };
  const nrows = u32();
  const out = { start: f64(), end: f64(), nsPerPx: f64(), rows: new Map(), tasks: [], wakes: [], wakesTotal: 0, creates: [] };
  const nstr = u32();
  const strBytes = u32();
  const bytes = new Uint8Array(buf);
  const dec = new TextDecoder();
  const strings = new Array(nstr);
  let p = o;
  for (let i = 0; i < nstr; i++) {
    const len = bytes[p] | (bytes[p + 1] << 8);
    strings[i] = len ? text(bytes, p + 2, len, dec) : '';
    p += 2 + len;
  }
  o = (o + strBytes + 7) & ~7;
  const al = () => { o = (o + 7) & ~7; };
  const F64 = (n) => { const a = new Float64Array(buf, o, n); o += 8 * n; return a; };
  const U32 = (n) => { const a = new Uint32Array(buf, o, n); o += 4 * n; return a; };
  const U16 = (n) => { const a = new Uint16Array(buf, o, n); o += 2 * n; return a; };
  const U8 = (n) => { const a = new Uint8Array(buf, o, n); o += n; return a; };
  const makeRegion = (c, i) => ({ s: c.s[i], e: c.e[i], task: c.task[i], name: strings[c.name[i]], n: c.n[i], depth: c.depth[i], open: !!(c.flags[i] & 1), merged: !!(c.flags[i] & 2) });
  const makeLog = (c, i) => ({ t: c.t[i], task: c.task ? c.task[i] : 0, category: c.category ? strings[c.category[i]] : '', message: c.message ? strings[c.message[i]] : '', n: c.n[i], dense: !c.message });
  const seen = new Map();
  for (let r = 0; r < nrows; r++) {
    const tid = u32();
    const k = seen.get(tid) || 0;
    seen.set(tid, k + 1);
    const ns = u32(), nr = u32(), nl = u32(), flags = u32();
    u32();
    const spans = new Items(ns, { s: F64(ns), e: F64(ns), n: U32(ns), state: U8(ns), merged: U8(ns) }, makeSpan);
    al();
    const regions = new Items(nr, { s: F64(nr), e: F64(nr), task: F64(nr), name: U32(nr), n: U32(nr), depth: U16(nr), flags: U16(nr) }, makeRegion);
    al();
    const dense = flags & 1;
    const lc = { t: F64(nl) };
    if (!dense) lc.task = F64(nl);
    lc.n = U32(nl);
    if (!dense) {
      lc.category = U32(nl);
      lc.message = U32(nl);
    }
    al();
    const logs = new Items(nl, lc, makeLog);
    out.rows.set(k ? `${tid}#${k}` : tid, { spans, regions, logs });
  }
  decodeRest(dv, o, strings, out);
  return out;
}

// ---- time formatting for the ruler and the panel ----

const UNITS = [[1e9, 's'], [1e6, 'ms'], [1e3, 'µs'], [1, 'ns']];

// The unit follows the window's magnitude (8.4 s, not 8400 ms), the
// decimals the tick step (10.000001 s at deep zoom).
export function tickLabel(t, step, magnitude) {
  const [scale, unit] = UNITS.find(([s]) => magnitude >= s) || UNITS[3];
  const decimals = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / scale) - 1e-9)));
  return `${(t / scale).toFixed(decimals)} ${unit}`;
}

/** An instant since the trace start, precise to the ns at deep zoom. */
export function formatAt(ns) {
  if (Math.abs(ns) >= 1e9) return `${(ns / 1e9).toFixed(9)} s`;
  if (Math.abs(ns) >= 1e6) return `${(ns / 1e6).toFixed(6)} ms`;
  if (Math.abs(ns) >= 1e3) return `${(ns / 1e3).toFixed(3)} µs`;
  return `${ns} ns`;
}

export function niceStep(minStep) {
  const p = 10 ** Math.floor(Math.log10(Math.max(minStep, 1)));
  for (const m of [1, 2, 5, 10]) if (p * m >= minStep) return p * m;
  return p * 10;
}

export function hashHue(s) {
  let x = 2166136261;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 16777619);
  return (x >>> 0) % 360;
}

// ---- the model ----

/**
 * The state of one mounted Timeline: plain fields read by the drawing and
 * input modules, and the functions that keep them consistent.
 */
export function createModel() {
  const m = {
    summary: null,
    threads: [], // the rows shown: {tid, name, pid, first, last, depth, y, h}, or a group {group, key, members, open}
    allThreads: [], // every thread, in the order of the rows
    rowOf: new Map(), // tid -> its row in threads
    tracks: { filter: '', pinned: new Set(), group: false, expanded: new Set(), aliveOnly: false, collapsed: new Set() },
    rowsByTid: new Map(),
    procs: [], // {pid, label, y}; in a process tree also {key, tree, proc, collapsed, indent} (timeline-procs.js)
    procList: [], // the processes (timeline-procs.js)
    procLinks: [], // fork and exec links between them
    multiProc: false, // more than one process: groups in tree order (timeline-procs.js)
    flows: [], // data edges and shared-object wake-ups (/api/flows, timeline-procs.js)
    taskLanes: 0,
    tasksY: RULER_H,
    totalH: 0,
    T0: 0, T1: 1, // the trace
    home: 0, // where the whole-trace view starts: a little before the first event
    v0: 0, v1: 1, // the window
    data: null, // decoded answer
    highlight: new Set(),
    selection: null, // {s, e} being / been shift-dragged
    selected: null, // {kind, ...} shown in the panel
    hover: null,
    width: 800, height: 400, dpr: 1,
    scrollTop: 0, // of the rows, set by the view before drawing / hit testing
    taskLayout: [], // {task, lane}
    lanesWanted: MAX_TASK_LANES, // fixed after the first answer, so rows do not jump
    counters: [], // {name, min, max, points: [[t, v]]}: /api/counters for the window
    drops: new Map(), // tid -> [{start, end, count}]: where the recorder lost events (/api/drops)
    countersY: RULER_H,
    search: null, // {q, matches, total, index}: timeline-find.js
    searchMarks: [], // where the painter drew them (canvas x, content y)
    showCreates: true, // the thread-creation arrows (a toggle of the toolbar)
    spanName: () => '', // the call a span was blocked in, when known (timeline.js)
  };

  m.plotW = () => Math.max(10, m.width - LABEL_W);
  m.xOf = (t) => LABEL_W + ((t - m.v0) / (m.v1 - m.v0)) * m.plotW();
  m.tOf = (x) => m.v0 + ((x - LABEL_W) / m.plotW()) * (m.v1 - m.v0);
  /** The row that shows thread tid (its group's when collapsed), or null when it is not shown. */
  m.thread = (tid) => m.rowOf.get(tid) || null;
  /** The thread tid itself, shown or not. */
  m.threadInfo = (tid) => m.allThreads.find((x) => x.tid === tid) || null;
  /** y of the middle of a thread's state strip, or null. */
  m.rowY = (tid) => {
    const t = m.thread(tid);
    return t ? t.y + ROW_PAD + LOG_H + STATE_H / 2 : null;
  };
  m.taskLaneY = (lane) => m.tasksY + TASK_HEAD + lane * (TASK_H + 2);

  /** Places the task lanes, process headers and thread rows; returns the total height. */
  m.layout = () => {
    let y = RULER_H;
    m.tasksY = y;
    m.taskLanes = 0;
    if (m.summary && (m.summary.tasks || 0) > 0) {
      m.taskLanes = m.lanesWanted;
      y += TASK_HEAD + m.taskLanes * (TASK_H + 2) + 6;
    }
    m.countersY = y;
    y += m.counters.length * COUNTER_H;
    m.arrange();
    m.procs = [];
    if (m.multiProc) {
      m.totalH = layoutProcs(m, y) + 10;
      return m.totalH;
    }
    let pid = null;
    const pinned = m.threads.filter((t) => t.pinned);
    if (pinned.length) {
      m.procs.push({ pid: 'pinned', label: `Pinned (${pinned.length})`, y });
      y += PROC_H;
    }
    const procOf = (pidv) => {
      const p = (m.summary.process_list || []).find((x) => x.pid === pidv);
      const exe = p ? String(p.exe).split('/').pop() : '';
      return `Process ${pidv}${exe ? ` · ${exe}` : ''}`;
    };
    for (const t of m.threads) {
      if (!t.pinned && t.pid !== pid) {
        pid = t.pid;
        m.procs.push({ pid, label: `▾ ${procOf(pid)}`, y });
        y += PROC_H;
      }
      t.y = y;
      t.h = t.group ? ROW_PAD + LOG_H + STATE_H + ROW_PAD : ROW_PAD + LOG_H + STATE_H + 2 + t.depth * REGION_H + ROW_PAD;
      y += t.h;
    }
    // collapsed processes: their header only, at the end
    for (const pidv of m.tracks.collapsed) {
      const n = m.allThreads.filter((t) => t.pid === pidv).length;
      if (!n) continue;
      m.procs.push({ pid: pidv, collapsed: true, label: `▸ ${procOf(pidv)} (${n} thread${n === 1 ? '' : 's'} hidden)`, y });
      y += PROC_H;
    }
    m.totalH = y + 10;
    indexRows(m); // for the flows' arrows (timeline-procs.js)
    return m.totalH;
  };

  /**
   * The rows shown, from every thread and the track settings (m.tracks):
   * pinned threads first, then by process in creation order; threads whose
   * name or tid does not contain the filter, and with aliveOnly those not
   * alive in the window, left out; with group, threads of a process that
   * share a name become one group row (expanded: the group row, then its
   * members). m.rowOf maps each tid to the row that shows it.
   */
  m.arrange = () => {
    const tr = m.tracks;
    const f = tr.filter.trim().toLowerCase();
    // in a process tree the filter also names processes: by pid or program (timeline-procs.js)
    const keep = (t) => (!f || (t.name || '').toLowerCase().includes(f) || String(t.tid).includes(f) || (m.multiProc && procMatches(m, t, f)))
      && (!tr.aliveOnly || (t.last >= m.v0 && t.first <= m.v1));
    // one process: a collapsed one keeps its header only; a tree: one summary row (timeline-procs.js)
    const shown = m.allThreads.filter((t) => tr.pinned.has(t.tid) || (keep(t) && (m.multiProc || !tr.collapsed.has(t.pid))));
    for (const t of m.allThreads) {
      t.pinned = tr.pinned.has(t.tid);
      t.inGroup = false;
    }
    const pinned = shown.filter((t) => t.pinned);
    const rows = [...pinned];
    m.rowOf = new Map();
    for (const t of pinned) m.rowOf.set(t.tid, t);
    const unpinned = shown.filter((t) => !t.pinned);
    const rest = m.multiProc ? arrangeCollapsed(m, unpinned) : unpinned;
    if (tr.group) {
      const groups = new Map();
      for (const t of rest) {
        if (t.procGroup) continue;
        const key = `${t.proc}\u0000${t.name}`;
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(t);
      }
      const done = new Set();
      for (const t of rest) {
        if (t.procGroup) {
          rows.push(t);
          continue;
        }
        const key = `${t.proc}\u0000${t.name}`;
        const members = groups.get(key);
        if (members.length < 2) {
          rows.push(t);
          m.rowOf.set(t.tid, t);
          continue;
        }
        if (done.has(key)) continue;
        done.add(key);
        const open = tr.expanded.has(key);
        const g = { group: true, key, name: t.name, pid: t.pid, proc: t.proc, members, open, tid: undefined, depth: 0,
          first: Math.min(...members.map((x) => x.first)), last: Math.max(...members.map((x) => x.last)) };
        rows.push(g);
        for (const x of members) {
          if (open) {
            x.inGroup = true;
            rows.push(x);
            m.rowOf.set(x.tid, x);
          } else {
            m.rowOf.set(x.tid, g);
          }
        }
      }
    } else {
      for (const t of rest) {
        rows.push(t);
        if (!t.procGroup) m.rowOf.set(t.tid, t);
      }
    }
    m.threads = rows;
  };

  /** Greedy lanes by start; tasks that fit no lane go in the last one. */
  m.layoutTasks = () => {
    const lanes = Math.max(1, m.taskLanes || MAX_TASK_LANES);
    const ends = new Array(lanes).fill(-Infinity);
    const minGap = (m.v1 - m.v0) / m.plotW() * 3;
    m.taskLayout = [];
    const tasks = [...m.data.tasks].sort((x, y) => x.s - y.s);
    for (const t of tasks) {
      let lane = ends.findIndex((e) => e + minGap <= t.s);
      if (lane < 0) lane = lanes - 1;
      ends[lane] = Math.max(ends[lane], t.e);
      m.taskLayout.push({ task: t, lane });
    }
  };

  /** Takes a decoded answer; on the first one, fixes the number of task lanes. */
  m.setData = (d) => {
    const first = !m.data;
    m.data = d;
    m.rowsByTid = d.rows;
    m.layoutTasks();
    if (first) {
      const used = m.taskLayout.reduce((n, x) => Math.max(n, x.lane + 1), 0);
      m.lanesWanted = Math.max(1, Math.min(MAX_TASK_LANES, used));
      m.layout();
      m.layoutTasks();
    }
    return first;
  };

  /** Sets the window to [a, b], at least 1 µs wide and inside the trace. */
  m.clampWindow = (a, b) => {
    const minSpan = 1000; // 1 µs
    let s = a, e = b;
    if (e - s < minSpan) {
      const mid = (s + e) / 2;
      s = mid - minSpan / 2;
      e = mid + minSpan / 2;
    }
    const span = Math.min(e - s, (m.T1 - m.T0) * 1.0);
    if (s < m.T0) { s = m.T0; e = s + span; }
    if (e > m.T1) { e = m.T1; s = Math.max(m.T0, e - span); }
    m.v0 = s;
    m.v1 = e;
  };

  /** Takes /api/summary: the trace's bounds and its threads, grouped by process in creation order. */
  m.setSummary = (s) => {
    m.summary = s;
    m.T0 = Number(s.start_ns) || 0;
    m.T1 = Math.max(m.T0 + 1, Number(s.end_ns) || 1);
    m.home = m.T0;
    const list = s.thread_list || (Array.isArray(s.threads) ? s.threads : []);
    // grouped by process, in creation order (the server's order is the order
    // of first events)
    const order = new Map();
    for (const t of list) if (!order.has(t.pid)) order.set(t.pid, order.size);
    // an unnamed main thread goes by its program's name
    const exeOf = new Map((s.process_list || []).map((p) => [p.pid, String(p.exe || '').split('/').pop()]));
    const nameOf = (t) => t.name || (t.tid === t.pid && exeOf.get(t.pid)) || '';
    m.allThreads = list.map((t, i) => ({ tid: t.tid, instance: t.instance || 0, name: nameOf(t), pid: t.pid, proc: t.process || 0, first: t.first_ns, last: t.last_ns, depth: Math.min(t.max_depth || 0, 12), createdBy: t.created_by || 0, i }))
      .sort((x, y) => order.get(x.pid) - order.get(y.pid) || x.i - y.i);
    setProcs(m, s); // a process tree: its order (timeline-procs.js)
    // the window starts a little before the first event (the trace's clock
    // may start well before it)
    m.threads = m.allThreads;
    m.rowOf = new Map(m.allThreads.map((t) => [t.tid, t]));
    if (m.threads.length) {
      const first = Math.min(...m.threads.map((t) => t.first));
      if (first > m.T0) m.home = Math.max(m.T0, Math.floor(first - (m.T1 - first) * 0.01));
    }
    m.v0 = m.home;
    m.v1 = m.T1;
  };

  /** The thread that parent created at ns: its first to start after ns. */
  m.childOf = (parent, ns) => {
    let best = null;
    for (const t of m.allThreads) if (t.createdBy === parent && t.first >= ns && (!best || t.first < best.first)) best = t;
    return best;
  };

  m.visibleRows = (margin) => {
    const top = m.scrollTop - margin, bottom = m.scrollTop + m.height + margin;
    return m.threads.filter((t) => t.y + t.h >= top && t.y <= bottom);
  };
  /** The threads whose data the rows near the screen need (a group needs its members'). */
  m.visibleTids = (margin) => m.visibleRows(margin).flatMap((t) => (t.group ? t.members.map((x) => x.tid) : [t.tid]));

  // Wake-up arrows only while they can be told apart: one per 8 px at most.
  m.wakesShown = () => (m.data && m.data.wakes.length <= m.plotW() / 8 ? m.data.wakes : []);
  // Creation arrows the same way, but fewer (they are long and diagonal):
  // one per 24 px at most, and none when switched off.
  m.createsShown = () => (m.data && m.showCreates && m.data.creates.length <= m.plotW() / 24 ? m.data.creates : []);

  /**
   * When there are too many creation arrows to draw one by one: bundles,
   * one per creator and run of creations less than 24 px apart
   * ({parent, t0, t1, children: [tid], n}: from the first creation to the
   * last one's start; runs twice, four times ... as wide when there would
   * be more than one per 24 px), drawn as one arrow with a count; [] when
   * the arrows are drawn one by one, hidden, or when there are more
   * creators than fit.
   */
  m.createBundles = () => {
    if (!m.data || !m.showCreates || m.data.creates.length <= m.plotW() / 24) return [];
    const byParent = new Map();
    for (const c of m.data.creates) {
      if (!byParent.has(c.parent)) byParent.set(c.parent, []);
      byParent.get(c.parent).push(c);
    }
    for (const list of byParent.values()) list.sort((a, b) => a.t0 - b.t0);
    const max = m.plotW() / 24;
    // runs less than 24 px apart; when that is still too many, wider runs
    for (let gap = ((m.v1 - m.v0) / m.plotW()) * 24; ; gap *= 2) {
      const out = [];
      for (const [parent, list] of byParent) {
        let cur = null;
        for (const c of list) {
          if (cur && c.t0 - cur.last <= gap) {
            cur.children.push(c.child);
            cur.last = c.t0;
            cur.t1 = Math.max(cur.t1, c.t1);
            continue;
          }
          cur = { parent, t0: c.t0, last: c.t0, t1: c.t1, children: [c.child] };
          out.push(cur);
        }
      }
      if (out.length <= max || out.length === byParent.size) {
        if (out.length > max) return [];
        for (const b of out) b.n = b.children.length;
        return out;
      }
    }
  };

  /** The first loss of events on thread tid at or after t (an open region's end was lost there), or null. */
  m.dropAfter = (tid, t) => (m.drops.get(tid) || []).find((d) => d.end >= t) || null;

  /** How many threads of group g are in each state at time t: {state: n}. */
  m.groupStatesAt = (g, t) => {
    const out = {};
    for (const x of g.members) {
      const row = m.rowsByTid.get(rowKey(x));
      if (!row || t < x.first || t > x.last) continue;
      const sp = row.spans.find((s) => s.s <= t && t < s.e);
      if (sp) out[STATE_OF_BYTE[sp.state]] = (out[STATE_OF_BYTE[sp.state]] || 0) + 1;
    }
    return out;
  };

  /** The value of counter track c at time t (the last set at or before t), or null. */
  m.counterAt = (c, t) => {
    let v = null;
    for (const [pt, pv] of c.points) {
      if (pt > t) break;
      v = pv;
    }
    return v;
  };

  /** What is at canvas point (x, yCanvas): {kind, ...} or null. */
  m.hit = (x, yCanvas) => {
    if (yCanvas < RULER_H || !m.data) return null;
    const y = yCanvas + m.scrollTop;
    const proc = m.procs.find((p) => p.pid !== 'pinned' && y >= p.y && y < p.y + PROC_H);
    if (proc && proc.back && x >= proc.back.x0 && x <= proc.back.x1) return { kind: 'procback', proc, link: proc.back.link };
    const pl = hitProcLink(m, x, y) || hitFlow(m, x, y); // fork, exec and data arrows, over headers and rows (timeline-procs.js)
    if (pl) return pl;
    if (proc) return { kind: 'proc', proc };
    if (x < LABEL_W) {
      const row = m.threads.find((r) => y >= r.y && y < r.y + r.h);
      return row ? { kind: 'label', thread: row } : null;
    }
    const t = m.tOf(x);
    if (m.counters.length && y >= m.countersY && y < m.countersY + m.counters.length * COUNTER_H) {
      const c = m.counters[Math.floor((y - m.countersY) / COUNTER_H)];
      return { kind: 'counter', counter: c, t, value: m.counterAt(c, t) };
    }
    const slack = ((m.v1 - m.v0) / m.plotW()) * 3;
    if (m.taskLanes && y >= m.taskLaneY(0) && y < m.taskLaneY(m.taskLanes)) {
      const lane = Math.floor((y - m.taskLaneY(0)) / (TASK_H + 2));
      let best = null;
      for (const tl of m.taskLayout) {
        if (tl.lane === lane && tl.task.s - slack <= t && t <= tl.task.e + slack) {
          if (!best || tl.task.e - tl.task.s < best.e - best.s) best = tl.task;
        }
      }
      return best ? { kind: 'task', task: best } : null;
    }
    const th = m.threads.find((r) => y >= r.y && y < r.y + r.h);
    if (!th) return null;
    if (th.group) return { kind: 'group', group: th, t, states: m.groupStatesAt(th, t) };
    const row = m.rowsByTid.get(rowKey(th));
    if (!row) return null;
    const ys = th.y + ROW_PAD + LOG_H;
    // wake arrows near the pointer
    for (const w of m.wakesShown()) {
      if (Math.abs(m.xOf(w.t) - x) <= 3) {
        const ya = m.rowY(w.from), yb = m.rowY(w.to);
        if (ya !== null && yb !== null && y >= Math.min(ya, yb) - 4 && y <= Math.max(ya, yb) + 4 && (w.from === th.tid || w.to === th.tid || (y > Math.min(ya, yb) && y < Math.max(ya, yb)))) {
          if (Math.abs(y - ys - STATE_H / 2) > STATE_H / 2 || w.from === th.tid) return { kind: 'wake', wake: w, thread: th };
        }
      }
    }
    // thread creation: the start of the arrow, on the creator's row
    for (const c of m.createsShown()) {
      if (c.parent === th.tid && Math.abs(m.xOf(c.t0) - x) <= 4 && y >= ys - 2 && y <= ys + STATE_H + 2) return { kind: 'create', create: c, thread: th };
    }
    if (y < ys) {
      let best = null;
      for (const l of row.logs) if (Math.abs(m.xOf(l.t) - x) <= 5 && (!best || Math.abs(l.t - t) < Math.abs(best.t - t))) best = l;
      return best ? { kind: 'log', log: best, thread: th } : null;
    }
    if (y < ys + STATE_H) {
      const pad = ((m.v1 - m.v0) / m.plotW()) * 2;
      const dr = (m.drops.get(th.tid) || []).find((d) => d.start - pad <= t && t <= d.end + pad);
      if (dr) return { kind: 'drop', drop: dr, thread: th, t };
      const smp = m.sampleHit && m.sampleHit(th, x, y - ys); // timeline-samples.js
      if (smp) return smp;
      if (t < th.first || t > th.last) return { kind: 'outside', thread: th, t };
      const s = row.spans.find((sp) => sp.s <= t + slack / 3 && t - slack / 3 < sp.e);
      return s ? { kind: 'span', span: s, thread: th, t } : null;
    }
    const depth = Math.floor((y - ys - STATE_H - 2) / REGION_H);
    const r = row.regions.find((rg) => rg.depth === depth && rg.s - slack / 3 <= t && t <= rg.e + slack / 3);
    return r ? { kind: 'region', region: r, thread: th } : null;
  };

  return m;
}
