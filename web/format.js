// format.js - turns the numbers of the HTTP API into short, readable text.
// Every time in the API is an integer count of nanoseconds (since trace start
// for instants); this module is the one place that decides how they read.
// It formats only; it never fetches or touches the DOM.

const DURATION_UNITS = [
  [1e9, 's'],
  [1e6, 'ms'],
  [1e3, 'µs'],
];

// Three significant digits are enough to compare latencies by eye and keep
// table columns narrow ("52.1 ms", "1.23 s", "850 ns").
function threeDigits(x) {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** A duration in ns as "52.1 ms"; "—" for a missing value. */
export function formatDuration(ns) {
  if (ns === null || ns === undefined || Number.isNaN(Number(ns))) return '—';
  const v = Number(ns);
  if (v === 0) return '0';
  const a = Math.abs(v);
  const sign = v < 0 ? '-' : '';
  // Round to three significant digits first, so that 99,999 ns reads
  // "100 µs" (not "100.0 µs") and 999,999 ns "1.00 ms" (not "1000 µs").
  for (const [scale, unit] of DURATION_UNITS) {
    const r = Number((a / scale).toPrecision(3));
    if (r >= 1) return `${sign}${threeDigits(r)} ${unit}`;
  }
  return `${sign}${Math.round(a)} ns`;
}

/**
 * A duration in ns with just enough decimals to tell apart values stepNs
 * apart: axis labels 50.25 ms, 50.32 ms where formatDuration would print
 * 50.3 ms twice. At most 3 decimals.
 */
export function formatDurationStep(ns, stepNs) {
  const v = Number(ns);
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  let scale = 1;
  let unit = 'ns';
  for (const [sc, u] of DURATION_UNITS) {
    if (a >= sc) {
      scale = sc;
      unit = u;
      break;
    }
  }
  if (scale === 1) return `${Math.round(v)} ns`;
  const step = Math.abs(Number(stepNs)) / scale;
  let decimals = step > 0 ? Math.ceil(-Math.log10(step)) : 1;
  decimals = Math.min(3, Math.max(decimals, v / scale >= 100 ? 0 : v / scale >= 10 ? 1 : 2));
  return `${(v / scale).toFixed(decimals)} ${unit}`;
}

/** An instant (ns since trace start) as "+52.150 ms", precise enough to tell events apart. */
export function formatTime(ns) {
  if (ns === null || ns === undefined) return '—';
  const v = Number(ns);
  if (Math.abs(v) >= 1e9) return `${(v / 1e9).toFixed(6)} s`;
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(3)} ms`;
  if (Math.abs(v) >= 1e3) return `${(v / 1e3).toFixed(3)} µs`;
  return `${v} ns`;
}

const COUNT_FORMAT = new Intl.NumberFormat('en-US');

/** An integer count with thousands separators: "10,000,000". */
export function formatCount(n) {
  if (n === null || n === undefined) return '—';
  return COUNT_FORMAT.format(Number(n));
}

/** A byte count as "1.21 kB" (decimal units, like `ls -h --si`). */
export function formatBytes(n) {
  if (n === null || n === undefined) return '—';
  const v = Number(n);
  if (v < 1000) return `${v} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let x = v;
  let i = -1;
  do {
    x /= 1000;
    i++;
  } while (x >= 1000 && i < units.length - 1);
  x = Number(x.toPrecision(3));
  if (x >= 1000 && i < units.length - 1) {
    x /= 1000; // 999,999 B reads "1.00 MB", not "1000 kB"
    i++;
  }
  return `${threeDigits(x)} ${units[i]}`;
}

/** part/whole as "12.5%"; "" when whole is zero. Small shares keep a decimal so they do not read as 0. */
export function formatPercent(part, whole) {
  if (!whole) return '';
  const p = (100 * Number(part)) / Number(whole);
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  if (p < 10) return `${p.toFixed(1)}%`;
  if (p >= 99.5 && p < 100) return '>99%'; // "100%" would claim there is nothing else
  return `${p.toFixed(0)}%`;
}

// Where a whole stack ends: a thread's or the program's start.
const STACK_ROOTS = /^(start_thread|__?clone3?|_start|__libc_start_main.*|__libc_start_call_main|main)$/;

/**
 * A note for a stack that is likely cut short, or null: the trace walked
 * stacks by frame pointers (its config says unwind=fp) and the stack's
 * outermost frame is not where a thread starts. Code built without frame
 * pointers (most distribution binaries) ends such a walk early; the note
 * (a sentence's end: "may be cut short: " goes before it) names the fix.
 */
export function shortStackNote(config, frames) {
  if (!/(^| )unwind=fp( |$)/.test(String(config || '')) || !frames || !frames.length) return null;
  const last = frames[frames.length - 1];
  if (STACK_ROOTS.test(String((last && last.function) || ''))) return null;
  return 'the trace walked stacks by frame pointers (CTRACE_UNWIND=fp), and code built without them (most distribution binaries) ends the walk early. Record with the default unwinder (ctrace run --unwind cfi) for whole stacks.';
}

/** A profile stack's frames with its call ("read", "cond") innermost, as a frame "[read]". */
export function framesWithCall(stack) {
  const frames = (stack && stack.frames) || [];
  return stack && stack.call ? [{ function: `[${stack.call}]`, call: true }, ...frames] : frames;
}
