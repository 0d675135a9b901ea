// timeline-samples.js - the CPU samples on the Timeline: a mark per sample
// in a thin strip at the foot of its thread's state bar, hover for the
// sample's stack, click for its details (with the thread's CPU flame graph
// a click away). The timeline calls in through three hooks of its model:
// m.samplesLayer(g) draws (timeline-draw.js), m.sampleHit(thread, x, y)
// finds a sample under the pointer (timeline-model.js), and timeline.js
// asks load() beside each /api/timeline, draws both answers at once (use())
// and passes tooltips and clicks of kind 'sample' here.
//
// Data: /api/samples for the window at the canvas' width: per thread either
// each sample [ns, stack id] or, when a thread has more than a quarter of
// the pixels' worth, counts per pixel; so drawing costs at most one
// rectangle per pixel and row, whatever the trace holds (10 M samples draw
// as density). /api/sample gives one sample's symbolized stack.
import { h } from './dom.js';
import { formatDuration } from './format.js';
import { LABEL_W, STATE_H, LOG_H, ROW_PAD, formatAt, rowKey } from './timeline-model.js';

export const SAMPLE_H = 5; // the strip's height, inside the state bar's foot
const INK = '#1d2430';

function frameText(f) {
  if (!f) return '??';
  if (f.function && f.function !== '??') return f.function;
  if (f.object) return `${String(f.object).split('/').pop()}+${f.offset}`;
  return f.pc || '??';
}

/**
 * env: {api, openPanel(title, ...nodes), stackList(frames), threadName(tid),
 * navigate(view, params), showTipAgain(), draw(), done()}: done marks the
 * details panel ready.
 */
export function createSamples(m, env) {
  let data = null; // the last answer: {start_ns, end_ns, width, period_ns, rows: Map(rowKey -> thread)}
  let enabled = false;
  const stacks = new Map(); // "tid:ns" -> frames (a few hundred at most)

  function enable(summary) {
    enabled = !!(summary && summary.sched && Number(summary.sched.cpu_samples) > 0);
    return enabled;
  }

  // The last few answers: a window shown again (a zoom back, a pan back)
  // takes its samples from here, at once.
  const kept = new Map(); // query -> data, the oldest first
  const KEPT = 4;
  // The samples of a window, asked beside its /api/timeline (timeline.js
  // awaits both and draws once): resolves to the answer (give it to use()),
  // or null when there are no samples to show or the request failed.
  async function load(a, b, width, rows, signal) {
    if (!enabled) return null;
    const q = { start_ns: a, end_ns: b, width };
    if (rows) q.tids = rows.join(',');
    const query = String(new URLSearchParams(q));
    if (kept.has(query)) return kept.get(query);
    let d;
    try {
      // not through api.js's cache (that keeps every answer)
      const res = await fetch(`/api/samples?${query}`, { signal });
      if (!res.ok) return null;
      d = await res.json();
    } catch {
      return null; // aborted, or the server is gone (the timeline reports that)
    }
    const byRow = new Map();
    for (const t of d.threads || []) byRow.set(rowKey(t), t);
    const x = { start: d.start_ns, end: d.end_ns, width: d.width, period: d.period_ns, rows: byRow };
    kept.set(query, x);
    if (kept.size > KEPT) kept.delete(kept.keys().next().value);
    return x;
  }
  // Makes an answer of load() the one drawn (the caller draws).
  function use(x) {
    if (x) data = x;
  }

  function strip(t) {
    const ys = t.y + ROW_PAD + LOG_H;
    return ys + STATE_H - SAMPLE_H;
  }

  // one rectangle per sample (sparse rows) or per pixel (dense rows)
  m.samplesLayer = (g) => {
    if (!data) return;
    const { width } = m;
    const pxNs = (data.end - data.start) / data.width;
    g.save();
    g.beginPath();
    g.rect(LABEL_W, m.scrollTop, width - LABEL_W, m.height);
    g.clip();
    g.fillStyle = INK;
    for (const t of m.threads) {
      if (t.group) continue;
      if (t.y + t.h < m.scrollTop || t.y > m.scrollTop + m.height) continue;
      const row = data.rows.get(rowKey(t));
      if (!row) continue;
      const y = strip(t);
      if (row.samples) {
        g.globalAlpha = 0.85;
        for (const [ns] of row.samples) {
          const x = m.xOf(ns);
          if (x < LABEL_W - 2 || x > width) continue;
          g.fillRect(x - 0.5, y, 1.5, SAMPLE_H);
        }
      } else if (row.bins) {
        let max = 1;
        for (const [, c] of row.bins) if (c > max) max = c;
        for (const [px, c] of row.bins) {
          const x0 = m.xOf(data.start + px * pxNs), x1 = m.xOf(data.start + (px + 1) * pxNs);
          if (x1 < LABEL_W || x0 > width) continue;
          g.globalAlpha = 0.25 + 0.65 * (c / max);
          g.fillRect(x0, y, Math.max(1, x1 - x0), SAMPLE_H);
        }
      }
    }
    g.globalAlpha = 1;
    g.restore();
  };

  // a sample near x on thread t's strip (y: from the top of the state bar)
  m.sampleHit = (t, x, y) => {
    if (!data || y < STATE_H - SAMPLE_H - 1) return null;
    const row = data.rows.get(rowKey(t));
    if (!row) return null;
    if (row.samples) {
      let best = null, bd = 4;
      for (const s of row.samples) {
        const d = Math.abs(m.xOf(s[0]) - x);
        if (d < bd) { bd = d; best = s; }
      }
      return best ? { kind: 'sample', thread: t, ns: best[0], n: 1 } : null;
    }
    const pxNs = (data.end - data.start) / data.width;
    const tt = m.tOf(x);
    let best = null;
    for (const b of row.bins || []) {
      const x0 = m.xOf(data.start + b[0] * pxNs), x1 = m.xOf(data.start + (b[0] + 1) * pxNs);
      if (x >= x0 - 2 && x <= Math.max(x1, x0 + 1) + 2) { best = b; break; }
    }
    return best ? { kind: 'sample', thread: t, ns: Math.round(tt), n: best[1], within: Math.ceil(pxNs * 2) } : null;
  };

  async function stackOf(o) {
    const key = `${o.thread.tid}:${o.ns}`;
    if (stacks.has(key)) return stacks.get(key);
    const pxNs = (m.v1 - m.v0) / m.plotW();
    const d = await env.api.getJSON('/api/sample', { tid: o.thread.tid, ns: o.ns, within_ns: Math.max(1000, Math.ceil(o.within || pxNs * 4)) });
    if (stacks.size > 500) stacks.clear();
    stacks.set(key, d);
    return d;
  }

  function tooltip(o) {
    const who = `${o.thread.name || 'thread'} ${o.thread.tid}`;
    const head = o.n > 1 ? `${o.n.toLocaleString()} CPU samples · ${who}` : `CPU sample · ${who}`;
    const key = `${o.thread.tid}:${o.ns}`;
    const d = stacks.get(key);
    if (!d) {
      stackOf(o).then(() => { if (m.hover && m.hover.kind === 'sample' && m.hover.ns === o.ns) env.showTipAgain(); }).catch(() => {});
      return [head, `at ${formatAt(o.ns)}`, 'stack: loading…'];
    }
    const frames = (d.stack || []).slice(0, 6).map(frameText);
    return [head, `at ${formatAt(d.ns)} on CPU ${d.cpu}${o.n > 1 ? ' (the nearest one)' : ''}`, ...frames.map((f, i) => `${i ? '← ' : ''}${f}`), 'Click for details'];
  }

  function profileButton(label, params, action) {
    return h('button', { type: 'button', class: 'tl-btn', 'data-action': action, onclick: () => env.navigate('profiles', { kind: 'cpu', ...params }) }, label);
  }

  async function select(o) {
    m.selected = { kind: 'sample', tid: o.thread.tid, ns: o.ns, s: o.ns };
    env.openPanel('Loading…');
    env.draw();
    try {
      const d = await stackOf(o);
      m.selected = { kind: 'sample', tid: d.tid, ns: d.ns, s: d.ns };
      env.openPanel('CPU sample',
        h('table', { class: 'tl-kv' },
          h('tr', null, h('th', null, 'Thread'), h('td', null, env.threadName(d.tid))),
          h('tr', null, h('th', null, 'At'), h('td', { class: 'mono' }, formatAt(d.ns))),
          h('tr', null, h('th', null, 'CPU'), h('td', null, String(d.cpu))),
          d.period_ns ? h('tr', null, h('th', null, 'Period'), h('td', null, `${formatDuration(d.period_ns)} of CPU time per sample`)) : null),
        h('div', { class: 'tl-actions' }, profileButton('CPU flame graph of this thread', { tid: d.tid }, 'thread-cpu-profile')),
        h('h3', null, 'Stack'),
        env.stackList(d.stack));
      if (env.done) env.done();
    } catch (e) {
      env.openPanel('CPU sample', h('p', { class: 'tl-error' }, e.message));
    }
    env.draw();
  }

  /**
   * For tests: the first sample mark of thread tid on screen, in client
   * coordinates (rect: the canvas' bounding box), with how the row is
   * drawn ('samples' or 'bins') and its count; null when none.
   */
  function find(tid, rect) {
    if (!data) return null;
    const t = m.threads.find((x) => !x.group && x.tid === tid);
    const row = t && data.rows.get(rowKey(t));
    if (!row) return null;
    const pxNs = (data.end - data.start) / data.width;
    const xs = row.samples ? row.samples.map((x) => m.xOf(x[0])) : (row.bins || []).map((b) => m.xOf(data.start + (b[0] + 0.5) * pxNs));
    // the middle one on screen: the thread's steady work, not its start-up
    const seen = xs.filter((v) => v > LABEL_W + 2 && v < m.width - 2);
    const x = seen[Math.floor(seen.length / 2)];
    if (x === undefined) return null;
    return { mode: row.samples ? 'samples' : 'bins', n: row.n, x: rect.left + x, y: rect.top + strip(t) + SAMPLE_H / 2 - m.scrollTop };
  }

  return { enable, load, use, tooltip, select, profileButton, find, get enabled() { return enabled; } };
}
