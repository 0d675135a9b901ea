// cpu-profile.test.mjs - CPU samples in the viewer, in headless Chromium
// against the real `ctrace view`: the samples on a spinner's Timeline row
// (hover: its stack; click: its details), the thread's CPU flame graph (the
// Blocking profiles page, kind cpu), a task's and a range's CPU profiles,
// and the Threads page's Runnable column on an oversubscribed run (3
// spinners on at most 2 CPUs). Traces of tests/progs/sched_load made with
// `ctrace run --sample-hz 1000`; without scheduling data (perf_event_open
// refused) each test skips with the reason. Screenshots:
// test-artifacts/cpu-*.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, CTRACE, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf, probe } from './harness.mjs';

const why = await viewUnavailable();
const LOAD = path.join(BUILD_DIR, 'src', 'preload', 'prog_sched_load');

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('.tl');
    return r && r.dataset.ready === 'true' && r.dataset.loading === 'false';
  }, null, { timeout: 20_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

async function traceOf(dir, name, args) {
  const file = path.join(dir, name);
  await promisify(execFile)(CTRACE, ['run', '--sample-hz', '1000', '-o', file, '--', LOAD, ...args], { timeout: 60_000 });
  return file;
}

describe('CPU samples and profiles', { skip: why || false }, () => {
  let dir, view, paths, browser, page, summary, pathsSummary;
  const noSamples = (t, s) => {
    if (s.sched && s.sched.recorded && Number(s.sched.cpu_samples) > 0) return false;
    t.skip(`no CPU samples: ${(s.sched && s.sched.reason) || 'scheduling not recorded'}`);
    return true;
  };
  before(async () => {
    dir = await tempDir();
    // 3 threads spinning 150 ms of CPU each on (at most) 2 CPUs
    view = await startView(await traceOf(dir, 'spin.ctrace', ['cpu', '3', '150']));
    summary = await (await fetch(`${view.url}api/summary`)).json();
    // one thread in a task "paths": region a (path_a), then b (path_b)
    paths = await startView(await traceOf(dir, 'paths.ctrace', ['paths', '80']));
    pathsSummary = await (await fetch(`${paths.url}api/summary`)).json();
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await view?.close();
    await paths?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  test('samples on a spinner\'s row: hover shows the stack, click the details, then its CPU flame graph', async (t) => {
    if (noSamples(t, summary)) return;
    const spinner = summary.thread_list.find((th) => th.tid !== summary.pid).tid;
    assert.equal(await openView(page, view.url, `#/timeline?tids=${spinner}`), 'ready');
    await waitLoaded(page);
    await page.waitForFunction((tid) => document.querySelector('.tl').probe.findSample(tid), spinner, { timeout: 10_000 });
    const at = await probe(page, 'findSample', spinner);
    assert.ok(at && at.n > 50, `samples on the spinner's row: ${JSON.stringify(at)}`);
    // the whole trace at ~1000 px: 150 samples in a few hundred pixels are drawn as density
    assert.ok(['bins', 'samples'].includes(at.mode));
    await screenshot(page, 'cpu-timeline-samples', { fullPage: false });
    await page.mouse.move(at.x, at.y);
    await page.waitForFunction(() => {
      const tip = document.querySelector('.tl-tooltip');
      return tip && !tip.hidden && /CPU sample/.test(tip.textContent) && !/loading/.test(tip.textContent);
    }, null, { timeout: 10_000 });
    const tip = await page.$eval('.tl-tooltip', (e) => e.textContent);
    assert.match(tip, /burn|cpu_thread/, tip);
    await screenshot(page, 'cpu-timeline-sample-hover', { fullPage: false });
    await page.mouse.click(at.x, at.y);
    await page.waitForFunction(() => {
      const p = document.querySelector('.tl-details');
      return p && !p.hidden && /CPU sample/.test(p.querySelector('h2')?.textContent || '');
    }, null, { timeout: 10_000 });
    const stack = await page.$$eval('.tl-details .tl-stack li', (ls) => ls.map((l) => l.textContent));
    // burn, or its caller when the sample fell in the vDSO's clock_gettime
    // (no frame pointer there: the kernel's walk skips burn's frame)
    assert.ok(stack.some((s) => /burn|cpu_thread/.test(s)), stack.join('\n'));
    assert.equal((await probe(page, 'selected')).kind, 'sample');
    await page.click('.tl-details [data-action="thread-cpu-profile"]');
    await page.waitForSelector(`main#view[data-view="profiles"][data-state="ready"]`);
    await page.waitForSelector('button[data-kind="cpu"][aria-pressed="true"]');
    const flame = await page.$eval('.flame', (e) => e.textContent);
    assert.match(flame, /burn/);
    assert.match(flame, /cpu_thread/);
    assert.match(await page.$eval('.thread-filter', (e) => e.value), new RegExp(`^${spinner}$`));
    await screenshot(page, 'cpu-thread-flamegraph');
    assert.deepEqual(errorsOf(page), []);
  });

  test('Threads page: a Runnable column, non-zero for oversubscribed spinners', async (t) => {
    if (noSamples(t, summary)) return;
    assert.equal(await openView(page, view.url, '#/threads'), 'ready');
    const heads = await page.$$eval('.threads-table th', (ths) => ths.map((x) => x.textContent.trim()));
    const col = heads.findIndex((x) => /^Runnable/.test(x));
    assert.ok(col >= 0, heads.join(' | '));
    const cells = await page.$$eval('.threads-table tbody tr', (trs, c) => trs.map((tr) => tr.children[c]?.textContent || ''), col);
    const nonZero = cells.filter((c) => c && c.trim() !== '0');
    assert.ok(nonZero.length >= 2, `runnable time of the spinners: ${cells.join(' | ')}`);
    assert.ok(await page.$('[data-action="thread-cpu-profile"]'), 'a CPU profile link per thread');
    await screenshot(page, 'cpu-threads-runnable');
    assert.deepEqual(errorsOf(page), []);
  });

  test('a task\'s and a range\'s CPU profiles', async (t) => {
    if (noSamples(t, pathsSummary)) return;
    // the Tasks page: the task's instance links to its CPU profile
    assert.equal(await openView(page, paths.url, '#/tasks?kind=task&name=paths'), 'ready');
    await page.waitForSelector('[data-action="instance-cpu-profile"]', { timeout: 10_000 });
    await page.click('[data-action="instance-cpu-profile"]');
    await page.waitForSelector('main#view[data-view="profiles"][data-state="ready"]');
    await page.waitForSelector('[data-scope="task"]');
    const flame = await page.$eval('.flame', (e) => e.textContent);
    assert.match(flame, /path_a/);
    assert.match(flame, /path_b/);
    await screenshot(page, 'cpu-task-flamegraph');
    // a range on the Timeline: its panel opens the range's CPU profile
    const worker = pathsSummary.thread_list.find((th) => th.tid !== pathsSummary.pid);
    const mid = Math.round((worker.first_ns + worker.last_ns) / 2);
    assert.equal(await openView(page, paths.url, `#/timeline?tids=${worker.tid}&start_ns=${worker.first_ns}&end_ns=${worker.last_ns}`), 'ready');
    await waitLoaded(page);
    const box = await probe(page, 'rowBox', worker.tid);
    const canvas = await page.$eval('.tl-canvas', (c) => { const r = c.getBoundingClientRect(); return { left: r.left, right: r.right }; });
    const y = (box.stripTop + box.stripBottom) / 2;
    await page.keyboard.down('Shift');
    await page.mouse.move(canvas.left + 300, y);
    await page.mouse.down();
    await page.mouse.move(canvas.right - 40, y, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    await page.waitForSelector('[data-action="range-cpu-profile"]', { timeout: 10_000 });
    await page.click('[data-action="range-cpu-profile"]');
    await page.waitForSelector('main#view[data-view="profiles"][data-state="ready"]');
    await page.waitForSelector('button[data-kind="cpu"][aria-pressed="true"]');
    assert.ok(mid > 0);
    assert.match(await page.$eval('.profile-body', (e) => e.textContent), /On the CPU/);
    assert.deepEqual(errorsOf(page), []);
  });
});
