// compare.js - the Compare page of `ctrace view BEFORE AFTER`: what
// `ctrace diff` says (per task and region name, percentiles before and
// after, significant changes first), the latency histograms of the chosen
// name overlaid (histogram.js, on common buckets from the server), and the
// state breakdown of each group of threads side by side. Data: GET
// /api/compare, /api/compare/histogram (docs/API.md).
import { h } from './dom.js';
import { formatDuration, formatCount } from './format.js';
import { histogramChart } from './histogram.js';
import { stackedBar, stateLegend } from './states.js';
import { useStyles } from './critpath.js';

function basename(p) {
  return String(p || '').split('/').filter(Boolean).pop() || String(p || '');
}

function change(a, b) {
  const d = b - a;
  const pct = a > 0 ? ` (${d >= 0 ? '+' : ''}${((100 * d) / a).toFixed(1)}%)` : '';
  return `${d >= 0 ? '+' : '−'}${formatDuration(Math.abs(d))}${pct}`;
}

function nameRow(n, onPick) {
  const sig = new Set(n.significant || []);
  const cells = [];
  for (const k of ['p50', 'p90', 'p99', 'max']) {
    const a = n.before[`${k}_ns`], b = n.after[`${k}_ns`];
    const both = n.before.count && n.after.count;
    cells.push(h('td', { dataset: { stat: k } },
      h('div', null, `${n.before.count ? formatDuration(a) : '—'} → ${n.after.count ? formatDuration(b) : '—'}`),
      both ? h('div', { class: `cmp-change ${b > a ? 'cmp-up' : b < a ? 'cmp-down' : ''}${sig.has(k) ? ' cmp-sig' : ''}` }, change(a, b), sig.has(k) ? ' *' : '') : null));
  }
  let badge = null;
  if (sig.has('new')) badge = h('span', { class: 'cmp-badge' }, 'new');
  else if (sig.has('gone')) badge = h('span', { class: 'cmp-badge' }, 'gone');
  else if (sig.size) badge = h('span', { class: `cmp-badge${n.after.p50_ns < n.before.p50_ns ? ' cmp-faster' : ''}` }, n.after.p50_ns < n.before.p50_ns ? 'faster' : 'slower');
  const tr = h('tr', { tabindex: '0', dataset: { kind: n.kind, name: n.name }, onclick: () => onPick(n), onkeydown: (e) => { if (e.key === 'Enter') onPick(n); } },
    h('td', null, n.kind),
    h('td', null, n.name, ' ', badge),
    h('td', null, `${formatCount(n.before.count)} → ${formatCount(n.after.count)}`),
    ...cells);
  return tr;
}

async function showHistogram(box, api, n) {
  box.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  const hst = await api.getJSON('/api/compare/histogram', { kind: n.kind, name: n.name, buckets: 24 });
  const bk = hst.buckets || [];
  const maxCount = Math.max(1, ...bk.map((b) => Math.max(b.before, b.after)));
  const before = bk.map((b) => ({ lo_ns: b.lo_ns, hi_ns: b.hi_ns, count: b.before }));
  const after = bk.map((b) => ({ lo_ns: b.lo_ns, hi_ns: b.hi_ns, count: b.after }));
  const mk = (l, x) => (x.count ? [{ label: `p50 ${l}`, ns: x.p50_ns }, { label: `p99 ${l}`, ns: x.p99_ns }] : []);
  const a = histogramChart(before, { maxCount, markers: mk('before', n.before) });
  const b = histogramChart(after, { maxCount, markers: mk('after', n.after) });
  a.classList.add('cmp-before');
  b.classList.add('cmp-after');
  box.replaceChildren(
    h('h2', null, `${n.kind === 'task' ? 'Task' : 'Region'} ${n.name}: latency before and after`),
    h('div', { class: 'cmp-legend' },
      h('span', { class: 'cmp-l-before' }, `before: ${formatCount(n.before.count)}, p50 ${n.before.count ? formatDuration(n.before.p50_ns) : '—'}`),
      h('span', { class: 'cmp-l-after' }, `after: ${formatCount(n.after.count)}, p50 ${n.after.count ? formatDuration(n.after.p50_ns) : '—'}`),
      h('span', { class: 'muted' }, `Mann-Whitney p = ${Number(n.p_value).toPrecision(2)}`)),
    h('div', { class: 'cmp-overlay', dataset: { name: n.name } }, a, b));
}

function groups(d) {
  const rows = [];
  for (const g of d.threads || []) {
    const total = (s) => Object.values(s || {}).reduce((x, y) => x + Number(y || 0), 0);
    const ta = total(g.before), tb = total(g.after);
    const describe = (label, v) => `${label}: ${formatDuration(v)}`;
    const name = g.name || '(unnamed threads)';
    rows.push(h('div', { class: 'cmp-gname', title: name }, name),
      h('div', { class: 'cmp-gwhich' }, `before · ${g.threads_before}`),
      g.threads_before ? stackedBar(g.before, ta, describe) : h('div', { class: 'muted' }, 'none'),
      h('div', { class: 'cmp-gtotal' }, formatDuration(ta)),
      h('div'),
      h('div', { class: 'cmp-gwhich' }, `after · ${g.threads_after}`),
      g.threads_after ? stackedBar(g.after, tb, describe) : h('div', { class: 'muted' }, 'none'),
      h('div', { class: 'cmp-gtotal' }, formatDuration(tb)));
    if ((g.significant || []).length) rows.push(h('div', { class: 'cmp-gsig' }, `significant: ${g.significant.join(', ')}`));
  }
  return h('div', { class: 'cmp-groups', 'data-groups': String((d.threads || []).length) }, rows);
}

async function mount(container, ctx) {
  useStyles();
  const { api } = ctx;
  const d = await api.getJSON('/api/compare');
  {
    if (!d.after) {
      container.replaceChildren(h('div', { class: 'placeholder' },
        h('h1', { class: 'view-title' }, 'Compare two traces'),
        h('p', null, 'One trace is open. Start the viewer with two to compare them:'),
        h('pre', null, 'ctrace view BEFORE.ctrace AFTER.ctrace'),
        h('p', { class: 'muted' }, 'or, in a terminal: ctrace diff BEFORE.ctrace AFTER.ctrace')));
      return null;
    }
  }
  const histBox = h('section', { class: 'cmp-section cmp-hist' });
  const tbody = h('tbody');
  let picked = null;
  const pick = (n) => {
    picked = n;
    for (const tr of tbody.children) tr.setAttribute('aria-selected', String(tr.dataset.name === n.name && tr.dataset.kind === n.kind));
    ctx.setParams({ kind: n.kind, name: n.name });
    showHistogram(histBox, api, n).catch((e) => histBox.replaceChildren(h('p', { class: 'tl-error' }, e.message)));
  };
  for (const n of d.names || []) tbody.append(nameRow(n, pick));
  const th = (t) => h('th', null, t);
  const table = h('table', { class: 'cmp-table' },
    h('thead', null, h('tr', null, th('kind'), th('name'), th('count'),
      ...['p50', 'p90', 'p99', 'max'].map((k) => th(`${k} before → after`)))),
    tbody);
  const sig = d.significant;
  container.replaceChildren(
    h('div', { class: 'cmp-head' },
      h('h1', { class: 'view-title' }, 'Compare'),
      h('span', { class: 'cmp-files', title: `${d.before} → ${d.after}` }, `before ${basename(d.before)} → after ${basename(d.after)}`),
      h('span', { class: `cmp-verdict${sig ? ' cmp-bad' : ''}`, 'data-significant': String(sig) }, sig ? `${sig} significant change${sig === 1 ? '' : 's'}` : 'no significant change')),
    h('p', { class: 'cmp-rule' }, `Significant: durations that differ (Mann-Whitney p < ${d.rule.alpha}) with a percentile moved by at least ${d.rule.threshold_pct}% and ${formatDuration(d.rule.min_change_ns)} (p90 judged from 10 instances, p99 from 100); for threads, a state's share moved by ${d.rule.threshold_pct} points. Click a row for its histograms.`),
    h('div', { class: 'cmp-section' }, h('h2', null, 'Tasks and regions'), (d.names || []).length ? h('div', { class: 'cmp-scroll' }, table) : h('p', { class: 'muted' }, 'No ended task or region in either trace.')),
    histBox,
    h('section', { class: 'cmp-section' }, h('h2', null, 'Threads by name: time in each state'), stateLegend(true), groups(d)));
  const names = d.names || [];
  const first = names.find((n) => n.name === ctx.params.name && n.kind === ctx.params.kind) || names[0];
  if (first) pick(first);
  else histBox.hidden = true;
  return { update(params) { const n = names.find((x) => x.name === params.name && x.kind === params.kind); if (n && n !== picked) pick(n); } };
}

export default { id: 'compare', title: 'Compare', mount };
