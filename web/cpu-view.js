// cpu-view.js - the CPUs view (Go's "Procs"): one lane per CPU showing
// which of the traced threads ran on it, each thread in a colour of its own,
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

/** A stable colour per thread id. */
function threadColor(tid) {
  const hue = (Math.imul(tid >>> 0, 2654435761) >>> 0) % 360;
  return `hsl(${hue} 60% 55%)`;
}

function draw(canvas, data) {
  const width = canvas.clientWidth || 1000;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(data.lanes.length * (LANE_PX + GAP_PX) * ratio);
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  const span = Math.max(1, data.end_ns - data.start_ns);
  const boxes = [];
  data.lanes.forEach((lane, row) => {
    const y = row * (LANE_PX + GAP_PX);
    g.fillStyle = 'rgba(128,128,128,0.12)';
    g.fillRect(0, y, width, LANE_PX);
    for (const [s, e, tid, n] of lane.spans) {
      const x0 = ((s - data.start_ns) / span) * width;
      const x1 = Math.max(x0 + 1, ((e - data.start_ns) / span) * width);
      g.fillStyle = threadColor(tid);
      g.fillRect(x0, y, x1 - x0, LANE_PX);
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
    let data;
    try {
      data = await ctx.api.getJSON('/api/cpus', { width: Math.max(200, Math.round(container.clientWidth || 1000)) });
    } catch (err) {
      showError(container, err, 'Could not load the CPUs');
      return;
    }
    if (!data.recorded) {
      container.replaceChildren(emptyState('Scheduling not recorded',
        data.reason ? `This trace has no context switches: ${data.reason}.` : 'This trace has no context switches (it was recorded before scheduling data, or without it).'));
      return;
    }
    const canvas = h('canvas', { class: 'cpu-lanes', style: `width:100%;height:${data.lanes.length * (LANE_PX + GAP_PX)}px` });
    const tip = h('div', { class: 'cpu-tip', hidden: true, style: 'position:fixed;pointer-events:none' });
    const labels = h('div', { class: 'cpu-labels' }, ...data.lanes.map((l) => h('div', { style: `height:${LANE_PX + GAP_PX}px` }, `CPU ${l.cpu}`)));
    const note = h('p', { class: 'hint' },
      `${formatCount(data.switches)} context switches` + (data.lost ? `, ${formatCount(data.lost)} records lost: some are missing` : ''));
    container.replaceChildren(note, h('div', { class: 'cpu-view', style: 'display:flex;gap:8px' }, labels, h('div', { style: 'flex:1' }, canvas)), tip);
    let boxes = draw(canvas, data);
    const at = (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = ev.clientX - r.left, y = ev.clientY - r.top;
      return boxes.find((b) => x >= b.x0 - 1 && x <= b.x1 + 1 && y >= b.y && y < b.y + LANE_PX);
    };
    canvas.addEventListener('mousemove', (ev) => {
      const b = at(ev);
      tip.hidden = !b;
      if (!b) return;
      tip.textContent = `CPU ${b.cpu}: thread ${b.tid}, ${formatDuration(b.e - b.s)}` + (b.n > 1 ? ` (${b.n} intervals)` : '');
      tip.style.left = `${ev.clientX + 12}px`;
      tip.style.top = `${ev.clientY + 12}px`;
    });
    canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
    canvas.addEventListener('click', (ev) => {
      const b = at(ev);
      if (b) ctx.navigate('timeline', { tids: [b.tid], start_ns: b.s, end_ns: b.e });
    });
    const onResize = () => { boxes = draw(canvas, data); };
    window.addEventListener('resize', onResize);
    return () => window.removeEventListener('resize', onResize);
  },
};
