// profiles-view.js - the Blocking profiles view: where threads blocked, per
// kind (sync, network, syscall, poll, sleep), and, in a trace with CPU samples,
// where they ran (kind cpu), as a flame graph of stacks and a
// sortable table of the top stacks, each kind downloadable as a pprof
// profile (/api/pprof). The profile can be limited to one thread and to a
// time range (route parameters tid, start_ns, end_ns; the Tasks view links
// here with an instance's range), or to a task or a region (task_id,
// region_id: the threads' time working for it). Data:
// /api/profile?kind=K[&tid&start_ns&end_ns&task&region].
import { showError } from './api.js';
import { h, loading, emptyState } from './dom.js';
import { formatCount, formatDuration, formatPercent, formatTime, framesWithCall, shortStackNote } from './format.js';
import { buildTree, flameGraph } from './flamegraph.js';
import { sortableTable } from './table.js';
import { stateLabel, stateSwatch } from './states.js';

// The profile kinds in the states' taxonomy (web/states.js): each kind
// carries the label and colour of the state(s) it counts.
const BLOCK_KINDS = [
  { key: 'sync', states: ['sync'], long: 'synchronization (mutex, rwlock, condition variable, semaphore, join)' },
  { key: 'net', states: ['net'], long: 'network (socket calls)' },
  { key: 'syscall', states: ['io', 'syscall'], long: 'blocking system calls (file I/O and others)' },
  { key: 'poll', states: ['poll'], long: 'fds becoming ready (poll, select, epoll_wait: an event loop waiting for work)' },
  { key: 'sleep', states: ['sleep'], long: 'sleeping (sleep, usleep, nanosleep)' },
].map((k) => ({ ...k, label: k.states.map(stateLabel).join(' & ') }));
// CPU samples (scheduling data): where threads ran, not where they waited
const CPU_KIND = { key: 'cpu', states: ['running'], long: 'CPU (samples of the threads on a CPU)', label: 'CPU', cpu: true };

// A frame without symbols (a stripped binary) is named by its object and
// offset, which addr2line or a debug-info package can still resolve.
function frameText(f) {
  if (!f) return '??';
  if (f.function && f.function !== '??') return f.function;
  if (f.object) return `${String(f.object).split('/').pop()}+${f.offset}`;
  return f.pc || '??';
}

// "worker (mutex_contend.c:18)": the innermost frame with its line, which
// tells two blocking calls in one function apart.
function frameWhere(f) {
  if (!f || !f.file) return frameText(f);
  const base = String(f.file).split('/').pop();
  return `${frameText(f)} (${base}${f.line ? `:${f.line}` : ''})`;
}

function frameList(frames) {
  return h(
    'ol',
    { class: 'frames' },
    frames.map((f) => h('li', null, frameText(f), f.file ? h('span', { class: 'file' }, `  ${f.file}${f.line ? `:${f.line}` : ''}`) : null)),
  );
}

/** The filter of the route: {tid? | tids?, start_ns?, end_ns?} with only the keys that are set. */
function filterOf(params) {
  const f = {};
  if (Number.isFinite(params.tid) && params.tid > 0) f.tid = params.tid;
  // several threads (a range selection's "Open as profile"): their profiles summed
  else if (Array.isArray(params.tids) && params.tids.length > 1) f.tids = params.tids;
  if (Number.isFinite(params.start_ns)) f.start_ns = params.start_ns;
  if (Number.isFinite(params.end_ns)) f.end_ns = params.end_ns;
  if (Number.isFinite(params.task_id)) f.task = params.task_id;
  if (Number.isFinite(params.region_id)) f.region = params.region_id;
  if (String(params.idle) === '0') f.idle = 0; // condition-variable waits left out
  return f;
}


export default {
  id: 'profiles',
  title: 'Blocking profiles',

  async mount(container, ctx) {
    container.replaceChildren(loading('Loading blocking profiles…'));
    const summary = await ctx.summary.catch(() => null);
    const threads = (summary && summary.thread_list) || [];
    const filter = filterOf(ctx.params);
    // the route's names of the filter (task_id, region_id: numbers)
    const routeOf = (f) => ({ tid: f.tid, tids: f.tids, start_ns: f.start_ns, end_ns: f.end_ns, task_id: f.task, region_id: f.region, idle: f.idle });
    const hasSamples = !!(summary && summary.sched && Number(summary.sched.cpu_samples) > 0) || ctx.params.kind === 'cpu';
    const KINDS = hasSamples ? [...BLOCK_KINDS, CPU_KIND] : BLOCK_KINDS;

    // All kinds are small and cached: fetch them together so each kind's
    // button can show its total.
    const results = await Promise.all(KINDS.map((k) => ctx.api.profile(k.key, filter).then((p) => ({ ok: true, p }), (err) => ({ ok: false, err }))));
    const byKind = new Map(KINDS.map((k, i) => [k.key, results[i]]));
    const totalOf = (k) => (byKind.get(k).ok ? Number(byKind.get(k).p.total_ns) || 0 : 0);

    let kind = KINDS.some((k) => k.key === ctx.params.kind) ? ctx.params.kind : null;
    if (!kind) {
      // Default: the kind other than sleep with most blocked time, so the
      // first look shows contention or I/O; sleeping is usually deliberate
      // and is the default only when nothing else blocked.
      const waits = BLOCK_KINDS.filter((k) => k.key !== 'sleep');
      const best = waits.reduce((b, k) => (totalOf(k.key) > totalOf(b.key) ? k : b), waits[0]);
      kind = totalOf(best.key) > 0 ? best.key : 'sleep';
    }

    const buttons = KINDS.map((k) =>
      h(
        'button',
        { type: 'button', 'aria-pressed': 'false', dataset: { kind: k.key }, onclick: () => show(k.key), title: k.cpu ? 'Where threads ran: CPU samples by stack' : `Time blocked on ${k.long}` },
        k.states.map(stateSwatch),
        k.label,
        h('span', { class: 'count' }, byKind.get(k.key).ok ? formatDuration(totalOf(k.key)) : 'error'),
      ),
    );

    // thread filter: changing it re-mounts the view with the new route
    const threadSelect = h(
      'select',
      { 'aria-label': 'Limit to one thread', class: 'thread-filter' },
      h('option', { value: '' }, 'All threads'),
      filter.tids ? h('option', { value: 'several', selected: true, title: filter.tids.join(', ') }, `${filter.tids.length} threads (the selection)`) : null,
      threads.map((t) => h('option', { value: String(t.tid), selected: Number(t.tid) === filter.tid }, `${t.name || 'thread'} (${t.tid})`)),
    );
    threadSelect.addEventListener('change', () => {
      if (threadSelect.value === 'several') return;
      const tid = threadSelect.value ? Number(threadSelect.value) : undefined;
      ctx.navigate('profiles', { kind, ...routeOf(filter), tid, tids: undefined });
    });
    // Idle waits: a pool's threads parked on their condition variable
    // (also a wait for a result through one, which the trace cannot tell
    // apart): one switch leaves every condvar wait out.
    const idleBox = h('input', { type: 'checkbox', checked: filter.idle === 0 });
    idleBox.addEventListener('change', () => ctx.navigate('profiles', { kind, ...routeOf(filter), idle: idleBox.checked ? 0 : undefined }));
    const idleSwitch = h('label', { class: 'idle-switch', title: 'Leave out every wait on a condition variable: the idle threads of a pool parked until there is work (and waits for a result through one)' }, idleBox, ' Hide idle waits (condition variables)');
    const scopeNote = filter.task !== undefined || filter.region !== undefined
      ? h('span', { class: 'filter-note', 'data-scope': filter.task !== undefined ? 'task' : 'region' },
          filter.task !== undefined ? `task ${filter.task}: the time its threads worked for it` : `region ${filter.region}`,
          h('button', { type: 'button', class: 'link-btn', onclick: () => ctx.navigate('profiles', { kind, tid: filter.tid }) }, 'whole trace'))
      : null;
    const rangeNote =
      filter.start_ns !== undefined || filter.end_ns !== undefined
        ? h(
            'span',
            { class: 'filter-note' },
            `from ${filter.start_ns !== undefined ? formatTime(filter.start_ns) : 'the start'} to ${filter.end_ns !== undefined ? formatTime(filter.end_ns) : 'the end'}`,
            h('button', { type: 'button', class: 'link-btn', onclick: () => ctx.navigate('profiles', { kind, tid: filter.tid, tids: filter.tids }) }, 'whole trace'),
          )
        : null;

    const body = h('div', { class: 'profile-body' });

    function show(k) {
      kind = k;
      ctx.setParams({ kind: k, ...routeOf(filter) });
      for (const b of buttons) b.setAttribute('aria-pressed', b.dataset.kind === k ? 'true' : 'false');
      const info = KINDS.find((x) => x.key === k);
      const r = byKind.get(k);
      if (!r.ok) {
        showError(body, r.err, `Could not load the ${info.label.toLowerCase()} profile`);
        return;
      }
      const p = r.p;
      const stacks = (p.stacks || []).filter((s) => Number(s.total_ns) > 0 || Number(s.count) > 0);
      const total = Number(p.total_ns) || stacks.reduce((s, x) => s + (Number(x.total_ns) || 0), 0);
      const count = stacks.reduce((s, x) => s + (Number(x.count) || 0), 0);
      const download = h('a', { class: 'button', href: ctx.api.pprofUrl(k, filter), download: `ctrace-${k}.pb.gz`, title: 'gzipped profile.proto, for `go tool pprof` and other pprof tools' }, '↓ Download pprof');

      const heading = info.cpu ? 'On the CPU (CPU samples)' : `Blocked on ${info.long}`;
      if (stacks.length === 0 && info.cpu) {
        body.replaceChildren(
          h('div', { class: 'panel-header' }, h('h2', null, heading), h('span', { class: 'muted' }, 'no samples')),
          emptyState(`No CPU samples${Object.keys(filter).length ? ' with this filter' : ' in this trace'}`,
            'CPU samples need scheduling data (perf_event_open allowed: kernel.perf_event_paranoid <= 2) and a sampling rate above 0 (CTRACE_SAMPLE_HZ, ctrace run --sample-hz); a thread that never ran on a CPU has none.'));
        return;
      }
      if (stacks.length === 0) {
        body.replaceChildren(
          h('div', { class: 'panel-header' }, h('h2', null, `Blocked on ${info.long}`), h('span', { class: 'muted' }, 'none recorded')),
          emptyState(
            `No blocking events of kind “${info.label.toLowerCase()}”${Object.keys(filter).length ? ' with this filter' : ' in this trace'}`,
            filter.idle === 0
              ? 'Hide idle waits is on: every wait on a condition variable is left out. Turn it off above to see them.'
              : 'Blocking is recorded by the interposers of the preload library (ctrace run); a trace made with the API alone has none. Try another kind above.',
          ),
        );
        return;
      }

      const more = Number(p.nstacks) > stacks.length ? ` (the top ${formatCount(stacks.length)} of ${formatCount(p.nstacks)} shown)` : '';
      const rows = stacks.map((s, i) => ({ ...s, i, total: Number(s.total_ns) || 0, count: Number(s.count) || 0, frames: framesWithCall(s) }));
      const table = sortableTable({
        columns: [
          { key: 'total', label: info.cpu ? 'CPU time' : 'Blocked', num: true, render: (r) => h('strong', null, formatDuration(r.total)) },
          { key: 'share', label: 'Share', num: true, value: (r) => r.total, render: (r) => formatPercent(r.total, total) },
          { key: 'count', label: info.cpu ? 'Samples' : 'Events', num: true, render: (r) => formatCount(r.count) },
          {
            key: 'mean',
            label: 'Mean',
            num: true,
            value: (r) => (r.count ? r.total / r.count : 0),
            render: (r) => (r.count ? formatDuration(r.total / r.count) : '—'),
          },
          {
            key: 'where',
            label: info.cpu ? 'Running in (innermost frames first)' : 'Blocked in (innermost frames first)',
            value: (r) => r.frames.map(frameText).join(' '),
            cellClass: () => 'wrap',
            render: (r) =>
              h(
                'details',
                null,
                h('summary', null, h('code', null, r.frames.slice(0, 3).map((f, i) => (i === 0 || (i === 1 && r.frames[0].call) ? frameWhere(f) : frameText(f))).join(' ← ') || '(no stack)')),
                frameList(r.frames),
              ),
          },
        ],
        rows,
        sort: { key: 'total', dir: 'desc' },
        className: 'stacks-table',
        rowKey: (r) => r.i,
      });
      // stacks walked by frame pointers through code without them end early
      const cut = info.cpu ? 0 : stacks.filter((st) => shortStackNote(summary && summary.config, st.frames || [])).length;
      const shortNote = cut
        ? h('p', { class: 'alert short-stack', dataset: { short: String(cut) } },
          `${formatCount(cut)} of ${formatCount(stacks.length)} stack${stacks.length === 1 ? '' : 's'} may be cut short: ${shortStackNote(summary.config, [{}])}`)
        : null;
      body.replaceChildren(
        ...(shortNote ? [shortNote] : []),
        h(
          'div',
          { class: 'panel-header' },
          h('h2', null, heading),
          h('span', { class: 'muted' }, `${formatDuration(total)} in ${formatCount(count)} ${info.cpu ? 'sample' : 'event'}${count === 1 ? '' : 's'}, ${formatCount(Number(p.nstacks) || stacks.length)} distinct stack${stacks.length === 1 ? '' : 's'}${more}`),
          h('span', { style: 'margin-left:auto' }, download),
        ),
        h(
          'section',
          { class: 'panel' },
          h('h3', null, 'Flame graph'),
          h('p', { class: 'muted', style: 'margin:0 0 8px' }, `Outermost frames at the top; width is ${info.cpu ? 'CPU time (samples × period)' : 'time blocked'}. Click a frame to zoom in.`),
          flameGraph(buildTree(rows.map((r) => ({ total_ns: r.total, count: r.count, frames: r.frames }))), info.cpu ? { rootLabel: 'all CPU time', kindLabel: 'samples' } : { kindLabel: info.label.toLowerCase() }),
        ),
        h('section', { class: 'panel panel-scroll' }, h('h3', null, 'Top stacks'), table.element),
      );
    }

    container.replaceChildren(
      h('div', { class: 'panel-header' }, h('h1', { class: 'view-title' }, 'Blocking profiles'), h('span', { class: 'muted' }, 'where threads waited, by stack')),
      h('div', { class: 'toolbar' }, h('div', { class: 'segmented', role: 'group', 'aria-label': 'Kind of blocking' }, buttons), threads.length ? threadSelect : null, idleSwitch, scopeNote, rangeNote),
      body,
    );
    show(kind);
  },
};
