// cpu-view.js - the CPUs view (Go's "Procs"): one lane per CPU showing
// which of the traced threads ran on it, each thread in a colour of its own
// (a colour-blind-safe palette; patterns and labels beyond its nine colours),
// from the trace's context switches (scheduling data). Hovering a span says
// which thread and for how long; activating it opens the timeline on that
// thread. A trace without scheduling data says why. Data: /api/cpus.
// A tab of app.js's VIEWS when the trace has scheduling data (summary's
// cpus_view); #/cpus opens it in any trace.
import { showError } from './api.js';
import { h, loading, emptyState } from './dom.js';
import { formatDuration, formatCount } from './format.js';

const LANE_PX = 28;
const GAP_PX = 6;

// Paul Tol's "muted" qualitative scheme: nine colours told apart also by
// the protanopic, deuteranopic and tritanopic eye (no two are near-identical
// greens, as hashed hues were). With more threads than colours, the colours
// repeat with a second channel: a pattern per round (none, stripes, dots,
// cross-hatch) and the thread id written on spans wide enough for it.
export const THREAD_PALETTE = ['#cc6677', '#332288', '#ddcc77', '#117733', '#88ccee', '#882255', '#44aa99', '#999933', '#aa4499'];
const PATTERNS = ['solid', 'stripes', 'dots', 'cross'];

/** The look of the i-th thread: {color, pattern}. */
export function threadLook(i) {
  const n = THREAD_PALETTE.length;
  return { color: THREAD_PALETTE[i % n], pattern: PATTERNS[Math.floor(i / n) % PATTERNS.length] };
}

/** Whether text on colour hex reads better in white. */
function darkColor(hex) {
  const v = parseInt(hex.slice(1), 16);
  const r = v >> 16, gg = (v >> 8) & 255, b = v & 255;
  return 0.299 * r + 0.587 * gg + 0.114 * b < 140;
}

/** A canvas fill for a look: the colour, or a pattern over it. */
function fillOf(g, look, cache) {
  if (look.pattern === 'solid') return look.color;
  const key = `${look.color}/${look.pattern}`;
  if (cache.has(key)) return cache.get(key);
  const c = document.createElement('canvas');
  c.width = c.height = 8;
  const p = c.getContext('2d');
  p.fillStyle = look.color;
  p.fillRect(0, 0, 8, 8);
  p.strokeStyle = p.fillStyle = darkColor(look.color) ? 'rgba(255,255,255,0.75)' : 'rgba(0,0,0,0.6)';
  p.lineWidth = 1.5;
  if (look.pattern === 'stripes' || look.pattern === 'cross') {
    p.beginPath();
    p.moveTo(0, 8); p.lineTo(8, 0);
    p.moveTo(-2, 2); p.lineTo(2, -2);
    p.moveTo(6, 10); p.lineTo(10, 6);
    if (look.pattern === 'cross') { p.moveTo(0, 0); p.lineTo(8, 8); }
    p.stroke();
  } else {
    p.beginPath();
    p.arc(4, 4, 1.5, 0, 2 * Math.PI);
    p.fill();
  }
  const pat = g.createPattern(c, 'repeat');
  cache.set(key, pat);
  return pat;
}

/** The CSS background of a look, for the legend's swatches. */
function cssOf(look) {
  const ink = darkColor(look.color) ? 'rgba(255,255,255,0.75)' : 'rgba(0,0,0,0.6)';
  if (look.pattern === 'stripes') return `repeating-linear-gradient(-45deg, ${ink} 0 1.5px, ${look.color} 1.5px 5px)`;
  if (look.pattern === 'cross') return `repeating-linear-gradient(-45deg, ${ink} 0 1.5px, transparent 1.5px 5px), repeating-linear-gradient(45deg, ${ink} 0 1.5px, ${look.color} 1.5px 5px)`;
  if (look.pattern === 'dots') return `radial-gradient(${ink} 1.5px, ${look.color} 2px) 0 0 / 6px 6px`;
  return look.color;
}

function draw(canvas, data, looks) {
  const width = canvas.clientWidth || 1000;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(data.lanes.length * (LANE_PX + GAP_PX) * ratio);
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.font = '11px ui-monospace, "DejaVu Sans Mono", monospace';
  g.textBaseline = 'middle';
  const cache = new Map();
  const span = Math.max(1, data.end_ns - data.start_ns);
  const boxes = [];
  data.lanes.forEach((lane, row) => {
    const y = row * (LANE_PX + GAP_PX);
    g.fillStyle = 'rgba(128,128,128,0.12)';
    g.fillRect(0, y, width, LANE_PX);
    for (const [s, e, tid, n] of lane.spans) {
      const x0 = ((s - data.start_ns) / span) * width;
      const x1 = Math.max(x0 + 1, ((e - data.start_ns) / span) * width);
      const look = looks.get(tid) || threadLook(0);
      g.fillStyle = fillOf(g, look, cache);
      g.fillRect(x0, y, x1 - x0, LANE_PX);
      const text = String(tid);
      if (x1 - x0 >= g.measureText(text).width + 8) {
        // the label: on a plate of the colour, so a pattern does not hide it
        const tw = g.measureText(text).width;
        const cx = (x0 + x1) / 2;
        g.fillStyle = look.color;
        g.fillRect(cx - tw / 2 - 2, y + LANE_PX / 2 - 7, tw + 4, 14);
        g.fillStyle = darkColor(look.color) ? '#ffffff' : '#1d2430';
        g.textAlign = 'center';
        g.fillText(text, cx, y + LANE_PX / 2);
      }
      boxes.push({ x0, x1, y, cpu: lane.cpu, s, e, tid, n });
    }
  });
  return boxes;
}

export default {
  id: 'cpus',
  title: 'CPUs',

  async mount(container, ctx) {
    container.replaceChildren(loading('Loading the CPUs…'));
    let data, summary = null;
    try {
      [data, summary] = await Promise.all([
        ctx.api.getJSON('/api/cpus', { width: Math.max(200, Math.round(container.clientWidth || 1000)) }),
        ctx.summary ? ctx.summary.catch(() => null) : null,
      ]);
    } catch (err) {
      showError(container, err, 'Could not load the CPUs');
      return;
    }
    if (!data.recorded) {
      container.replaceChildren(emptyState('Scheduling not recorded',
        data.reason ? `This trace has no context switches: ${data.reason}.` : 'This trace has no context switches (it was recorded before scheduling data, or without it).'));
      return;
    }
    // a look per thread that ran, in creation order (the summary's list)
    const ran = new Set(data.lanes.flatMap((l) => l.spans.map((x) => x[2])));
    const list = ((summary && summary.thread_list) || []).filter((t) => ran.has(t.tid));
    const order = [...new Set([...list.map((t) => t.tid), ...[...ran].sort((a, b) => a - b)])];
    const names = new Map(list.map((t) => [t.tid, t.name]));
    const looks = new Map(order.map((tid, i) => [tid, threadLook(i)]));
    const legend = h('div', { class: 'cpu-legend', role: 'list', 'aria-label': 'Threads', style: 'display:flex;flex-wrap:wrap;gap:4px 14px;margin:4px 0 8px;font-size:12px' },
      order.map((tid) => h('span', { class: 'cpu-legend-item', role: 'listitem', dataset: { tid: String(tid), pattern: looks.get(tid).pattern } },
        h('span', { class: 'cpu-swatch', style: `display:inline-block;width:14px;height:14px;margin-right:4px;vertical-align:middle;border:1px solid rgba(0,0,0,0.25);background:${cssOf(looks.get(tid))}` }),
        `${names.get(tid) || 'thread'} ${tid}`)));
    const canvas = h('canvas', { class: 'cpu-lanes', style: `width:100%;height:${data.lanes.length * (LANE_PX + GAP_PX)}px` });
    const tip = h('div', { class: 'cpu-tip', hidden: true, style: 'position:fixed;pointer-events:none' });
    const labels = h('div', { class: 'cpu-labels' }, ...data.lanes.map((l) => h('div', { style: `height:${LANE_PX + GAP_PX}px` }, `CPU ${l.cpu}`)));
    const note = h('p', { class: 'hint' },
      `${formatCount(data.switches)} context switches` + (data.lost ? `, ${formatCount(data.lost)} records lost: some are missing` : ''));
    container.replaceChildren(note, legend, h('div', { class: 'cpu-view', style: 'display:flex;gap:8px' }, labels, h('div', { style: 'flex:1' }, canvas)), tip);
    let boxes = draw(canvas, data, looks);
    const at = (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left, y = ev.clientY - r.top;
      return boxes.find((b) => x >= b.x0 - 1 && x <= b.x1 + 1 && y >= b.y && y < b.y + LANE_PX);
    };
    canvas.addEventListener('mousemove', (ev) => {
      const b = at(ev);
      tip.hidden = !b;
      if (!b) return;
      tip.textContent = `CPU ${b.cpu}: ${names.get(b.tid) || 'thread'} ${b.tid}, ${formatDuration(b.e - b.s)}` + (b.n > 1 ? ` (${b.n} intervals)` : '');
      tip.style.left = `${ev.clientX + 12}px`;
      tip.style.top = `${ev.clientY + 12}px`;
    });
    canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
    canvas.addEventListener('click', (ev) => {
      const b = at(ev);
      if (b) ctx.navigate('timeline', { tids: [b.tid], start_ns: b.s, end_ns: b.e });
    });
    const onResize = () => { boxes = draw(canvas, data, looks); };
    window.addEventListener('resize', onResize);
    return () => window.removeEventListener('resize', onResize);
  },
};
