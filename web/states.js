// states.js - the one taxonomy of thread states, for every page (the
// timeline's legend and canvas, Threads, Tasks & regions, Blocking profiles,
// Summary): their keys, labels, help texts and colours, the legend, and the
// stacked bar that shows how a span of time splits between them.
// The colours come from here only: installStatePalette() sets the CSS
// variables --state-KEY that the style sheets and the canvas read.
// The palette is Okabe and Ito's colour-blind-safe set (plus greys): each
// state differs from every other in hue and lightness, also for the
// protanopic, deuteranopic and tritanopic eye.

/** The seven states of the API, in display order. */
export const STATES = [
  { key: 'running', label: 'Running' },
  { key: 'sync', label: 'Sync block' },
  { key: 'net', label: 'Network' },
  { key: 'io', label: 'File I/O' },
  { key: 'syscall', label: 'Other syscalls' },
  { key: 'poll', label: 'Polling' },
  { key: 'sleep', label: 'Sleeping' },
];

/**
 * Every state code of the server, in code order (src/analyze/states.h,
 * CTRACE_STATES): the binary timeline answer gives a span's state as an
 * index into this list.
 */
export const STATE_CODES = ['running', 'sync', 'net', 'io', 'poll', 'sleep', 'syscall', 'runnable', 'blocked_other', 'not_recorded'];

/**
 * States the server defines beyond the seven, reported only when a trace has
 * time in them: runnable and blocked_other need scheduler data; not_recorded
 * is the time of a trace made with the API alone (no ctrace run), which
 * records no blocking calls and so cannot tell running from waiting.
 */
export const LATER_STATES = [
  { key: 'runnable', label: 'Runnable', help: 'ready to run but waiting for a CPU' },
  { key: 'blocked_other', label: 'Blocked (other)', help: 'blocked in a call ctrace does not interpose' },
  { key: 'not_recorded', label: 'Not recorded', help: 'not recorded: the trace was made with the API alone (no ctrace run), which records no blocking calls, so it cannot tell running from waiting' },
];

/** The columns of the Threads and instance tables: one per state, same labels and colours as the timeline. */
export const STATE_GROUPS = STATES.map((st) => ({ key: st.key, label: st.label, parts: [st.key], get help() { return stateHelp(st.key); } }));

/** The later states as columns: pages show one when some row has time in it (groupsFor). */
export const LATER_GROUPS = LATER_STATES.map((st) => ({ key: st.key, label: st.label, parts: [st.key], help: st.help }));

/**
 * The state columns of a table whose rows have these {state: ns} objects:
 * the seven, then each later state (runnable, blocked_other, not_recorded)
 * that some row has time in.
 */
export function groupsFor(statesList) {
  const later = LATER_GROUPS.filter((g) => statesList.some((s) => Number((s && s[g.key]) || 0) > 0));
  return [...STATE_GROUPS, ...later];
}

/** Time in none of the states: shown grey, and in the legend when a view can have it. */
export const OTHER = { key: 'other', label: 'Unattributed', help: 'in no traced state of its threads, e.g. a task handed over from one thread to another' };

/**
 * The colour of each state, and of states that the event model may add
 * (runnable, not recorded, still blocked at the end of the trace). A state
 * without an entry takes the next of SPARE_COLORS, in STATES order.
 */
export const STATE_COLORS = {
  running: '#009e73', // bluish green
  sync: '#d55e00', // vermilion
  net: '#0072b2', // blue
  io: '#e69f00', // orange
  syscall: '#cc79a7', // reddish purple
  poll: '#56b4e9', // sky blue
  sleep: '#8c8c8c', // mid grey: waiting on purpose
  runnable: '#f0e442', // yellow: ready, waiting for a CPU
  unknown: '#3d3d3d', // near black: not recorded
  not_recorded: '#3d3d3d',
  blocked_other: '#44aa99', // teal: blocked outside any interposed call
  blocked_end: '#882255', // wine: still blocked when the trace ends
  blocked_at_end: '#882255',
  other: '#d5dae1', // light grey: in no state
};
const SPARE_COLORS = ['#882255', '#44aa99', '#999933', '#332288'];

const HELP = {
  running: 'not blocked in a traced call: on a CPU (with scheduling data; without it, on a CPU or waiting for one)',
  sync: 'blocked on a mutex, rwlock, condition variable, semaphore or join',
  net: 'blocked in a socket or pipe call: waiting for another thread\'s or process\'s data (or for room to write)',
  io: 'in a file read, write or other file system call (pipes count as network)',
  syscall: 'in another blocking system call',
  poll: 'waiting in poll, select or epoll',
  sleep: 'in sleep, nanosleep or usleep',
};

/** The help text of a state (its label when it has none). */
export function stateHelp(key) {
  const st = STATES.find((x) => x.key === key) || LATER_STATES.find((x) => x.key === key);
  return HELP[key] || (st && (st.help || st.label)) || key;
}

/** The label of a state key ("File I/O"); the key itself when unknown. */
export function stateLabel(key) {
  if (key === OTHER.key) return OTHER.label;
  const st = STATES.find((x) => x.key === key) || LATER_STATES.find((x) => x.key === key);
  return st ? st.label : key;
}

/** The colour of a state key, as a hex string. */
export function stateColor(key) {
  if (STATE_COLORS[key]) return STATE_COLORS[key];
  const spare = STATES.filter((x) => !STATE_COLORS[x.key]).findIndex((x) => x.key === key);
  return SPARE_COLORS[Math.max(0, spare) % SPARE_COLORS.length];
}

/** Sets --state-KEY on the document for every state (and "other"), so CSS uses this palette. */
export function installStatePalette(root = document.documentElement) {
  for (const st of [...STATES, ...LATER_STATES, OTHER]) root.style.setProperty(`--state-${st.key}`, stateColor(st.key));
}

/** A colour swatch of a state, for legends and tables. */
export function stateSwatch(key) {
  const sw = document.createElement('span');
  sw.className = `swatch sw-${key}`;
  sw.style.background = stateColor(key);
  sw.dataset.state = key;
  return sw;
}

/** The sum of one group's parts in a states/breakdown object (missing keys count as 0). */
export function groupValue(states, group) {
  let sum = 0;
  for (const p of group.parts) sum += Number((states && states[p]) || 0);
  return sum;
}

/** {running, sync, ..., runnable, blocked_other, not_recorded, other}: grouped values; other = total minus the known states. */
export function groupStates(states, total) {
  const out = {};
  let known = 0;
  for (const g of [...STATE_GROUPS, ...LATER_GROUPS]) {
    out[g.key] = groupValue(states, g);
    known += out[g.key];
  }
  out.other = Math.max(0, Number(total || 0) - known);
  return out;
}

/**
 * A horizontal bar split by state, each part's width its share of total.
 * describe(label, value) makes each segment's tooltip. The grey background
 * shows time in no known state (e.g. before the thread's first event).
 */
export function stackedBar(states, total, describe) {
  const bar = document.createElement('div');
  bar.className = 'stacked-bar';
  const grouped = groupStates(states, total);
  const whole = Number(total) || [...STATE_GROUPS, ...LATER_GROUPS].reduce((s, g) => s + grouped[g.key], 0);
  const tips = [];
  for (const g of [...STATE_GROUPS, ...LATER_GROUPS]) {
    const v = grouped[g.key];
    if (!v || !whole) continue;
    const seg = document.createElement('span');
    seg.style.width = `${(100 * v) / whole}%`;
    seg.style.background = stateColor(g.key);
    seg.dataset.state = g.key;
    const tip = describe ? describe(g.label, v) : g.label;
    seg.title = tip;
    tips.push(tip);
    bar.append(seg);
  }
  // The rest: time in no known state (a task handed over between threads,
  // a thread before its first event). Its own segment, so it has a tooltip.
  if (grouped.other > 0 && whole) {
    const seg = document.createElement('span');
    seg.style.width = `${(100 * grouped.other) / whole}%`;
    seg.style.background = stateColor(OTHER.key);
    seg.dataset.state = 'other';
    const tip = describe ? describe(OTHER.label, grouped.other) : OTHER.label;
    seg.title = tip;
    tips.push(tip);
    bar.append(seg);
  }
  bar.title = tips.join('\n');
  bar.setAttribute('role', 'img');
  bar.setAttribute('aria-label', tips.join(', ') || 'no time recorded');
  return bar;
}

/** The legend of the states as swatches with labels (and a help tooltip each); withOther adds OTHER; groups: the states shown (groupsFor). */
export function stateLegend(withOther = false, groups = STATE_GROUPS) {
  const el = document.createElement('div');
  el.className = 'legend';
  for (const g of withOther ? [...groups, OTHER] : groups) {
    const item = document.createElement('span');
    item.className = 'legend-item';
    item.title = g.help;
    const sw = stateSwatch(g.key);
    item.append(sw, g.label);
    el.append(item);
  }
  return el;
}

/**
 * True when the summary says the trace recorded no blocking call at all
 * (no sync, sleep, io, net or poll events): then the state splits show
 * nothing but running (a program traced by ctrace run that never blocked)
 * or not recorded (the API alone), and the views say why.
 */
export function noBlockingRecorded(summary) {
  const f = summary && summary.families;
  if (!f) return false;
  return ['sync', 'sleep', 'io', 'net', 'poll'].every((k) => !Number(f[k]));
}

/** The note shown when noBlockingRecorded(): how to get blocking data. */
export function noBlockingNote() {
  const p = document.createElement('p');
  p.className = 'hint';
  p.dataset.hint = 'no-blocking';
  const code = document.createElement('code');
  code.textContent = 'ctrace run';
  p.append(
    'This trace recorded no blocking calls (no lock waits, sleeps, file, socket or poll calls). A trace made with the API alone cannot tell running from waiting: its time shows as Not recorded. Record the program with ',
    code,
    ' to see where its threads wait.',
  );
  return p;
}

/**
 * The blocking profile kind (of /api/profile) where most of the blocked time
 * of a {state: ns} object went: sync, net, syscall (file I/O and other
 * calls), poll or sleep; undefined when nothing blocked.
 */
export function profileKindOf(states) {
  const kinds = { sync: ['sync'], net: ['net'], syscall: ['io', 'syscall'], poll: ['poll'], sleep: ['sleep'] };
  let best, bv = 0;
  for (const [k, parts] of Object.entries(kinds)) {
    const v = parts.reduce((a, p) => a + Number((states && states[p]) || 0), 0);
    if (v > bv) { best = k; bv = v; }
  }
  return best;
}
