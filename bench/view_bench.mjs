// view_bench.mjs - what a user of `ctrace view` waits for, measured by
// driving the real page in headless Chromium (playwright-core from
// tests/browser/node_modules: `cd tests/browser && npm ci` once):
//
//   - start to first paint: from spawning `ctrace view` to the timeline's
//     first drawn answer (the browser is already running; it polls the port);
//   - second open: the same again, the index cache next to the trace kept;
//   - zoom and pan steps (W, S, A, D): key press (the event's timestamp) to
//     the canvas first redrawn (a preview of the old answer, or the answer),
//     and to the canvas redrawn with the server's new answer; the draws a
//     step costs;
//   - Threads, Tasks & regions, Blocking profiles and Summary pages: tab
//     click to the page ready (<main data-state="ready">), first visit;
//   - the longest main-thread task (PerformanceObserver 'longtask'): while
//     the timeline first loads, during the steps, and on each page;
//   - the server's resident memory (VmRSS at the end, VmHWM the peak) and
//     CPU time, from /proc; the CPU time of each step and page in the server
//     and in the browser's processes (on a loaded machine the wall times
//     stretch, the CPU times much less).
//
// Usage: node bench/view_bench.mjs FILE [--build DIR] [--steps N] [--runs N]
//        [--no-cache]  (every open starts cold: the cache file is removed)
//        [--web DIR,DIR2,...]  the pages from these directories (a copy of
//          web/ of another commit: `git archive REV web | tar -x -C /tmp/x`)
//          instead of the binary's, served by tests/browser/mock-server.mjs
//          with /api/ forwarded to `ctrace view` (the proxy adds a little to
//          every request: compare variants with each other, not with the
//          binary's own pages); "builtin" is the binary's pages, direct.
//          Runs alternate between the variants; one table each.
// Prints tables; never fails on a slow number (the tests assert behaviour).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const require = createRequire(path.join(REPO, 'tests/browser/package.json'));
const { chromium } = require('playwright-core');
const { startMock } = await import(path.join(REPO, 'tests/browser/mock-server.mjs'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
};
const BUILD = path.resolve(opt('--build', process.env.CTRACE_BUILD_DIR || path.join(REPO, 'build')));
const STEPS = Number(opt('--steps', '24'));
const RUNS = Number(opt('--runs', '1'));
const NO_CACHE = flag('--no-cache');
const VARIANTS = opt('--web', 'builtin').split(',').map((v) => (v === 'builtin' ? v : path.resolve(v)));
const FILE = args[0];
if (!FILE) {
  console.error('usage: node bench/view_bench.mjs FILE [--build DIR] [--steps N] [--runs N] [--no-cache] [--web DIR,...]');
  process.exit(2);
}
const CTRACE = path.join(BUILD, 'ctrace');
const CHROMIUM = process.env.CTRACE_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const fileBytes = fs.statSync(FILE).size;

function cachePaths() {
  // where ctrace view keeps its index cache (docs/cli/view.md)
  const dir = path.dirname(path.resolve(FILE));
  const base = path.basename(FILE);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return [path.join(dir, `.${base}.ctidx`), path.join(xdg, 'ctrace')];
}
function removeCache() {
  const [beside] = cachePaths();
  fs.rmSync(beside, { force: true });
  // caches in $XDG_CACHE_HOME/ctrace are named by the trace's identity: remove
  // only those whose name carries this trace's base name
  const dir = cachePaths()[1];
  if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir)) if (f.includes(path.basename(FILE))) fs.rmSync(path.join(dir, f), { force: true });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function procStat(pid) {
  const out = {};
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const m = /^(VmRSS|VmHWM):\s+(\d+)/.exec(line);
      if (m) out[m[1]] = Number(m[2]) * 1024;
    }
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const hz = 100;
    out.cpu = (Number(f[11]) + Number(f[12])) / hz; // utime + stime, s
  } catch { /* gone */ }
  return out;
}

// CPU time (s) of pid and all its descendants (the browser: its renderer,
// GPU and utility processes).
function treeCpu(pid) {
  // pid's own time and the server's are left out (see browserPid)
  const kids = new Map();
  const cpu = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      const ppid = Number(f[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
      cpu.set(Number(d), (Number(f[11]) + Number(f[12])) / 100);
    } catch { /* gone */ }
  }
  let sum = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    if (p === serverPid) continue;
    if (p !== pid) sum += cpu.get(p) || 0;
    for (const k of kids.get(p) || []) todo.push(k);
  }
  return sum;
}

async function startServer(variant) {
  const port = await freePort();
  let url = `http://127.0.0.1:${port}/`;
  const t0 = performance.now();
  const proc = spawn(CTRACE, ['view', '--no-browser', '--addr', `127.0.0.1:${port}`, FILE], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  proc.stdout.on('data', (d) => output.push(String(d)));
  proc.stderr.on('data', (d) => output.push(String(d)));
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`ctrace view exited:\n${output.join('')}`);
    try {
      const r = await fetch(`${url}index.html`);
      if (r.ok) break;
    } catch { /* not yet */ }
    await sleep(20);
  }
  const tServe = performance.now() - t0;
  let proxy = null;
  if (variant !== 'builtin') {
    proxy = await startMock({ webDir: variant, apiUpstream: url });
    url = proxy.url;
  }
  return { proc, url, t0, tServe, output, proxy };
}
async function stopServer(s) {
  if (s.proxy) await s.proxy.close();
  s.proc.kill('SIGINT');
  await new Promise((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r)));
}

// In every page: the long tasks (each one's duration, drained by phase),
// and for the last key press: its time, when the canvas was first drawn
// after it (data-drawn or data-draw-ms changing: a preview or the answer)
// and when an answer was first drawn (data-draw-ms changing, a full draw,
// while data-loading is "false").
const INIT = () => {
  window.__bench = { long: [], keyAt: 0, drawnAt: 0, answerAt: 0 };
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__bench.long.push(e.duration);
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* no longtask support */ }
  document.addEventListener('keydown', (e) => {
    Object.assign(window.__bench, { keyAt: e.timeStamp, drawnAt: 0, answerAt: 0 });
  }, true);
  const watch = () => {
    const tl = document.querySelector('.tl');
    if (!tl) return false;
    new MutationObserver((recs) => {
      const b = window.__bench, now = performance.now();
      if (!b.drawnAt && recs.some((r) => r.attributeName !== 'data-loading')) b.drawnAt = now;
      if (!b.answerAt && tl.dataset.loading === 'false' && recs.some((r) => r.attributeName === 'data-draw-ms')) b.answerAt = now;
    }).observe(tl, { attributes: true, attributeFilter: ['data-loading', 'data-draw-ms', 'data-drawn'] });
    return true;
  };
  new MutationObserver((_, obs) => { if (watch()) obs.disconnect(); }).observe(document, { childList: true, subtree: true });
};
const drainLong = (page) => page.evaluate(() => window.__bench.long.splice(0));

async function firstPaint(page, server) {
  await page.goto(`${server.url}#/timeline`);
  await page.waitForFunction(() => {
    const tl = document.querySelector('.tl');
    return tl && tl.dataset.ready === 'true' && tl.dataset.loading === 'false';
  }, null, { timeout: 600_000, polling: 10 });
  return performance.now() - server.t0;
}

let serverPid = 0, browserPid = 0;
const cpuNow = () => [procStat(serverPid).cpu, treeCpu(browserPid)];
const cpuSince = (c0) => { const c = cpuNow(); return [(c[0] - c0[0]) * 1000, (c[1] - c0[1]) * 1000]; };

// One key press: {first, answer} ms from the key to the canvas first
// redrawn and to the answer drawn, the draws it cost, and the server's and
// the browser's CPU ms.
let asked = 0; // /api/timeline requests of the page
async function step(page, key) {
  const q0 = asked;
  const d0 = await page.evaluate(() => document.querySelector('.tl').probe.draws());
  const c0 = cpuNow();
  await page.keyboard.press(key);
  await page.waitForFunction(() => window.__bench.answerAt > 0 && document.querySelector('.tl').dataset.loading === 'false', null, { timeout: 60_000, polling: 5 });
  // settle: what the step still does (call names, a late redraw) is its cost
  await sleep(60);
  const cpu = cpuSince(c0);
  const r = await page.evaluate((n) => {
    const b = window.__bench, tl = document.querySelector('.tl');
    return { answer: b.answerAt - b.keyAt, first: Math.min(b.drawnAt || Infinity, b.answerAt) - b.keyAt, draws: tl.probe.draws() - n };
  }, d0);
  return { ...r, serverCpu: cpu[0], browserCpu: cpu[1], fresh: asked > q0 };
}

async function pageReady(page, id) {
  const c0 = cpuNow();
  const r = await page.evaluate(async (view) => {
    const main = document.querySelector('main');
    const t0 = performance.now();
    await new Promise((resolve) => {
      const done = () => main.dataset.view === view && main.dataset.state !== 'loading';
      const mo = new MutationObserver(() => { if (done()) { mo.disconnect(); resolve(); } });
      mo.observe(main, { attributes: true });
      location.hash = `#/${view}`;
    });
    const ms = performance.now() - t0;
    // the frame after: what the page's first paint cost is counted
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return { ms, state: main.dataset.state };
  }, id);
  const cpu = cpuSince(c0);
  return { ...r, serverCpu: cpu[0], browserCpu: cpu[1], long: Math.max(0, ...(await drainLong(page))) };
}

const pct = (a, p) => {
  const s = [...a].filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');

async function oneRun(ctx, variant) {
  if (NO_CACHE || ctx.first) removeCache();
  const r = { variant };
  const page = await ctx.browser.newPage();
  await page.addInitScript(INIT);
  page.on('request', (q) => { if (q.url().includes('/api/timeline?')) asked++; });
  let server = await startServer(variant);
  r.serve = server.tServe;
  serverPid = server.proc.pid;
  const b0 = treeCpu(browserPid);
  r.first = await firstPaint(page, server);
  r.cpuFirst = procStat(server.proc.pid).cpu;
  r.browserCpuFirst = treeCpu(browserPid) - b0;
  await page.waitForLoadState('networkidle');
  r.longLoad = Math.max(0, ...(await drainLong(page)));

  // zoom and pan: W and S in pairs (the window comes back), A and D
  await page.mouse.move(700, 400);
  const steps = { zoom: [], pan: [] };
  for (let i = 0; i < STEPS; i++) steps.zoom.push(await step(page, ['w', 'w', 's', 's'][i % 4]));
  for (let i = 0; i < STEPS; i++) steps.zoom.push(await step(page, 'w'));
  for (let i = 0; i < STEPS; i++) steps.pan.push(await step(page, ['d', 'd', 'a', 'a'][i % 4]));
  r.steps = steps;
  r.longSteps = await drainLong(page);
  for (const id of ['threads', 'tasks', 'profiles', 'summary']) r[id] = await pageReady(page, id);
  r.back = await pageReady(page, 'timeline');
  const ps = procStat(server.proc.pid);
  r.rss = ps.VmRSS;
  r.hwm = ps.VmHWM;
  r.cpu = ps.cpu;
  await page.close();
  await stopServer(server);

  // second open of the same trace
  const page2 = await ctx.browser.newPage();
  await page2.addInitScript(INIT);
  if (NO_CACHE) removeCache();
  server = await startServer(variant);
  serverPid = server.proc.pid;
  r.serve2 = server.tServe;
  r.second = await firstPaint(page2, server);
  r.cpuSecond = procStat(server.proc.pid).cpu;
  const ps2 = procStat(server.proc.pid);
  r.rss2 = ps2.VmRSS;
  r.hwm2 = ps2.VmHWM;
  await page2.waitForLoadState('networkidle');
  r.longLoad2 = Math.max(0, ...(await drainLong(page2)));
  await page2.close();
  await stopServer(server);
  ctx.first = false;
  return r;
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
browserPid = process.pid; // its children but the server: the browser's processes
const ctx = { browser: await browser.newContext({ viewport: { width: 1440, height: 900 } }), first: true };
const runs = [];
const load0 = os.loadavg()[0];
for (let i = 0; i < RUNS; i++) for (const v of VARIANTS) runs.push(await oneRun(ctx, v));
await browser.close();

const mb = (x) => (x / 1048576).toFixed(0);
console.log(`view_bench: ${FILE} (${mb(fileBytes)} MB), ${RUNS} run(s) of ${VARIANTS.length} variant(s), ${STEPS * 2} zoom and ${STEPS} pan steps a run, load average ${load0.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`);
const med = (xs) => pct(xs, 50);
// a measure over runs: the median, and the range when there are several
const rng = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return '-';
  return s.length === 1 ? f0(s[0]) : `${f0(med(s))} (${f0(s[0])}-${f0(s[s.length - 1])})`;
};
for (const variant of VARIANTS) {
  const rs = runs.filter((r) => r.variant === variant);
  const col = (f) => rs.map(f);
  const all = (kind, f) => rs.flatMap((r) => r.steps[kind].map(f));
  const both = (f) => [...all('zoom', f), ...all('pan', f)];
  // step rows: median / p95 / max over every step of every run; CPU medians
  const stepRow = (label, xs, target) => [label, f0(med(xs)), f0(pct(xs, 95)), f0(Math.max(...xs.filter(Number.isFinite))), `${f0(med(both((x) => x.browserCpu)))} / ${f0(pct(both((x) => x.browserCpu), 95))}`, f0(med(both((x) => x.serverCpu))), target];
  const pageRow = (id, target) => [`${id[0].toUpperCase()}${id.slice(1)} page ready, ms (its longest task)`, `${rng(col((r) => r[id].ms))} (${rng(col((r) => r[id].long))})`, '', f0(Math.max(...col((r) => r[id].ms))), rng(col((r) => r[id].browserCpu)), rng(col((r) => r[id].serverCpu)), target];
  const longSteps = rs.flatMap((r) => r.longSteps);
  // steps to a new window (the page asked the server) and back to one
  // shown a moment ago (its answer kept in the page)
  const sel = (kind, fresh, f) => rs.flatMap((r) => r.steps[kind].filter((x) => x.fresh === fresh).map(f));
  const stat = (xs) => [f0(med(xs)), f0(pct(xs, 95)), f0(Math.max(...xs.filter(Number.isFinite)))];
  const cpuCell = (xs) => `${f0(med(xs))} / ${f0(pct(xs, 95))}`;
  const stepRows = [];
  for (const kind of ['zoom', 'pan']) {
    for (const fresh of [true, false]) {
      const n = sel(kind, fresh, () => 1).length;
      if (!n) continue;
      const what = `${kind} step ${fresh ? 'to a new window' : 'back to a window shown before'} (${n})`;
      stepRows.push([`${what}: key to first redraw, ms`, ...stat(sel(kind, fresh, (x) => x.first)), '', '', '']);
      stepRows.push([`${what}: key to the answer drawn, ms`, ...stat(sel(kind, fresh, (x) => x.answer)), cpuCell(sel(kind, fresh, (x) => x.browserCpu)), cpuCell(sel(kind, fresh, (x) => x.serverCpu)), '<= 50 / 100']);
    }
  }
  const rows = [
    ...stepRows,
    ['every step (zoom and pan): key to the answer drawn, ms', ...stat(both((x) => x.answer)), cpuCell(both((x) => x.browserCpu)), cpuCell(both((x) => x.serverCpu)), '<= 50 / 100'],
    ['draws per step', f0(med(both((x) => x.draws))), f0(pct(both((x) => x.draws), 95)), f0(Math.max(...both((x) => x.draws))), '', '', ''],
    ['longest task during the steps, ms', f0(med(longSteps.length ? longSteps : [0])), f0(pct(longSteps.length ? longSteps : [0], 95)), f0(Math.max(0, ...longSteps)), `${longSteps.length} long tasks`, '', '<= 100'],
    pageRow('threads', '<= 1000'),
    pageRow('tasks', '<= 1000'),
    pageRow('profiles', '<= 1000'),
    pageRow('summary', '<= 1000'),
    ['back to the timeline, ms (its longest task)', `${rng(col((r) => r.back.ms))} (${rng(col((r) => r.back.long))})`, '', '', rng(col((r) => r.back.browserCpu)), rng(col((r) => r.back.serverCpu)), ''],
    ['longest task on a page (4 pages and back), ms', rng(col((r) => Math.max(...['threads', 'tasks', 'profiles', 'summary', 'back'].map((k) => r[k].long)))), '', f0(Math.max(...rs.map((r) => Math.max(...['threads', 'tasks', 'profiles', 'summary', 'back'].map((k) => r[k].long))))), '', '', '<= 100'],
    ['longest task while the timeline first loads, ms', rng(col((r) => r.longLoad)), '', '', '', '', '<= 100'],
    ['  the same, second open', rng(col((r) => r.longLoad2)), '', '', '', '', '<= 100'],
    ['serving (port answers), ms', rng(col((r) => r.serve)), '', '', '', '', ''],
    ['start to first timeline paint, ms', rng(col((r) => r.first)), '', '', rng(col((r) => r.browserCpuFirst * 1000)), rng(col((r) => r.cpuFirst * 1000)), '<= 2000'],
    ['second open: serving, ms', rng(col((r) => r.serve2)), '', '', '', '', ''],
    ['second open: first paint, ms', rng(col((r) => r.second)), '', '', '', rng(col((r) => r.cpuSecond * 1000)), '<= 1000'],
    ['server RSS at the end / peak, x file', col((r) => `${(r.rss / fileBytes).toFixed(2)} / ${(r.hwm / fileBytes).toFixed(2)}`).join(', '), '', '', '', '', '<= 2'],
    ['second open RSS / peak, x file', col((r) => `${(r.rss2 / fileBytes).toFixed(2)} / ${(r.hwm2 / fileBytes).toFixed(2)}`).join(', '), '', '', '', '', ''],
    ['server CPU for the whole run, s', col((r) => f2(r.cpu)).join(', '), '', '', '', '', ''],
  ];
  const head = ['measure', 'median', 'p95', 'max', 'browser CPU ms (median / p95)', 'server CPU ms', 'target'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  console.log(`\npages: ${variant === 'builtin' ? 'the binary\'s own (direct)' : `${variant} (through the proxy)`}`);
  console.log(line(head));
  console.log(`|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  const bad = rs.flatMap((r) => ['threads', 'tasks', 'profiles', 'summary', 'back'].filter((k) => r[k].state !== 'ready').map((k) => `${k}: ${r[k].state}`));
  if (bad.length) console.log(`pages not ready: ${bad.join(', ')}`);
}
console.log('Pages ready and first paints: median (range) over runs; steps: over every step of every run. A step\'s CPU: the browser\'s processes and the server, from /proc (10 ms ticks).');
