// threads-procs.js - the Threads view of a process tree (more than one
// process in /api/summary's process_list): the process of each thread (a
// column), and a table of per-process subtotals in tree order (parent
// before its children, indented): threads, time and its split between
// states. A trace of one process shows neither.
import { h } from './dom.js';
import { formatDuration, formatPercent } from './format.js';
import { STATE_GROUPS, groupStates, stackedBar } from './states.js';
import { sortableTable } from './table.js';

/** The processes of summary (tree order), or null for a trace of one process. */
export function treeOf(summary) {
  const list = (summary && Array.isArray(summary.process_list)) ? summary.process_list : [];
  if (list.length < 2) return null;
  return list.map((p, i) => ({ ...p, index: p.index ?? i, exeName: String(p.exe || '').split('/').pop() }));
}

/** The Process column of the threads table. */
export function processColumn(procs) {
  return {
    key: 'process',
    label: 'Process',
    title: 'the process of the thread (pid · program); sorts in tree order',
    value: (r) => (procs[r.process] ? procs[r.process].order ?? r.process : r.process),
    render: (r) => {
      const p = procs[r.process];
      return p ? h('span', null, h('span', { class: 'mono' }, String(p.pid)), h('span', { class: 'sub' }, p.exeName)) : h('span', { class: 'zero' }, '—');
    },
  };
}

/** The per-process subtotals of the thread rows (each {process, total, states}), as a section. */
export function processTotals(procs, rows, onActivate) {
  const sums = procs.map((p) => ({ ...p, nthreads: 0, total: 0, states: {} }));
  for (const r of rows) {
    const s = sums[r.process];
    if (!s) continue;
    s.nthreads++;
    s.total += r.total;
    for (const [k, v] of Object.entries(r.states || {})) s.states[k] = (s.states[k] || 0) + (Number(v) || 0);
  }
  for (const s of sums) s.g = groupStates(s.states, s.total);
  const ended = (p) => (p.signal ? `killed by ${p.signal_name || `signal ${p.signal}`}` : p.exit_status !== null && p.exit_status !== undefined ? `exit ${p.exit_status}`
    : p.status === 'running' ? 'still running' : p.status === 'cut off' || p.status === 'corrupt' ? `trace ${p.status}` : p.exec ? 'exec' : '');
  const table = sortableTable({
    columns: [
      {
        key: 'order',
        label: 'Process',
        title: 'in tree order: a parent before its children',
        value: (p) => p.order ?? p.index,
        render: (p) => h('span', { class: 'proc-cell', style: `padding-left:${Math.min(p.depth || 0, 8) * 14}px` },
          h('span', { class: 'name-cell' }, p.exeName || '(unknown)'), h('span', { class: 'sub' }, `pid ${p.pid}${p.ppid ? ` · parent ${p.ppid}` : ''}`)),
      },
      { key: 'nthreads', label: 'Threads', num: true },
      { key: 'ended', label: 'Ended', value: (p) => ended(p), render: (p) => h('span', { class: p.signal || p.exit_status ? 'proc-bad' : null }, ended(p) || '—') },
      { key: 'total', label: 'Thread time', num: true, title: 'the sum of its threads\' lives', render: (p) => formatDuration(p.total) },
      ...STATE_GROUPS.map((g) => ({
        key: g.key, label: g.label, num: true, value: (p) => p.g[g.key],
        render: (p) => (p.g[g.key] ? h('span', null, formatDuration(p.g[g.key]), h('span', { class: 'cell-pct' }, formatPercent(p.g[g.key], p.total))) : h('span', { class: 'zero' }, '0')),
      })),
      { key: 'breakdown', label: 'Breakdown', sortable: false, render: (p) => stackedBar(p.states, p.total, (label, v) => `${label}: ${formatDuration(v)} (${formatPercent(v, p.total)})`) },
    ],
    rows: sums,
    sort: { key: 'order', dir: 'asc' },
    className: 'threads-table procs-table',
    rowKey: (p) => p.index,
    rowTitle: (p) => `Show the threads of process ${p.pid} in the timeline`,
    onActivate,
  });
  return h('section', { class: 'panel procs-panel', 'data-section': 'processes' },
    h('h2', { class: 'panel-title' }, `Processes (${sums.length})`),
    h('div', { class: 'panel-scroll' }, table.element));
}
