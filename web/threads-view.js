// threads-view.js - the Threads view: one row per thread with its total time
// and how that time splits between states (running, sync block, network,
// syscalls, polling, sleeping), like Go's goroutine analysis. Sortable by
// every column; activating a row opens the timeline with that thread
// highlighted. Data: /api/threads, names and pids from /api/summary.
import { showError } from './api.js';
import { h, loading, emptyState } from './dom.js';
import { formatDuration, formatPercent } from './format.js';
import { groupsFor, groupStates, noBlockingNote, noBlockingRecorded, stackedBar, stateLegend, profileKindOf } from './states.js';
import { sortableTable } from './table.js';
import { treeOf, processColumn, processTotals } from './threads-procs.js';

function timeCell(ns, total) {
  if (!ns) return h('span', { class: 'zero' }, '0');
  return h('span', null, formatDuration(ns), h('span', { class: 'cell-pct' }, formatPercent(ns, total)));
}

export default {
  id: 'threads',
  title: 'Threads',

  async mount(container, ctx) {
    container.replaceChildren(loading('Loading threads…'));
    let data;
    let summary = null;
    try {
      [data, summary] = await Promise.all([ctx.api.threads(), ctx.summary.catch(() => null)]);
    } catch (err) {
      showError(container, err, 'Could not load the threads');
      return;
    }
    const hasSamples = !!(summary && summary.sched && Number(summary.sched.cpu_samples) > 0);
    const info = new Map();
    for (const t of (summary && summary.thread_list) || []) info.set(Number(t.tid), t);
    const list = (summary && summary.thread_list) || [];
    const procs = treeOf(summary); // a process tree (threads-procs.js), else null

    const rows = (data.threads || []).map((t, i) => {
      const total = Number(t.total_ns) || 0;
      const g = groupStates(t.states, total);
      // the same order as thread_list (tids repeat across exec'd images)
      const meta = (list[i] && Number(list[i].tid) === Number(t.tid) ? list[i] : info.get(Number(t.tid))) || {};
      return {
        tid: Number(t.tid),
        name: t.name || meta.name || '',
        pid: t.pid ?? meta.pid,
        process: t.process ?? meta.process ?? 0,
        instance: t.instance || 0,
        index: meta.index,
        total,
        states: t.states || {},
        g,
        blockedShare: total ? (total - g.running - g.runnable - g.not_recorded - g.other) / total : 0,
      };
    });

    const groups = groupsFor(rows.map((r) => r.states));
    const columns = [
      {
        key: 'name',
        label: 'Thread',
        value: (r) => `${r.name} ${String(r.tid).padStart(10, '0')}`,
        render: (r) =>
          h('span', null, h('span', { class: 'name-cell' }, r.name || '(unnamed)'), h('span', { class: 'sub' }, `tid ${r.tid}${r.pid !== undefined ? ` · pid ${r.pid}` : ''}`)),
      },
      ...(procs ? [processColumn(procs)] : []),
      { key: 'total', label: 'Total', num: true, title: 'time from the thread\'s first to its last event', render: (r) => formatDuration(r.total) },
      // the seven states, then runnable, blocked (other) and not recorded
      // when some thread has time in them (scheduling data, the API alone)
      ...groups.map((g) => ({
        key: g.key,
        label: g.label,
        title: g.help,
        num: true,
        value: (r) => r.g[g.key],
        render: (r) => timeCell(r.g[g.key], r.total),
      })),
      {
        key: 'stacks',
        label: 'Stacks',
        sortable: false,
        title: hasSamples ? 'the blocking profile of this thread (where it waited) and its CPU profile (where it ran: CPU samples)' : 'the blocking profile of this thread: where it waited',
        render: (r) => h('span', { class: 'stack-links' },
          r.blockedShare > 0
            ? h('button', { type: 'button', class: 'link-btn', title: `Blocking profile of ${r.name || 'this thread'} (tid ${r.tid})`, onclick: () => ctx.navigate('profiles', { kind: profileKindOf(r.states), tid: r.tid }) }, 'where it waited')
            : h('span', { class: 'zero', title: 'never blocked in a traced call' }, '—'),
          hasSamples ? h('br') : null,
          hasSamples ? h('button', { type: 'button', class: 'link-btn', 'data-action': 'thread-cpu-profile', title: `CPU flame graph of ${r.name || 'this thread'} (tid ${r.tid})`, onclick: () => ctx.navigate('profiles', { kind: 'cpu', tid: r.tid }) }, 'where it ran') : null),
      },
      {
        key: 'breakdown',
        label: 'Breakdown',
        title: 'share of the thread\'s time in each state; sorts by the share spent blocked',
        value: (r) => r.blockedShare,
        render: (r) => stackedBar(r.states, r.total, (label, v) => `${label}: ${formatDuration(v)} (${formatPercent(v, r.total)})`),
      },
    ];

    const head = h(
      'div',
      { class: 'panel-header' },
      h('h1', { class: 'view-title' }, 'Threads'),
      h('span', { class: 'muted' }, `${rows.length} thread${rows.length === 1 ? '' : 's'} · click a row to see the thread in the timeline`),
    );

    if (rows.length === 0) {
      container.replaceChildren(head, emptyState('No threads in this trace', 'The trace holds no thread events.'));
      return;
    }

    const sortKeys = new Set(columns.map((c) => c.key));
    const sort = sortKeys.has(ctx.params.sort) ? { key: ctx.params.sort, dir: ctx.params.dir === 'asc' ? 'asc' : 'desc' } : { key: 'total', dir: 'desc' };
    const table = sortableTable({
      columns,
      rows,
      sort,
      className: 'threads-table',
      pageSize: 200,
      rowKey: (r) => (r.instance ? `${r.tid}#${r.instance}` : r.tid),
      rowTitle: (r) => `Show ${r.name || 'thread'} (tid ${r.tid}) in the timeline`,
      onActivate: (r) => ctx.navigate('timeline', { tids: [r.tid] }),
      onSort: (s) => ctx.setParams({ ...ctx.params, sort: s.key, dir: s.dir }),
    });

    // (replaceChildren prints a null as "null": leave the note out instead)
    container.replaceChildren(
      head,
      ...(noBlockingRecorded(summary) ? [noBlockingNote()] : []),
      ...(procs ? [processTotals(procs, rows, (p) => ctx.navigate('timeline', { tids: rows.filter((r) => r.process === p.index).map((r) => r.tid) }))] : []),
      h('section', { class: 'panel' }, h('div', { class: 'toolbar' }, stateLegend(false, groups)), h('div', { class: 'panel-scroll' }, table.element)),
    );
  },
};
