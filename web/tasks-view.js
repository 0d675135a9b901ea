// tasks-view.js - the Tasks & regions view: per task or region name, the
// count and latency (min, p50, p90, p99, max) with a histogram; a filter by
// name; for the selected name, its instances slowest first, each with the
// split of its time by state ("where did this slow request spend its
// time"). Activating an instance opens the timeline zoomed to it with its
// threads highlighted. Data: /api/tasks, /api/instances, /api/summary.
import { showError } from './api.js';
import { h, loading, emptyState } from './dom.js';
import { formatCount, formatDuration, formatPercent, formatTime } from './format.js';
import { histogramChart, histogramSpark } from './histogram.js';
import { OTHER, STATE_GROUPS, LATER_GROUPS, groupsFor, groupStates, noBlockingNote, noBlockingRecorded, stackedBar, stateLegend, profileKindOf } from './states.js';
import { sortableTable } from './table.js';

const INSTANCE_LIMIT = 500;
const KIND_LABEL = { task: 'task', region: 'region' };

function latencyColumns() {
  return [
    { key: 'count', label: 'Count', num: true, render: (r) => formatCount(r.count) },
    { key: 'min_ns', label: 'Min', num: true, render: (r) => formatDuration(r.min_ns) },
    { key: 'p50_ns', label: 'p50', num: true, title: 'median', render: (r) => formatDuration(r.p50_ns) },
    { key: 'p90_ns', label: 'p90', num: true, render: (r) => formatDuration(r.p90_ns) },
    { key: 'p99_ns', label: 'p99', num: true, render: (r) => formatDuration(r.p99_ns) },
    { key: 'max_ns', label: 'Max', num: true, render: (r) => formatDuration(r.max_ns) },
    { key: 'histogram', label: 'Distribution', sortable: false, render: (r) => histogramSpark(r.histogram || []) },
  ];
}

/**
 * Where the time of the listed instances went, summed: one bar and a line
 * per state, largest first ("handleRequest: 98% sleeping").
 */
function aggregateBreakdown(rows, which, noBlocking) {
  const sum = { other: 0 };
  let total = 0;
  for (const r of rows) {
    total += r.dur;
    for (const g of [...STATE_GROUPS, ...LATER_GROUPS, OTHER]) sum[g.key] = (sum[g.key] || 0) + r.g[g.key];
  }
  const parts = [...STATE_GROUPS, ...LATER_GROUPS, OTHER].filter((g) => sum[g.key] > 0).sort((a, b) => sum[b.key] - sum[a.key]);
  const states = {};
  for (const g of STATE_GROUPS) for (const k of g.parts) states[k] = 0;
  for (const r of rows) for (const [k, v] of Object.entries(r.breakdown || {})) states[k] = (states[k] || 0) + Number(v || 0);
  return h(
    'div',
    { class: 'detail-agg' },
    h('h3', null, 'Where the time went'),
    h('p', { class: 'muted', style: 'margin: 0 0 8px' }, `summed over ${which} instances`),
    total ? stackedBar(states, total, (label, v) => `${label}: ${formatDuration(v)} (${formatPercent(v, total)})`) : null,
    h(
      'table',
      { class: 'agg-table' },
      h(
        'tbody',
        null,
        parts.map((g) =>
          h(
            'tr',
            { dataset: { state: g.key }, title: g.help },
            h('td', null, h('span', { class: `swatch sw-${g.key}` })),
            h('td', null, g.label),
            h('td', { class: 'num' }, formatDuration(sum[g.key])),
            h('td', { class: 'num muted' }, formatPercent(sum[g.key], total)),
          ),
        ),
      ),
    ),
    noBlocking ? noBlockingNote() : null,
  );
}

/** The timeline's "ev" parameter that selects an instance (web/timeline.js). */
function instanceEv(kind, r) {
  if (kind === 'task') return r.id !== undefined ? `task:${r.id}` : undefined;
  const tid = (r.tids || [])[0];
  return tid !== undefined ? `region:${tid}:${Math.round(r.start_ns)}` : undefined;
}

function threadLabel(tid, names) {
  const n = names.get(Number(tid));
  return n ? `${n} (${tid})` : String(tid);
}

export default {
  id: 'tasks',
  title: 'Tasks & regions',

  async mount(container, ctx) {
    container.replaceChildren(loading('Loading tasks and regions…'));
    let data;
    let summary;
    try {
      [data, summary] = await Promise.all([ctx.api.tasks(), ctx.summary.catch(() => null)]);
    } catch (err) {
      showError(container, err, 'Could not load tasks and regions');
      return;
    }
    const names = new Map();
    for (const t of (summary && summary.thread_list) || []) names.set(Number(t.tid), t.name);
    const hasSamples = !!(summary && summary.sched && Number(summary.sched.cpu_samples) > 0);

    const tasks = (data.tasks || []).map((r) => ({ ...r, kind: 'task' }));
    const regions = (data.regions || []).map((r) => ({ ...r, kind: 'region' }));
    const all = [...tasks, ...regions];

    const head = h(
      'div',
      { class: 'panel-header' },
      h('h1', { class: 'view-title' }, 'Tasks & regions'),
      h('span', { class: 'muted' }, `${tasks.length} task name${tasks.length === 1 ? '' : 's'}, ${regions.length} region name${regions.length === 1 ? '' : 's'}`),
    );
    if (all.length === 0) {
      container.replaceChildren(
        head,
        emptyState('No tasks or regions in this trace', 'Mark requests with ctrace_task_begin/ctrace_task_end and steps with ctrace_region_begin/ctrace_region_end (or CTRACE_REGION) to see their latencies here.'),
      );
      return;
    }

    let selected = null; // {kind, name}
    if (ctx.params.name && all.some((r) => r.name === ctx.params.name && r.kind === (ctx.params.kind || 'task'))) {
      selected = { kind: ctx.params.kind || 'task', name: ctx.params.name };
    } else {
      const first = tasks[0] || regions[0];
      selected = { kind: first.kind, name: first.name };
    }
    const keyOf = (r) => `${r.kind}:${r.name}`;
    let filter = ctx.params.filter || '';

    const filterInput = h('input', {
      type: 'search',
      placeholder: 'Filter by name',
      'aria-label': 'Filter tasks and regions by name',
      value: filter,
    });
    filterInput.value = filter;

    const nameTable = sortableTable({
      columns: [
        {
          key: 'name',
          label: 'Name',
          render: (r) => h('span', { class: 'name-cell' }, r.name),
        },
        { key: 'kind', label: 'Kind', render: (r) => (r.kind === 'task' ? 'Task' : 'Region') },
        ...latencyColumns(),
      ],
      rows: all,
      sort: { key: 'kind', dir: 'desc' }, // tasks first
      className: 'names-table',
      pageSize: 100,
      rowKey: keyOf,
      selected: keyOf(selected),
      emptyText: 'No name matches the filter',
      rowTitle: (r) => `Show the ${r.kind} “${r.name}”: its histogram and instances`,
      onActivate: (r) => select({ kind: r.kind, name: r.name }),
    });
    const detail = h('section', { class: 'panel detail-panel', 'aria-live': 'polite' });

    function matches(r) {
      return !filter || r.name.toLowerCase().includes(filter.toLowerCase());
    }
    // The detail panel follows the filter: when the filter hides the shown
    // name, the first name left is shown (or nothing, when none is left).
    function applyFilter() {
      const shown = all.filter(matches);
      nameTable.setRows(shown);
      if (selected && !shown.some((r) => keyOf(r) === keyOf(selected))) {
        selected = null;
        if (shown.length) {
          const first = shown.find((r) => r.kind === 'task') || shown[0];
          select({ kind: first.kind, name: first.name });
          return;
        }
        detailToken++;
        detail.replaceChildren(emptyState('No name matches the filter', 'Clear the filter to see the tasks and regions again.'));
        detail.dataset.empty = 'true';
        return;
      }
      if (selected) nameTable.select(keyOf(selected));
    }
    filterInput.addEventListener('input', () => {
      filter = filterInput.value.trim();
      applyFilter();
      ctx.setParams({ kind: selected ? selected.kind : undefined, name: selected ? selected.name : undefined, filter: filter || undefined });
    });

    let detailToken = 0;
    async function renderDetail() {
      const token = ++detailToken;
      delete detail.dataset.empty;
      const stats = all.find((r) => r.kind === selected.kind && r.name === selected.name);
      detail.replaceChildren(loading(`Loading instances of ${selected.name}…`));
      let inst;
      try {
        inst = await ctx.api.instances(selected.kind, selected.name, INSTANCE_LIMIT);
      } catch (err) {
        if (token === detailToken) showError(detail, err, `Could not load the instances of ${selected.name}`);
        return;
      }
      if (token !== detailToken) return;
      detail.replaceChildren(...detailContent(stats, inst.instances || []));
    }

    function detailContent(stats, instances) {
      const statItems = [
        ['Count', formatCount(stats.count)],
        ['Min', formatDuration(stats.min_ns)],
        ['p50', formatDuration(stats.p50_ns)],
        ['p90', formatDuration(stats.p90_ns)],
        ['p99', formatDuration(stats.p99_ns)],
        ['Max', formatDuration(stats.max_ns)],
      ];
      // instances whose end was lost are not in these numbers: say how many
      if (Number(stats.unended) > 0) statItems.push(['Never ended', `${formatCount(stats.unended)} (left out)`]);
      const rows = instances.map((i) => {
        const dur = Number(i.dur_ns ?? i.end_ns - i.start_ns);
        return { ...i, dur, g: groupStates(i.breakdown, dur) };
      });
      const table = sortableTable({
        columns: [
          { key: 'dur', label: 'Duration', num: true, render: (r) => h('strong', null, formatDuration(r.dur)) },
          { key: 'start_ns', label: 'Start', num: true, render: (r) => formatTime(r.start_ns) },
          {
            key: 'tids',
            label: 'Threads',
            value: (r) => (r.tids || []).map((t) => threadLabel(t, names)).join(', '),
            cellClass: () => 'wrap',
          },
          ...groupsFor(rows.map((r) => r.breakdown)).map((g) => ({
            key: g.key,
            label: g.label,
            title: g.help,
            num: true,
            value: (r) => r.g[g.key],
            render: (r) => (r.g[g.key] ? h('span', null, formatDuration(r.g[g.key]), h('span', { class: 'cell-pct' }, formatPercent(r.g[g.key], r.dur))) : h('span', { class: 'zero' }, '0')),
          })),
          {
            key: 'stacks',
            label: 'Stacks',
            title: hasSamples ? 'the blocking profile of this instance (where it waited) and its CPU profile (where its threads ran: CPU samples)' : 'the blocking profile of this instance: where it waited',
            sortable: false,
            render: (r) => h('span', { class: 'stack-links' },
              r.dur > r.g.running + r.g.runnable + r.g.not_recorded + r.g.other
                ? h(
                    'button',
                    {
                      type: 'button',
                      class: 'link-btn',
                      title: 'Blocking profile of this instance: the stacks where it waited',
                      onclick: () => ctx.navigate('profiles', { kind: profileKindOf(r.breakdown), start_ns: r.start_ns, end_ns: r.end_ns, tid: (r.tids || []).length === 1 ? r.tids[0] : undefined }),
                    },
                    'where it waited',
                  )
                : h('span', { class: 'zero', title: 'never blocked in a traced call' }, '—'),
              hasSamples ? h('br') : null,
              hasSamples ? h('button', {
                type: 'button',
                class: 'link-btn',
                'data-action': 'instance-cpu-profile',
                title: `CPU flame graph of this ${selected.kind}: the samples of its threads while they worked for it`,
                onclick: () => ctx.navigate('profiles', { kind: 'cpu', ...(selected.kind === 'task' ? { task_id: r.id } : { region_id: r.id }) }),
              }, 'where it ran') : null),
          },
          {
            key: 'breakdown',
            label: 'Breakdown',
            title: 'split of this instance\'s time by state; sorts by the share not running',
            value: (r) => (r.dur ? 1 - r.g.running / r.dur : 0),
            render: (r) => stackedBar(r.breakdown, r.dur, (label, v) => `${label}: ${formatDuration(v)} (${formatPercent(v, r.dur)})`),
          },
        ],
        rows,
        sort: { key: 'dur', dir: 'desc' },
        className: 'instances-table',
        pageSize: 50,
        rowKey: (r) => r.id,
        emptyText: 'No instances',
        rowTitle: (r) => `Open the timeline at this ${selected.kind} (${formatDuration(r.dur)})`,
        // the timeline opens zoomed to the instance, its threads highlighted
        // and the instance itself selected (its details open)
        onActivate: (r) => ctx.navigate('timeline', { start_ns: r.start_ns, end_ns: r.end_ns, tids: r.tids || [], ev: instanceEv(selected.kind, r) }),
      });
      const shown = rows.length < Number(stats.count) ? `the ${formatCount(rows.length)} slowest of ${formatCount(stats.count)}` : `${formatCount(rows.length)}`;
      return [
        h(
          'div',
          { class: 'panel-header' },
          h('h2', null, stats.name, h('span', { class: 'kind-tag' }, KIND_LABEL[stats.kind])),
          h('span', { class: 'muted' }, `latency of ${formatCount(stats.count)} instance${Number(stats.count) === 1 ? '' : 's'}`),
        ),
        h('div', { class: 'stats-strip' }, statItems.map(([l, v]) => h('div', { class: 'stat', dataset: { stat: l.toLowerCase() } }, h('span', { class: 'stat-label' }, l), h('span', { class: 'stat-value' }, v)))),
        h(
          'div',
          { class: 'detail-grid' },
          h(
            'div',
            { class: 'detail-hist' },
            h('h3', null, 'Latency histogram'),
            histogramChart(stats.histogram || [], {
              markers: [
                { label: 'p50', ns: stats.p50_ns },
                { label: 'p90', ns: stats.p90_ns },
                { label: 'p99', ns: stats.p99_ns },
              ],
            }),
          ),
          aggregateBreakdown(rows, rows.length < Number(stats.count) ? `the ${formatCount(rows.length)} slowest` : `all ${formatCount(rows.length)}`, noBlockingRecorded(summary)),
        ),
        h(
          'div',
          { class: 'panel-header', style: 'margin-top: 18px' },
          h('h3', null, `Instances (${shown}), slowest first`),
          h('span', { class: 'muted' }, 'click one to open it in the timeline'),
        ),
        h('div', { class: 'toolbar' }, stateLegend(rows.some((r) => r.g.other > 0.01 * r.dur), groupsFor(rows.map((r) => r.breakdown)))),
        h('div', { class: 'panel-scroll' }, table.element),
      ];
    }

    function select(sel) {
      selected = sel;
      nameTable.select(keyOf(sel));
      ctx.setParams({ kind: sel.kind, name: sel.name, filter: filter || undefined });
      renderDetail();
    }

    // Tasks and regions that never ended (their thread exited or lost its
    // events first, or the trace stopped): drawn on the timeline as open,
    // left out of every latency here, and counted so.
    const unended = data.unended || {};
    const lost = [
      Number(unended.tasks) > 0 ? `${formatCount(unended.tasks)} task${Number(unended.tasks) === 1 ? '' : 's'}` : '',
      Number(unended.regions) > 0 ? `${formatCount(unended.regions)} region${Number(unended.regions) === 1 ? '' : 's'}` : '',
    ].filter(Boolean);
    const unendedNote = lost.length
      ? h(
          'p',
          { class: 'muted unended-note', dataset: { tasks: String(unended.tasks || 0), regions: String(unended.regions || 0) } },
          `${lost.join(' and ')} never ended (the thread exited or lost events first, or the trace stopped): their length is unknown, so they are left out of these statistics. The timeline draws them as open.`,
        )
      : null;
    container.replaceChildren(
      ...[head, unendedNote].filter(Boolean),
      h(
        'section',
        { class: 'panel panel-scroll' },
        h('div', { class: 'toolbar' }, filterInput, h('span', { class: 'muted' }, 'click a name for its histogram and its slowest instances')),
        nameTable.element,
      ),
      detail,
    );
    const before = selected;
    applyFilter();
    if (selected && selected === before) await renderDetail();
  },
};
