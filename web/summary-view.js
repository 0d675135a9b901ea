// summary-view.js - the Summary view: the numbers of `ctrace stats` (the
// object of /api/summary), with dropped events, tracer overhead and an
// incomplete trace shown prominently when they are not zero/clean, then
// events by kind, families of blocking calls, task and region names,
// processes and threads.
import { showError } from './api.js';
import { h, loading } from './dom.js';
import { formatBytes, formatCount, formatDuration, formatPercent, formatTime } from './format.js';
import { sortableTable } from './table.js';
import { stateLabel, stateSwatch } from './states.js';

const FAMILY_HELP = {
  sync: 'mutexes, rwlocks, condition variables, semaphores, joins',
  sleep: 'sleep, usleep, nanosleep',
  io: 'file reads, writes and other file syscalls',
  net: 'socket calls: connect, accept, send, recv, ...',
  poll: 'poll, select, epoll',
  proc: 'threads and processes: create, fork, exec, exit',
};

// The state a family of traced calls blocks in (web/states.js), if any.
function familyState(family) {
  return ['sync', 'sleep', 'io', 'net', 'poll'].includes(family) ? family : null;
}

function card(label, value, note, key) {
  return h('div', { class: 'card', dataset: { card: key } }, h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value), note ? h('div', { class: 'card-note' }, note) : null);
}

function alertBox(kind, value, title, text, key) {
  return h('div', { class: `alert ${kind}`, role: 'alert', dataset: { alert: key } }, h('div', { class: 'alert-value' }, value), h('div', { class: 'alert-text' }, h('strong', null, title), text));
}

// The scheduling line of `ctrace stats` (its "scheduling" and "cpu samples"
// lines, and the sched_fds property): s.sched of /api/summary. Nothing for a
// summary without it.
function schedLines(sched) {
  if (!sched || typeof sched !== 'object') return [];
  if (!sched.recorded) {
    return [h('p', { class: 'sched-line', dataset: { sched: 'not-recorded' } }, h('strong', null, 'Scheduling: '), `not recorded (${sched.reason || 'no scheduling records'})`)];
  }
  const lost = Number(sched.lost) || 0;
  const cpus = Number(sched.cpus) || 0;
  const samples = String(sched.samples || '');
  const rate = samples.startsWith('off') ? samples : `${samples} Hz`;
  const lines = [
    h('p', { class: `sched-line${lost ? ' sched-warn' : ''}`, dataset: { sched: 'recorded' } },
      h('strong', null, 'Scheduling: '),
      `recorded: ${formatCount(sched.switches)} context switches on ${formatCount(cpus)} CPU${cpus === 1 ? '' : 's'}, ${formatCount(lost)} records lost`,
      lost ? h('span', { class: 'sched-missing' }, ' — some switches are missing') : null,
      h('span', { class: 'sub' }, ` · ${formatCount(sched.cpu_samples)} CPU samples (${rate})`)),
  ];
  if (sched.fds_taken) {
    lines.push(h('p', { class: 'sched-line sched-warn', dataset: { sched: 'fds-taken' } }, h('strong', null, 'Scheduling data cut short: '), String(sched.fds_taken), h('span', { class: 'sched-missing' }, ' — some switches are missing')));
  }
  return lines;
}

function simpleTable(columns, rows, sort, opts = {}) {
  return sortableTable({ columns, rows, sort, ...opts }).element;
}

export default {
  id: 'summary',
  title: 'Summary',

  async mount(container, ctx) {
    container.replaceChildren(loading('Loading the summary…'));
    let s;
    try {
      s = await ctx.summary;
    } catch (err) {
      showError(container, err, 'Could not load the summary');
      return;
    }
    const threadCount = Array.isArray(s.thread_list) ? s.thread_list.length : Number(s.threads) || 0;
    const events = Number(s.events) || 0;
    const dropped = Number(s.dropped_events) || 0;
    const overhead = Number(s.tracer_overhead_ns) || 0;
    const duration = Number(s.duration_ns) || 0;

    // ---- prominent problems ----
    const alerts = [];
    if (dropped > 0) {
      alerts.push(
        alertBox(
          'danger',
          formatCount(dropped),
          'events were dropped',
          ` — ${formatPercent(dropped, events + dropped)} of all events were lost when no buffer was free (the writer could not keep up; CTRACE_MEMORY_MB sets the budget) or a signal handler recorded in the middle of an event. The timeline and the statistics miss that activity; the Threads table below shows which threads lost events.`,
          'dropped',
        ),
      );
    }
    if (overhead > 0) {
      // Overhead is spent by the traced threads; compare it with the time all
      // threads were alive (an upper bound of what they could spend).
      const alive = Array.isArray(s.thread_list) ? s.thread_list.reduce((a, t) => a + Math.max(0, Number(t.last_ns) - Number(t.first_ns)), 0) : duration * threadCount;
      alerts.push(
        alertBox(
          'warn',
          formatDuration(overhead),
          'spent inside the tracer',
          ` — over ${formatCount(s.tracer_events)} recorded call${Number(s.tracer_events) === 1 ? '' : 's'}, ${formatPercent(overhead, alive) || 'an unknown share'} of the threads' lifetime. Durations in this trace include this cost.`,
          'overhead',
        ),
      );
    }
    if (s.complete === false || s.read_error) {
      alerts.push(
        alertBox(
          'danger',
          'Incomplete',
          'the trace was not read to its end',
          ` — ${s.read_error ? `reader error: ${s.read_error}. ` : ''}Everything up to the damage is shown; the rest is missing (e.g. the program was killed before its trace was finished).`,
          'incomplete',
        ),
      );
    }

    // ---- key numbers ----
    const cards = h(
      'div',
      { class: 'cards' },
      card('Duration', formatDuration(duration), 'first to last event', 'duration'),
      card('Threads', formatCount(threadCount), null, 'threads'),
      card('Processes', formatCount(s.processes), null, 'processes'),
      card('Events', formatCount(events), null, 'events'),
      card('Tasks', formatCount(s.tasks), null, 'tasks'),
      card('Regions', formatCount(s.regions), null, 'regions'),
      card('Logs', formatCount(s.logs), null, 'logs'),
      card('Trace size', formatBytes(s.bytes), s.bytes_per_event !== undefined ? `${Number(s.bytes_per_event).toFixed(1)} bytes/event` : null, 'bytes'),
      dropped === 0 ? card('Dropped events', '0', 'none lost', 'dropped') : null,
      overhead === 0 ? card('Tracer overhead', '0', 'none recorded', 'overhead') : null,
    );

    // ---- tables ----
    const byKind = Object.entries(s.events_by_kind || {}).map(([kind, count]) => ({ kind, count: Number(count) }));
    const families = Object.entries(s.families || {}).map(([family, count]) => ({ family, count: Number(count) }));
    const taskNames = Object.entries(s.task_names || {}).map(([name, v]) => {
      const count = typeof v === 'object' ? Number(v.count) : Number(v);
      const total = typeof v === 'object' ? Number(v.total_ns) : NaN;
      return { name, count, total, mean: count && Number.isFinite(total) ? total / count : NaN };
    });
    const regionNames = Object.entries(s.region_names || {}).map(([name, v]) => ({ name, count: typeof v === 'object' ? Number(v.count) : Number(v) }));

    const panels = [];
    panels.push(
      h(
        'section',
        { class: 'panel panel-scroll' },
        h('h2', null, 'Events by kind'),
        simpleTable(
          [
            { key: 'kind', label: 'Kind', render: (r) => h('code', null, r.kind) },
            { key: 'count', label: 'Events', num: true, render: (r) => formatCount(r.count) },
            { key: 'share', label: 'Share', num: true, value: (r) => r.count, render: (r) => formatPercent(r.count, events) },
          ],
          byKind,
          { key: 'count', dir: 'desc' },
          { className: 'kinds-table', emptyText: 'No events' },
        ),
      ),
    );
    panels.push(
      h(
        'section',
        { class: 'panel panel-scroll' },
        h('h2', null, 'Traced call families'),
        simpleTable(
          [
            { key: 'family', label: 'Family', cellClass: () => 'wrap', render: (r) => h('span', null, familyState(r.family) ? stateSwatch(familyState(r.family)) : null, ' ', h('strong', null, familyState(r.family) ? stateLabel(familyState(r.family)) : r.family), h('span', { class: 'sub' }, FAMILY_HELP[r.family] || '')) },
            { key: 'count', label: 'Events', num: true, render: (r) => (r.count ? formatCount(r.count) : h('span', { class: 'zero' }, '0')) },
          ],
          families,
          null,
          { className: 'families-table', emptyText: 'No families reported' },
        ),
      ),
    );
    panels.push(
      h(
        'section',
        { class: 'panel panel-scroll' },
        h('h2', null, 'Tasks'),
        simpleTable(
          [
            { key: 'name', label: 'Task', render: (r) => h('span', { class: 'name-cell' }, r.name) },
            { key: 'count', label: 'Count', num: true, render: (r) => formatCount(r.count) },
            { key: 'total', label: 'Total time', num: true, render: (r) => formatDuration(r.total) },
            { key: 'mean', label: 'Mean', num: true, render: (r) => formatDuration(r.mean) },
          ],
          taskNames,
          { key: 'count', dir: 'desc' },
          { className: 'task-names-table', emptyText: 'No tasks', onActivate: (r) => ctx.navigate('tasks', { kind: 'task', name: r.name }), rowTitle: (r) => `Latency of ${r.name}` },
        ),
      ),
    );
    panels.push(
      h(
        'section',
        { class: 'panel panel-scroll' },
        h('h2', null, 'Regions'),
        simpleTable(
          [
            { key: 'name', label: 'Region', render: (r) => h('span', { class: 'name-cell' }, r.name) },
            { key: 'count', label: 'Count', num: true, render: (r) => formatCount(r.count) },
          ],
          regionNames,
          { key: 'count', dir: 'desc' },
          { className: 'region-names-table', emptyText: 'No regions', onActivate: (r) => ctx.navigate('tasks', { kind: 'region', name: r.name }), rowTitle: (r) => `Latency of ${r.name}` },
        ),
      ),
    );

    const full = [];
    if (Array.isArray(s.process_list) && s.process_list.length) {
      full.push(
        h(
          'section',
          { class: 'panel panel-scroll' },
          h('h2', null, 'Processes'),
          simpleTable(
            [
              { key: 'pid', label: 'PID', num: true },
              { key: 'ppid', label: 'Parent', num: true },
              { key: 'exe', label: 'Executable', render: (r) => h('code', null, r.exe || '') },
              { key: 'argv', label: 'Command line', value: (r) => (Array.isArray(r.argv) ? r.argv.join(' ') : r.argv || ''), cellClass: () => 'wrap' },
            ],
            s.process_list,
            { key: 'pid', dir: 'asc' },
            { className: 'processes-table' },
          ),
        ),
      );
    }
    if (Array.isArray(s.thread_list) && s.thread_list.length) {
      const nameOf = new Map(s.thread_list.map((t) => [Number(t.tid), t.name]));
      full.push(
        h(
          'section',
          { class: 'panel panel-scroll' },
          h('h2', null, 'Threads'),
          simpleTable(
            [
              { key: 'index', label: '#', num: true },
              { key: 'name', label: 'Name', render: (r) => h('span', { class: 'name-cell' }, r.name || '(unnamed)') },
              { key: 'tid', label: 'TID', num: true },
              { key: 'pid', label: 'PID', num: true },
              { key: 'first_ns', label: 'First event', num: true, render: (r) => formatTime(r.first_ns) },
              { key: 'last_ns', label: 'Last event', num: true, render: (r) => formatTime(r.last_ns) },
              { key: 'life', label: 'Lifetime', num: true, value: (r) => Number(r.last_ns) - Number(r.first_ns), render: (r) => formatDuration(Number(r.last_ns) - Number(r.first_ns)) },
              {
                key: 'created_by',
                label: 'Created by',
                value: (r) => (r.created_by ? `${nameOf.get(Number(r.created_by)) || ''} ${r.created_by}` : ''),
                render: (r) => (r.created_by ? `${nameOf.get(Number(r.created_by)) || 'thread'} (${r.created_by})` : '—'),
              },
              { key: 'exited', label: 'Exited', value: (r) => (r.exited ? 1 : 0), render: (r) => (r.exited ? 'yes' : 'no: alive at the end'), title: 'a thread without THREAD_EXIT was still running when the trace ended (often: when the process exited)' },
              { key: 'dropped', label: 'Dropped', num: true, render: (r) => (Number(r.dropped) ? h('strong', { style: 'color: var(--danger-text)' }, formatCount(r.dropped)) : h('span', { class: 'zero' }, '0')) },
            ],
            s.thread_list,
            { key: 'index', dir: 'asc' },
            { className: 'thread-list-table', rowKey: (r) => r.tid, onActivate: (r) => ctx.navigate('timeline', { tids: [Number(r.tid)] }), rowTitle: (r) => `Show ${r.name || 'thread'} in the timeline` },
          ),
        ),
      );
    }

    container.replaceChildren(
      h('div', { class: 'panel-header' }, h('h1', { class: 'view-title' }, 'Summary'), h('span', { class: 'muted' }, 'the numbers of ctrace stats')),
      alerts.length ? h('div', { class: 'alerts' }, alerts) : h('p', { class: 'ok-line', dataset: { alert: 'none' } }, '✓ No events dropped, no tracer overhead recorded, trace complete.'),
      ...schedLines(s.sched),
      cards,
      h('div', { class: 'grid-2' }, panels[0], panels[1], h('div', { class: 'stack' }, panels[2], panels[3])),
      h('div', { class: 'stack', style: 'margin-top: 16px' }, full),
    );
  },
};
