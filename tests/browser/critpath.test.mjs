// critpath.test.mjs - the critical path on the Timeline (web/critpath.js)
// and the Compare page of `ctrace view BEFORE AFTER` (web/compare.js), in
// headless Chromium against the real `ctrace view`, on traces made with
// `ctrace run`: tests/progs/critchain.c (a request waits on a worker, which
// waits on a lock held by a thread asleep 20 ms) and examples/http_task with
// its database at 50 and 80 ms. Screenshots: test-artifacts/critpath-*.png
// (and CTRACE_SHOTS=DIR copies them there).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, CTRACE, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf } from './harness.mjs';

const why = await viewUnavailable();
const CHAIN = path.join(BUILD_DIR, 'src', 'preload', 'prog_critchain');
const HTTP = path.join(BUILD_DIR, 'examples', 'http_task');

// Without scheduling data: the checks below name the calls of each wait
// (with it a wait's span ends at its wake-up, and a waiter whose waker is on
// the path shows only its runnable and running time).
async function traced(dir, name, argv) {
  const file = path.join(dir, name);
  await promisify(execFile)(CTRACE, ['run', '-o', file, '--', ...argv],
    { timeout: 60_000, env: { ...process.env, CTRACE_SCHED: 'off' } });
  return file;
}

async function shot(page, name) {
  const file = await screenshot(page, name);
  if (process.env.CTRACE_SHOTS) {
    await fsp.mkdir(process.env.CTRACE_SHOTS, { recursive: true });
    await fsp.copyFile(file, path.join(process.env.CTRACE_SHOTS, `${name}.png`));
  }
}

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('.tl');
    return r && r.dataset.ready === 'true' && r.dataset.loading === 'false';
  }, null, { timeout: 20_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

if (why && !process.env.CI) {
  test('critical path and compare on ctrace view', { skip: why }, () => {});
} else {
  describe('critical path on the timeline', () => {
    let dir, server, browser, page, taskId;
    before(async () => {
      dir = await tempDir();
      const file = await traced(dir, 'chain.ctrace', [CHAIN]);
      server = await startView(file);
      // task ids carry the recording process's pid (docs/FORMAT.md, "Task ids")
      const inst = await (await fetch(`${server.url}api/instances?kind=task&name=request`)).json();
      taskId = inst.instances[0].id;
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (dir) await fsp.rm(dir, { recursive: true, force: true });
    });

    test('a task\'s details draw and list its chain across three threads', async () => {
      assert.equal(await openView(page, server.url, `#/timeline?ev=task:${taskId}`), 'ready');
      await waitLoaded(page);
      await page.waitForSelector('.tl[data-details="ready"] [data-action="critpath"]', { timeout: 20_000 });
      await page.click('[data-action="critpath"]');
      await page.waitForSelector('.cp-list[data-critpath="ready"]', { timeout: 20_000 });
      const segs = await page.$$eval('.cp-seg', (ls) => ls.map((l) => ({ tid: l.dataset.tid, state: l.dataset.state, text: l.textContent })));
      // walking back from the end: the request, the worker that woke it, the
      // holder whose unlock woke the worker
      const names = await page.$$eval('.cp-seg .cp-thread', (ls) => ls.map((l) => l.textContent));
      const back = [];
      for (const n of names.reverse()) if (back[back.length - 1] !== n) back.push(n);
      assert.ok(back.length >= 3, JSON.stringify(segs));
      assert.match(back[0], /^request/);
      assert.match(back[1], /^worker/);
      assert.match(back[2], /^holder/);
      assert.ok(segs.some((s) => s.state === 'sleep' && /holder/.test(s.text)), 'the holder\'s sleep is on the path');
      assert.match(await page.textContent('.cp-summary'), /^of .*sleep on holder/);
      // drawn: the canvas has the path's colour on it
      const orange = await page.evaluate(() => {
        const c = document.querySelector('.tl-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] > 70 && d[i + 1] < 110 && d[i + 2] < 40) n++;
        return n;
      });
      assert.ok(orange > 50, `path pixels ${orange}`);
      await shot(page, 'critpath-timeline');
      // a segment zooms to it; Hide takes the drawing away
      await page.click('.cp-seg >> nth=0');
      await page.click('[data-action="critpath-hide"]');
      assert.deepEqual(errorsOf(page), []);
    });

    test('a blocked span has a critical path too', async () => {
      const spans = await (await fetch(`${server.url}api/critpath?kind=task&id=${taskId}`)).json();
      // the worker's wait on the lock, the one the holder's unlock ends (it may
      // also have waited on the condition variable, woken by the request)
      const holder = spans.segments.find((s) => s.thread === 'holder');
      const worker = spans.segments.find((s) => s.thread === 'worker' && s.state === 'sync' && holder && s.woken_by === holder.tid);
      assert.ok(worker, `the worker waits on the lock: ${JSON.stringify(spans.segments.map((s) => [s.thread, s.state, s.woken_by]))}`);
      assert.equal(await openView(page, server.url, `#/timeline?ev=span:${worker.tid}:${worker.start_ns}`), 'ready');
      await waitLoaded(page);
      await page.waitForSelector('.tl[data-details="ready"] [data-action="critpath"]', { timeout: 20_000 });
      await page.click('[data-action="critpath"]');
      await page.waitForSelector('.cp-list[data-critpath="ready"]', { timeout: 20_000 });
      // the lock's holder is on the worker's path (what comes first depends on
      // the machine: under load the holder may still wait for the request)
      const threads = await page.$$eval('.cp-seg .cp-thread', (ts) => ts.map((t) => t.textContent));
      assert.ok(threads.some((t) => /^holder/.test(t)), threads.join(', '));
      assert.deepEqual(errorsOf(page), []);
    });
  });

  describe('compare two traces', () => {
    let dir, server, browser, page;
    before(async () => {
      dir = await tempDir();
      const a = await traced(dir, 'before.ctrace', [HTTP, path.join(dir, 'x.ctrace'), '12', '50']);
      const b = await traced(dir, 'after.ctrace', [HTTP, path.join(dir, 'y.ctrace'), '12', '80']);
      server = await startView(b, [a]);
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (dir) await fsp.rm(dir, { recursive: true, force: true });
    });

    test('the Compare page shows the regression, the overlaid histograms and the threads', async () => {
      assert.equal(await openView(page, server.url, '#/compare?kind=task&name=handleRequest'), 'ready');
      assert.equal(await page.locator('#tabs a[data-view="compare"]').count(), 1);
      assert.equal(await page.getAttribute('#tabs a[data-view="compare"]', 'aria-current'), 'page');
      const sig = Number(await page.getAttribute('.cmp-verdict', 'data-significant'));
      assert.ok(sig >= 1, `significant ${sig}`);
      const row = page.locator('.cmp-table tr[data-name="handleRequest"]');
      assert.equal(await row.getAttribute('aria-selected'), 'true');
      assert.match(await row.textContent(), /slower/);
      await page.waitForSelector('.cmp-overlay[data-name="handleRequest"] svg.cmp-after', { timeout: 20_000 });
      assert.equal(await page.locator('.cmp-overlay svg').count(), 2);
      const bars = await page.$$eval('.cmp-overlay svg.cmp-after rect.bar', (rs) => rs.filter((r) => Number(r.getAttribute('height')) > 0).length);
      assert.ok(bars >= 1);
      assert.ok(Number(await page.getAttribute('.cmp-groups', 'data-groups')) >= 3);
      assert.ok(await page.locator('.cmp-groups .stacked-bar').count() >= 6);
      await shot(page, 'critpath-compare');
      // another name from the table
      await page.click('.cmp-table tr[data-name="db.query"]');
      await page.waitForSelector('.cmp-overlay[data-name="db.query"]', { timeout: 20_000 });
      assert.deepEqual(errorsOf(page), []);
    });

    test('with one trace the Compare page says how to open two', async () => {
      const one = await startView(path.join(dir, 'before.ctrace'));
      try {
        const p2 = await browser.newPage();
        assert.equal(await openView(p2, one.url, '#/compare'), 'ready');
        assert.match(await p2.textContent('main'), /ctrace view BEFORE\.ctrace AFTER\.ctrace/);
        assert.equal(await p2.locator('#tabs a[data-view="compare"]').count(), 0); // no tab with one trace
        assert.deepEqual(errorsOf(p2), []);
        await p2.close();
      } finally {
        await one.close();
      }
    });
  });
}
