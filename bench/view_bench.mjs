// view_bench.mjs - what a user of `ctrace view` waits for, measured by
// driving the real page in headless Chromium (playwright-core from
// tests/browser/node_modules: `cd tests/browser && npm ci` once):
//
//   - start to first paint: from spawning `ctrace view` to the timeline's
//     first drawn answer (the browser is already running; it polls the port);
//   - second open: the same again, the index cache next to the trace kept;
//   - zoom and pan steps: key press (the event's timestamp) to the canvas
//     redrawn with the server's new answer, median and p95 (W, S, A, D);
//   - Threads, Tasks & regions, Blocking profiles and Summary pages: tab
//     click to the page ready (<main data-state="ready">), first visit;
//   - the longest main-thread task (PerformanceObserver 'longtask');
//   - the server's resident memory (VmRSS at the end, VmHWM the peak) and
//     CPU time, from /proc; the CPU time of each step in the server and in
//     the browser's processes (on a loaded machine the wall times stretch,
//     the CPU times do not).
//
// Usage: node bench/view_bench.mjs FILE [--build DIR] [--steps N] [--runs N]
//        [--no-cache]  (every open starts cold: the cache file is removed)
// Prints a table; never fails on a slow number (the tests assert behaviour).
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
const FILE = args[0];
if (!FILE) {
  console.error('usage: node bench/view_bench.mjs FILE [--build DIR] [--steps N] [--runs N] [--no-cache]');
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

async function startServer() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
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
  return { proc, url, t0, tServe, output };
}
async function stopServer(s) {
  s.proc.kill('SIGINT');
  await new Promise((r) => (s.proc.exitCode !== null ? r() : s.proc.once('exit', r)));
}

// In every page: the longest tasks, and when the timeline last finished
// loading and drawing (data-loading turning "false"), and the time of the
// last key press.
const INIT = () => {
  window.__bench = { longest: 0, longtasks: 0, loadedAt: 0, keyAt: 0, loads: 0 };
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        window.__bench.longtasks++;
        if (e.duration > window.__bench.longest) window.__bench.longest = e.duration;
      }
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* no longtask support */ }
  document.addEventListener('keydown', (e) => { window.__bench.keyAt = e.timeStamp; }, true);
  const watch = () => {
    const tl = document.querySelector('.tl');
    if (!tl) return false;
    new MutationObserver(() => {
      if (tl.dataset.loading === 'false') {
        window.__bench.loadedAt = performance.now();
        window.__bench.loads++;
      }
    }).observe(tl, { attributes: true, attributeFilter: ['data-loading', 'data-draw-ms'] });
    return true;
  };
  new MutationObserver((_, obs) => { if (watch()) obs.disconnect(); }).observe(document, { childList: true, subtree: true });
};

async function firstPaint(page, server) {
  await page.goto(`${server.url}#/timeline`);
  await page.waitForFunction(() => {
    const tl = document.querySelector('.tl');
    return tl && tl.dataset.ready === 'true' && tl.dataset.loading === 'false';
  }, null, { timeout: 600_000, polling: 10 });
  return performance.now() - server.t0;
}

let cpuSteps = []; // [server CPU ms, browser CPU ms] of each step
let serverPid = 0, browserPid = 0;
async function step(page, key) {
  const before = await page.evaluate(() => window.__bench.loads);
  const c0 = [procStat(serverPid).cpu, treeCpu(browserPid)];
  await page.keyboard.press(key);
  await page.waitForFunction((n) => window.__bench.loads > n && document.querySelector('.tl').dataset.loading === 'false', before, { timeout: 60_000, polling: 5 });
  // settle: a later fetch may have replaced the first answer
  await sleep(60);
  cpuSteps.push([(procStat(serverPid).cpu - c0[0]) * 1000, (treeCpu(browserPid) - c0[1]) * 1000]);
  return page.evaluate(() => (document.querySelector('.tl').dataset.loading === 'false' ? window.__bench.loadedAt - window.__bench.keyAt : NaN));
}

async function pageReady(page, id) {
  return page.evaluate(async (view) => {
    const main = document.querySelector('main');
    const t0 = performance.now();
    await new Promise((resolve) => {
      const done = () => main.dataset.view === view && main.dataset.state !== 'loading';
      const mo = new MutationObserver(() => { if (done()) { mo.disconnect(); resolve(); } });
      mo.observe(main, { attributes: true });
      location.hash = `#/${view}`;
    });
    return { ms: performance.now() - t0, state: main.dataset.state };
  }, id);
}

const pct = (a, p) => {
  const s = [...a].filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');

async function oneRun(ctx) {
  if (NO_CACHE || ctx.first) removeCache();
  const r = {};
  const page = await ctx.browser.newPage();
  await page.addInitScript(INIT);
  let server = await startServer();
  r.serve = server.tServe;
  serverPid = server.proc.pid;
  const b0 = treeCpu(browserPid);
  r.first = await firstPaint(page, server);
  r.cpuFirst = procStat(server.proc.pid).cpu;
  r.browserCpuFirst = treeCpu(browserPid) - b0;
  serverPid = server.proc.pid;
  cpuSteps = [];

  // zoom and pan: W and S in pairs (the window comes back), A and D
  await page.mouse.move(700, 400);
  const zooms = [];
  const pans = [];
  for (let i = 0; i < STEPS; i++) zooms.push(await step(page, ['w', 'w', 's', 's'][i % 4]));
  for (let i = 0; i < STEPS; i++) zooms.push(await step(page, 'w'));
  for (let i = 0; i < STEPS; i++) pans.push(await step(page, ['d', 'd', 'a', 'a'][i % 4]));
  r.zoom = zooms;
  r.pan = pans;
  r.stepServerCpu = cpuSteps.map((c) => c[0]);
  r.stepBrowserCpu = cpuSteps.map((c) => c[1]);
  for (const id of ['threads', 'tasks', 'profiles', 'summary']) r[id] = await pageReady(page, id);
  r.back = await pageReady(page, 'timeline');
  const b = await page.evaluate(() => window.__bench);
  r.longest = b.longest;
  r.longtasks = b.longtasks;
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
  server = await startServer();
  r.serve2 = server.tServe;
  r.second = await firstPaint(page2, server);
  r.cpuSecond = procStat(server.proc.pid).cpu;
  const ps2 = procStat(server.proc.pid);
  r.rss2 = ps2.VmRSS;
  r.hwm2 = ps2.VmHWM;
  r.longest2 = (await page2.evaluate(() => window.__bench)).longest;
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
for (let i = 0; i < RUNS; i++) runs.push(await oneRun(ctx));
await browser.close();

const mb = (x) => (x / 1048576).toFixed(0);
console.log(`view_bench: ${FILE} (${mb(fileBytes)} MB), ${RUNS} run(s), ${STEPS * 2} zoom and ${STEPS} pan steps a run, load average ${load0.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`);
const col = (f) => runs.map(f);
const rng = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return '-';
  const med = s[(s.length - 1) >> 1];
  return s.length === 1 ? f0(med) : `${f0(med)} (${f0(s[0])}-${f0(s[s.length - 1])})`;
};
const rows = [
  ['serving (port answers), ms', rng(col((r) => r.serve))],
  ['start to first timeline paint, ms', rng(col((r) => r.first))],
  ['  server / browser CPU until then, s', col((r) => `${f2(r.cpuFirst)} / ${f2(r.browserCpuFirst)}`).join(', ')],
  ['second open: serving, ms', rng(col((r) => r.serve2))],
  ['second open: first paint, ms', rng(col((r) => r.second))],
  ['  server CPU until then, s', col((r) => f2(r.cpuSecond)).join(', ')],
  ['zoom step median / p95, ms', `${rng(col((r) => pct(r.zoom, 50)))} / ${rng(col((r) => pct(r.zoom, 95)))}`],
  ['pan step median / p95, ms', `${rng(col((r) => pct(r.pan, 50)))} / ${rng(col((r) => pct(r.pan, 95)))}`],
  ['a step\'s CPU, server / browser, median / p95, ms', `${rng(col((r) => pct(r.stepServerCpu, 50)))} / ${rng(col((r) => pct(r.stepBrowserCpu, 50)))}, ${rng(col((r) => pct(r.stepServerCpu, 95)))} / ${rng(col((r) => pct(r.stepBrowserCpu, 95)))}`],
  ['Threads page ready, ms', rng(col((r) => r.threads.ms))],
  ['Tasks page ready, ms', rng(col((r) => r.tasks.ms))],
  ['Profiles page ready, ms', rng(col((r) => r.profiles.ms))],
  ['Summary page ready, ms', rng(col((r) => r.summary.ms))],
  ['back to the timeline, ms', rng(col((r) => r.back.ms))],
  ['longest main-thread task, ms', `${rng(col((r) => r.longest))} (${col((r) => r.longtasks).join(', ')} long tasks); second open ${rng(col((r) => r.longest2))}`],
  ['server RSS at the end / peak, x file', `${col((r) => (r.rss / fileBytes).toFixed(2)).join(', ')} / ${col((r) => (r.hwm / fileBytes).toFixed(2)).join(', ')}`],
  ['second open RSS / peak, x file', `${col((r) => (r.rss2 / fileBytes).toFixed(2)).join(', ')} / ${col((r) => (r.hwm2 / fileBytes).toFixed(2)).join(', ')}`],
  ['server CPU for the whole run, s', col((r) => f2(r.cpu)).join(', ')],
];
const w = Math.max(...rows.map((r) => r[0].length));
console.log(`| ${'measure'.padEnd(w)} | value |`);
console.log(`|${'-'.repeat(w + 2)}|-------|`);
for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
const bad = runs.flatMap((r) => ['threads', 'tasks', 'profiles', 'summary', 'back'].filter((k) => r[k].state !== 'ready').map((k) => `${k}: ${r[k].state}`));
if (bad.length) console.log(`pages not ready: ${bad.join(', ')}`);
