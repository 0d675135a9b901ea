// cpus.test.mjs - the CPUs page (web/cpu-view.js, /api/cpus): one lane per
// CPU from the trace's context switches, in headless Chromium against the
// real `ctrace view`, on a trace of tests/progs/sched_load made with
// `ctrace run` (scheduling data needs perf_event_open: the test skips with
// the reason when the trace says it was not recorded).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, CTRACE, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf } from './harness.mjs';

const why = await viewUnavailable();
const LOAD = path.join(BUILD_DIR, 'src', 'preload', 'prog_sched_load');

describe('CPUs page', { skip: why || false }, () => {
  let dir, view, browser, page, summary;
  before(async () => {
    dir = await tempDir();
    const file = path.join(dir, 'cpus.ctrace');
    // 3 threads spinning 60 ms of CPU each on (at most) 2 CPUs
    await promisify(execFile)(CTRACE, ['run', '-o', file, '--', LOAD, 'cpu', '3', '60'], { timeout: 60_000 });
    view = await startView(file);
    summary = await (await fetch(`${view.url}api/summary`)).json();
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await view?.close();
  });

  test('lanes per CPU, the threads that ran on them, a tab of its own', async (t) => {
    if (!summary.sched || !summary.sched.recorded) {
      t.skip(`scheduling not recorded: ${summary.sched && summary.sched.reason}`);
      return;
    }
    assert.equal(summary.cpus_view, true);
    const cpus = await (await fetch(`${view.url}api/cpus?width=800`)).json();
    assert.equal(cpus.recorded, true);
    assert.ok(cpus.lanes.length >= 1, 'at least one CPU lane');
    const tids = new Set(cpus.lanes.flatMap((l) => l.spans.map((s) => s[2])));
    const workers = summary.thread_list.filter((th) => th.tid !== summary.pid).map((th) => th.tid);
    for (const w of workers) assert.ok(tids.has(w), `thread ${w} ran on some CPU`);
    await openView(page, view.url, '#/cpus');
    await page.waitForSelector('canvas.cpu-lanes');
    const labels = await page.$$eval('.cpu-labels > div', (ds) => ds.map((d) => d.textContent));
    assert.deepEqual(labels, cpus.lanes.map((l) => `CPU ${l.cpu}`));
    assert.ok(await page.$('nav a[data-view="cpus"], a[data-view="cpus"]'), 'a CPUs tab');
    // the canvas has coloured pixels where threads ran
    const painted = await page.$eval('canvas.cpu-lanes', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) n++;
      return n;
    });
    assert.ok(painted > 0, 'spans drawn');
    // a colour-blind-safe palette: one legend entry per thread that ran,
    // distinct colours while there are fewer threads than colours
    const legend = await page.$$eval('.cpu-legend-item', (items) => items.map((i) => ({ tid: Number(i.dataset.tid), pattern: i.dataset.pattern, bg: i.querySelector('.cpu-swatch').style.background })));
    assert.equal(legend.length, tids.size, JSON.stringify(legend));
    assert.equal(new Set(legend.map((l) => l.bg)).size, legend.length, 'a colour per thread');
    assert.ok(legend.every((l) => l.pattern === 'solid'));
    const looks = await page.evaluate(async () => {
      const mod = await import('/cpu-view.js');
      return [0, 8, 9, 18].map((i) => mod.threadLook(i));
    });
    assert.equal(looks[0].color, looks[2].color, 'the palette repeats after nine');
    assert.notEqual(looks[0].pattern, looks[2].pattern, 'with a pattern the second time');
    assert.notEqual(looks[2].pattern, looks[3].pattern);
    await screenshot(page, 'cpus');
    assert.deepEqual(errorsOf(page), []);
  });
});
