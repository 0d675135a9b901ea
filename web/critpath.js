// critpath.js - the critical path of a task, region or blocked span on the
// Timeline: a "Critical path" section for the details panel (a button, then
// the chain listed: when, how long, which thread, what), and its drawing on
// the canvas (each segment outlined on its thread's row, hand-offs joined
// across rows by arrows). Data: GET /api/critpath (docs/API.md).
// Not here: the panel and the canvas themselves (timeline.js,
// timeline-draw.js call in through critpathSection and m.overlay).
import { h } from './dom.js';
import { formatDuration } from './format.js';
import { stateColor, stateLabel } from './states.js';
import { formatAt, LABEL_W, ROW_PAD, LOG_H, STATE_H } from './timeline-model.js';

const PATH_COLOR = '#e8590c';

/** Adds critpath.css to the page once (the styles of this file and compare.js). */
export function useStyles() {
  if (document.querySelector('link[data-critpath-css]')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: 'critpath.css', dataset: { critpathCss: '1' } }));
}

/** The /api/critpath parameters for a details answer d, or null when it has none. */
export function critpathQuery(d) {
  if (!d) return null;
  if (d.kind === 'task' && !d.open) return { kind: 'task', id: d.id };
  if (d.kind === 'region' && !d.open) return { kind: 'range', tid: d.tid, start_ns: d.start_ns, end_ns: d.end_ns };
  if (d.kind === 'span' && d.state !== 'running') return { kind: 'span', tid: d.tid, ns: d.start_ns };
  return null;
}

/** A segment in words: its state's label, then what the server says beyond it. */
function whatOf(s) {
  const label = stateLabel(s.state);
  if (s.what === s.state) return label;
  if (s.what.startsWith(`${s.state},`)) return `${label}${s.what.slice(s.state.length)}`;
  return `${label}: ${s.what}`;
}

/** Draws chain (an /api/critpath answer) on the timeline's canvas context g (content coordinates). */
export function drawChain(g, m, chain) {
  const segs = chain.segments || [];
  const y = (tid) => {
    const t = m.thread(tid);
    return t ? t.y + ROW_PAD + LOG_H : null;
  };
  g.save();
  g.beginPath();
  g.rect(LABEL_W, 0, m.width - LABEL_W, m.totalH);
  g.clip();
  g.lineWidth = 2.5;
  g.strokeStyle = PATH_COLOR;
  g.fillStyle = 'rgba(232,89,12,0.18)';
  let prev = null;
  for (const s of segs) {
    const yy = y(s.tid);
    if (yy === null) { prev = null; continue; }
    const x0 = m.xOf(s.start_ns), x1 = m.xOf(s.end_ns);
    const w = Math.max(2, x1 - x0);
    g.fillRect(x0, yy - 3, w, STATE_H + 6);
    g.setLineDash(s.known === false ? [4, 3] : []);
    g.strokeRect(x0, yy - 3, w, STATE_H + 6);
    g.setLineDash([]);
    if (prev && prev.tid !== s.tid) {
      // the hand-off: from the end of the previous row to this one
      const py = prev.y + STATE_H / 2, cy = yy + STATE_H / 2;
      const dir = cy > py ? 1 : -1;
      g.beginPath();
      g.moveTo(x0, py + dir * (STATE_H / 2 + 3));
      g.lineTo(x0, cy - dir * (STATE_H / 2 + 3));
      g.stroke();
      g.beginPath();
      g.moveTo(x0, cy - dir * (STATE_H / 2 + 3));
      g.lineTo(x0 - 5, cy - dir * (STATE_H / 2 + 10));
      g.lineTo(x0 + 5, cy - dir * (STATE_H / 2 + 10));
      g.closePath();
      g.fillStyle = PATH_COLOR;
      g.fill();
      g.fillStyle = 'rgba(232,89,12,0.18)';
    }
    prev = { tid: s.tid, y: yy };
  }
  g.restore();
}

/**
 * The "Critical path" section of the details panel for d. env = {api, m,
 * draw, threadName, zoomTo(a, b), reveal(tid)}. Returns a DOM node, or
 * null when d has no critical path.
 */
export function critpathSection(d, env) {
  const q = critpathQuery(d);
  if (!q) return null;
  useStyles();
  const { api, m } = env;
  const list = h('div', { class: 'cp-list', 'data-critpath': 'idle' });
  const hide = h('button', { type: 'button', class: 'tl-btn', hidden: true, 'data-action': 'critpath-hide', onclick: () => { m.overlay = null; hide.hidden = true; env.draw(); } }, 'Hide');
  const show = h('button', {
    type: 'button', class: 'tl-btn tl-primary', 'data-action': 'critpath', title: 'Walk back from the end through what it waited for, across threads',
    onclick: () => load(),
  }, 'Critical path');
  async function load() {
    list.dataset.critpath = 'loading';
    list.replaceChildren(h('p', { class: 'muted' }, 'Walking back through the waits…'));
    try {
      const chain = await api.getJSON('/api/critpath', q);
      m.overlay = (g) => drawChain(g, m, chain);
      hide.hidden = false;
      env.draw();
      list.replaceChildren(...render(chain));
      list.dataset.critpath = 'ready';
    } catch (e) {
      list.replaceChildren(h('p', { class: 'tl-error' }, e.message));
      list.dataset.critpath = 'error';
    }
  }
  function render(chain) {
    const segs = chain.segments || [];
    const byThread = (chain.by_thread || []).map((t) => `${t.thread || 'thread'} (${t.tid}) ${formatDuration(t.ns)}`).join(' · ');
    return [
      h('p', { class: 'cp-summary' }, chain.summary),
      h('p', { class: 'muted cp-threads' }, byThread),
      h('ol', { class: 'cp-segs' }, segs.map((s) => h('li', {
        class: `cp-seg${s.known === false ? ' cp-unknown' : ''}`,
        dataset: { tid: String(s.tid), state: s.state },
        title: `${formatAt(s.start_ns)} – ${formatAt(s.end_ns)}${s.region ? ` in ${s.region}` : ''}${s.stack && s.stack.length ? `\n${s.stack.slice(0, 4).map((f) => f.function || f.pc).join('\n← ')}` : ''}`,
        tabindex: '0',
        onclick: () => { env.reveal(s.tid); env.zoomTo(s.start_ns, s.end_ns); },
      },
      h('span', { class: 'cp-swatch', style: `background:${stateColor(s.state)}` }),
      h('span', { class: 'cp-dur' }, formatDuration(s.dur_ns)),
      h('span', { class: 'cp-thread' }, env.threadName(s.tid)),
      h('span', { class: 'cp-what' }, `${whatOf(s)}${s.region ? ` [in ${s.region}]` : ''}`)))),
    ];
  }
  return h('section', { class: 'cp' }, h('h3', null, 'Why it took this long'), h('div', { class: 'tl-actions' }, show, hide), list);
}
