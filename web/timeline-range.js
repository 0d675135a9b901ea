// timeline-range.js - the numbers of a shift-dragged range of the Timeline,
// as /api/range answers them (docs/API.md): time per state of each thread
// and in all, the blocked time by profile kind with the heaviest stacks,
// and the tasks and regions in the range with their latencies. Builds the
// contents of the details panel; timeline.js fetches and places it.
// Every number carries its exact value in data-ns (the browser tests
// compare them with the server's).
import { h } from './dom.js';
import { formatDuration, framesWithCall } from './format.js';
import { STATES, stateColor, stateLabel, stackedBar } from './states.js';

const KIND_LABELS = { sync: 'Sync', net: 'Network', syscall: 'Syscalls', poll: 'Polling', sleep: 'Sleep' };

function ns(v, attrs = {}) {
  return h('span', { class: 'tl-num', dataset: { ns: String(v), ...attrs } }, formatDuration(v));
}

/** The states present in a {state: ns} object, in the taxonomy's order, then any later ones. */
function statesOf(obj) {
  const keys = STATES.map((s) => s.key).filter((k) => k in obj);
  for (const k of Object.keys(obj)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/**
 * The panel's contents for answer d. act: {threadName(tid), zoom(), openProfile(kind),
 * cpuProfile() (null when the trace has no CPU samples)}.
 * Returns an array of nodes.
 */
export function rangeContents(d, act) {
  const dur = d.end_ns - d.start_ns;
  const out = [];
  out.push(h('table', { class: 'tl-kv' },
    h('tr', null, h('th', null, 'From'), h('td', { class: 'mono' }, formatDuration(d.start_ns))),
    h('tr', null, h('th', null, 'Length'), h('td', null, ns(dur, { range: 'length' }))),
    h('tr', null, h('th', null, 'Threads'), h('td', null, String(d.threads.length)))));
  out.push(h('div', { class: 'tl-actions' },
    h('button', { type: 'button', class: 'tl-btn', 'data-action': 'range-zoom', onclick: () => act.zoom() }, 'Zoom to range'),
    h('button', { type: 'button', class: 'tl-btn tl-primary', 'data-action': 'range-profile', onclick: () => act.openProfile(topKind(d)) }, 'Open as profile'),
    act.cpuProfile ? h('button', { type: 'button', class: 'tl-btn', 'data-action': 'range-cpu-profile', onclick: () => act.cpuProfile() }, 'CPU profile of this range') : null));

  // time per state: all threads, then each
  const total = statesOf(d.states).reduce((a, k) => a + d.states[k], 0);
  out.push(h('h3', null, 'Time by state'));
  out.push(stackedBar(d.states, total, (label, v) => `${label}: ${formatDuration(v)}`));
  out.push(h('table', { class: 'tl-range-states' },
    h('tr', null, h('th', null, 'All threads'), h('td', null)),
    statesOf(d.states).filter((k) => d.states[k]).map((k) => h('tr', { dataset: { state: k } },
      h('th', null, h('span', { class: 'tl-swatch', style: `background:${stateColor(k)}` }), ` ${stateLabel(k)}`),
      h('td', null, ns(d.states[k], { total: k }))))));
  const rows = d.threads.map((t) => {
    const keys = statesOf(t.states).filter((k) => t.states[k]);
    const blocked = keys.filter((k) => k !== 'running').reduce((a, k) => a + t.states[k], 0);
    return h('tr', { dataset: { tid: String(t.tid) } },
      h('th', null, act.threadName(t.tid)),
      h('td', { class: 'tl-range-bar' }, stackedBar(t.states, t.alive_ns, (label, v) => `${label}: ${formatDuration(v)}`)),
      h('td', { title: keys.map((k) => `${stateLabel(k)}: ${formatDuration(t.states[k])}`).join('\n') }, blocked ? ns(blocked, { blocked: '1' }) : h('span', { class: 'muted' }, '—')));
  });
  out.push(h('table', { class: 'tl-range-threads' },
    h('thead', null, h('tr', null, h('th', null, 'Thread'), h('th', null, 'States'), h('th', null, 'Blocked'))),
    h('tbody', null, rows)));

  // blocking
  out.push(h('h3', null, 'Blocked time by kind'));
  out.push(h('table', { class: 'tl-kv tl-range-blocked' }, Object.entries(d.blocked).map(([k, v]) => h('tr', { dataset: { kind: k } },
    h('th', null, KIND_LABELS[k] || k),
    h('td', null, v ? h('a', { href: '#', class: 'link-btn', onclick: (e) => { e.preventDefault(); act.openProfile(k); } }, ns(v, { kind: k })) : ns(0, { kind: k }))))));
  if (d.stacks.length) {
    out.push(h('h3', null, 'Top blocking stacks'));
    out.push(h('ol', { class: 'tl-range-stacks' }, d.stacks.map((s) => h('li', { dataset: { kind: s.kind, ns: String(s.total_ns) } },
      h('div', null, h('strong', null, formatDuration(s.total_ns)), ` ${KIND_LABELS[s.kind] || s.kind}, ${s.count.toLocaleString()} time${s.count === 1 ? '' : 's'}`),
      h('div', { class: 'tl-range-frames' }, framesWithCall(s).slice(0, 3).map((f) => h('div', { class: 'tl-fn' }, f.function || f.pc || '??')))))));
  } else {
    out.push(h('p', { class: 'muted' }, 'No blocking call was recorded in this range.'));
  }

  // tasks and regions
  for (const [title, list, kind] of [['Tasks', d.tasks, 'task'], ['Regions', d.regions, 'region']]) {
    out.push(h('h3', null, title));
    if (!list.length) {
      out.push(h('p', { class: 'muted' }, `No ${kind} in this range.`));
      continue;
    }
    out.push(h('table', { class: 'tl-range-lat', dataset: { kind } },
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', { title: 'overlapping the range' }, 'Count'), h('th', { title: 'wholly inside the range and ended: these make the latencies' }, 'Inside'), h('th', null, 'p50'), h('th', null, 'p90'), h('th', null, 'Max'))),
      h('tbody', null, list.map((x) => h('tr', { dataset: { name: x.name, count: String(x.count), complete: String(x.complete) } },
        h('th', null, x.name), h('td', null, x.count.toLocaleString()), h('td', null, x.complete.toLocaleString()),
        h('td', null, x.complete ? ns(x.p50_ns) : '—'), h('td', null, x.complete ? ns(x.p90_ns) : '—'), h('td', null, x.complete ? ns(x.max_ns) : '—'))))));
  }
  return out;
}

/** The blocking kind with the most time in the range (sync when none). */
export function topKind(d) {
  let best = 'sync', bv = -1;
  for (const [k, v] of Object.entries(d.blocked || {})) if (v > bv) { best = k; bv = v; }
  return best;
}
