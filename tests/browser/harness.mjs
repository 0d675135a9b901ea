// harness.mjs - what every browser test of the ctrace viewer needs, and
// nothing more: make the http_task example's trace, start a server (the real
// `ctrace view` or the mock), open headless Debian Chromium on it, take
// screenshots, and close everything. It builds nothing: the C build must
// exist in CTRACE_BUILD_DIR (default: build, relative to the repository).
// See README.md beside this file for how to use it.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { startMock } from './mock-server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const BUILD_DIR = path.resolve(REPO, process.env.CTRACE_BUILD_DIR || 'build');
export const CTRACE = path.join(BUILD_DIR, 'ctrace');
export const ARTIFACTS = path.join(HERE, 'test-artifacts');
export const CHROMIUM = process.env.CTRACE_CHROMIUM || '/usr/bin/chromium';

// Generous: the test machine has 2 cores shared with other jobs.
const SERVER_START_MS = 60_000;

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(prefix = 'ctrace-browser-') {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Why the real server cannot be used, or null when BUILD/ctrace exists and has `view`. */
export async function viewUnavailable() {
  if (!fs.existsSync(CTRACE)) return `${CTRACE} does not exist (build first, or set CTRACE_BUILD_DIR)`;
  try {
    await promisify(execFile)(CTRACE, ['view', '--help'], { timeout: 10_000 });
    return null;
  } catch (e) {
    return `${CTRACE} has no working "view" subcommand (${(e.stderr || e.message).toString().trim().split('\n')[0]})`;
  }
}

/**
 * Record a trace of examples/http_task serving `requests` requests into a
 * temporary directory. Resolves to {file, dir}. Nothing is built.
 */
export async function makeHttpTaskTrace(requests = 3) {
  const exe = path.join(BUILD_DIR, 'examples', 'http_task');
  if (!fs.existsSync(exe)) throw new Error(`${exe} does not exist: build ctrace first (meson/ninja), or set CTRACE_BUILD_DIR`);
  const dir = await tempDir();
  const file = path.join(dir, 'http_task.ctrace');
  // Without scheduling data (CTRACE_SCHED=off): the checks here expect the
  // states of a trace made with the API alone (running between events).
  await promisify(execFile)(exe, [file, String(requests)],
    { timeout: 60_000, env: { ...process.env, CTRACE_SCHED: 'off' } });
  return { file, dir };
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

async function waitForHttp(url, proc, output) {
  const deadline = Date.now() + SERVER_START_MS;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`ctrace view exited (${proc.exitCode ?? proc.signalCode}) before serving:\n${output.join('')}`);
    }
    try {
      const r = await fetch(`${url}api/summary`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`ctrace view did not answer at ${url} within ${SERVER_START_MS} ms:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Start `BUILD/ctrace view --no-browser --addr 127.0.0.1:PORT TRACE` and wait
 * until it answers /api/summary. Resolves to {url, output, close()}; output
 * collects its stdout+stderr (shown when it fails to start).
 */
export async function startView(traceFile, extraArgs = []) {
  const port = await freePort();
  const args = ['view', '--no-browser', '--addr', `127.0.0.1:${port}`, ...extraArgs, traceFile];
  const proc = spawn(CTRACE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  const output = [];
  proc.stdout.on('data', (d) => output.push(d.toString()));
  proc.stderr.on('data', (d) => output.push(d.toString()));
  const url = `http://127.0.0.1:${port}/`;
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    children.delete(proc);
  };
  try {
    await waitForHttp(url, proc, output);
  } catch (e) {
    await close();
    throw e;
  }
  return { url, output, close, kind: 'ctrace view' };
}

/** Start the mock server (mock-server.mjs) with canned data. Resolves to {url, close()}. */
export async function startMockServer(opts = {}) {
  const m = await startMock(opts);
  return { ...m, output: [], kind: 'mock' };
}

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const pageErrors = new WeakMap();

/** The page errors and console errors of one page (see launchBrowser). */
/** Calls the timeline view's test probe fn (web/timeline.js: findSpan, findTask, ...) in the page. */
export function probe(page, fn, ...args) {
  return page.evaluate(([f, a]) => document.querySelector('.tl').probe[f](...a), [fn, args]);
}

export function errorsOf(page) {
  return pageErrors.get(page) || [];
}

/**
 * Launch headless Chromium with a fresh profile. Every request that does not
 * go to 127.0.0.1 is blocked and recorded in `external` (the viewer must
 * need no network); page errors and console errors go to `errors` (all
 * pages) and to errorsOf(page).
 * Resolves to {context, newPage(), errors, external, close()}.
 */
export async function launchBrowser({ width = 1440, height = 900 } = {}) {
  const profile = await tempDir('ctrace-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width, height },
    acceptDownloads: true,
  });
  const errors = [];
  const external = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || u.hostname === '127.0.0.1') return route.continue();
    external.push(u.href);
    return route.abort();
  });
  const watch = (page) => {
    const mine = [];
    pageErrors.set(page, mine);
    const add = (text) => {
      errors.push(text);
      mine.push(text);
    };
    page.on('pageerror', (e) => add(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') add(`console: ${m.text()}${m.location().url ? ` (${m.location().url})` : ''}`);
    });
  };
  context.on('page', watch);
  for (const p of context.pages()) watch(p);
  return {
    context,
    errors,
    external,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      await fsp.rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Open the viewer at url + hash (e.g. '#/threads') and wait until the shown
 * view has finished mounting (<main data-state="ready">; "error" fails).
 */
export async function openView(page, baseUrl, hash = '') {
  await page.goto(`${baseUrl}${hash}`);
  return waitForView(page, hash.replace(/^#\/?/, '').split('?')[0] || undefined);
}

/** Wait until <main> shows viewId (if given) in a settled state; resolves to that state. */
export async function waitForView(page, viewId, { timeout = 30_000 } = {}) {
  const sel = viewId ? `main#view[data-view="${viewId}"]:not([data-state="loading"])` : 'main#view:not([data-state="loading"])';
  await page.waitForSelector(sel, { timeout });
  return page.getAttribute('main#view', 'data-state');
}

/** Save a screenshot (full page unless fullPage: false) as test-artifacts/NAME.png; resolves to its path. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  await fsp.mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
