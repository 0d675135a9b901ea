// timeline.test.mjs - the Timeline view (web/timeline.js) in real headless
// Chromium against the real `ctrace view`: on a trace of examples/http_task
// (threads, tasks, regions, logs, thread creations) and on a synthetic trace
// from bench/gen_trace (blocked spans, wake-ups), until `ctrace run` records
// real blocking. Screenshots: test-artifacts/timeline-*.png.
// The canvas is probed through the view's root element (.tl).probe, which
// says where things are drawn.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, CTRACE, makeHttpTaskTrace, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf, probe } from './harness.mjs';

const why = await viewUnavailable();
const GEN = path.join(BUILD_DIR, 'bench', 'gen_trace');
const CONTEND = path.join(BUILD_DIR, 'src', 'preload', 'prog_mutex_contend');

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('.tl');
    return r && r.dataset.ready === 'true' && r.dataset.loading === 'false';
  }, null, { timeout: 20_000 });
  // let the canvas paint
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}


if (why && !process.env.CI) {
  test('timeline on ctrace view', { skip: why }, () => {});
} else {
  describe('timeline (http_task trace)', () => {
    let trace, server, browser, page;
    before(async () => {
      trace = await makeHttpTaskTrace(3);
      server = await startView(trace.file);
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (trace) await fsp.rm(trace.dir, { recursive: true, force: true });
    });

    test('shows a row per thread, grouped by process, and the tasks', async () => {
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
      const rows = await page.$$eval('.tl-sr li', (ls) => ls.map((l) => l.textContent));
      assert.equal(rows.length, 5, rows.join('\n'));
      assert.match(rows[0], /^main \d+ \(process \d+\)$/);
      assert.match(rows[1], /^acceptor /);
      assert.equal(rows.filter((r) => r.startsWith('handler ')).length, 3);
      const counts = await probe(page, 'counts');
      assert.equal(counts.rows, 5);
      assert.ok(counts.tasks >= 6, `tasks ${counts.tasks}`);
      assert.equal(counts.creates, 4);
      assert.ok(await probe(page, 'findTask', 'handleRequest'), 'a handleRequest task is drawn');
      assert.ok(await probe(page, 'findRegion', 'db.query'), 'a db.query region is drawn');
      await screenshot(page, 'timeline-http-overview');
      assert.deepEqual(errorsOf(page), []);
      assert.deepEqual(browser.external, []);
    });

    test('W zooms in, S zooms out, 0 resets, A/D pan', async () => {
      const full = await probe(page, 'window');
      await page.focus('.tl-canvas');
      await page.keyboard.press('w');
      await page.keyboard.press('w');
      const zoomed = await probe(page, 'window');
      assert.ok(zoomed.end_ns - zoomed.start_ns < (full.end_ns - full.start_ns) * 0.6, JSON.stringify({ full, zoomed }));
      await page.keyboard.press('d');
      const panned = await probe(page, 'window');
      assert.ok(panned.start_ns > zoomed.start_ns, 'D pans right');
      await page.keyboard.press('a');
      await page.keyboard.press('s');
      const out = await probe(page, 'window');
      assert.ok(out.end_ns - out.start_ns > zoomed.end_ns - zoomed.start_ns);
      await page.keyboard.press('0');
      const reset = await probe(page, 'window');
      assert.equal(Math.round(reset.start_ns), Math.round(full.start_ns));
      assert.equal(Math.round(reset.end_ns), Math.round(full.end_ns));
      await waitLoaded(page);
    });

    test('the mouse wheel zooms and shift-drag selects a range to zoom to', async () => {
      const box = await page.locator('.tl-canvas').boundingBox();
      const before0 = await probe(page, 'window');
      await page.mouse.move(box.x + box.width * 0.6, box.y + 60);
      await page.mouse.wheel(0, -400);
      await page.waitForTimeout(100);
      const after0 = await probe(page, 'window');
      assert.ok(after0.end_ns - after0.start_ns < before0.end_ns - before0.start_ns, 'wheel up zooms in');
      await page.keyboard.press('0');
      await page.keyboard.down('Shift');
      await page.mouse.move(box.x + 300, box.y + 100);
      await page.mouse.down();
      await page.mouse.move(box.x + 500, box.y + 110, { steps: 5 });
      await page.mouse.up();
      await page.keyboard.up('Shift');
      assert.equal(await page.isDisabled('[data-action="zoom-selection"]'), false);
      await screenshot(page, 'timeline-http-selection');
      await page.click('[data-action="zoom-selection"]');
      const sel = await probe(page, 'window');
      const full = before0.end_ns - before0.start_ns;
      assert.ok(sel.end_ns - sel.start_ns < full / 3, 'zoomed to the selection');
      await page.keyboard.press('0');
      await waitLoaded(page);
    });

    test('clicking a task opens its details with its threads and time', async () => {
      const t = await probe(page, 'findTask', 'handleRequest');
      assert.ok(t);
      await page.mouse.click(t.x, t.y);
      await page.waitForSelector('.tl[data-details="ready"]');
      const head = await page.textContent('.tl-details h2');
      assert.equal(head, 'Task handleRequest');
      const text = await page.textContent('.tl-details');
      assert.match(text, /Duration/);
      assert.match(text, /handler \(\d+\)/);
      await screenshot(page, 'timeline-http-task');
    });

    test('clicking a region shows its name, task and duration', async () => {
      const r = await probe(page, 'findRegion', 'db.query');
      await page.mouse.click(r.x, r.y);
      await page.waitForFunction(() => document.querySelector('.tl-details h2')?.textContent === 'Region db.query');
      const text = await page.textContent('.tl-details');
      assert.match(text, /Task\s*\d+/);
      assert.match(text, /ms/);
    });

    test('clicking where a thread was created shows the creator, the new thread and the stack', async () => {
      const c = await probe(page, 'findCreate');
      assert.ok(c, 'a creation arrow is drawn');
      await page.mouse.click(c.x, c.y);
      await page.waitForFunction(() => document.querySelector('.tl-details h2')?.textContent === 'Thread created');
      const text = await page.textContent('.tl-details');
      assert.match(text, new RegExp(`Created.*\\(${c.child}\\)`));
      assert.match(await page.textContent('.tl-stack'), /ctrace_pthread_create|main|serve/);
      await screenshot(page, 'timeline-http-create');
    });

    test('parameters from other views set the window and highlight threads', async () => {
      const rows = await page.$$eval('.tl-sr li', (ls) => ls.map((l) => Number(l.dataset.tid)));
      const tid = rows[2];
      await openView(page, server.url, `#/timeline?start_ns=1000000&end_ns=30000000&tids=${tid}`);
      await waitLoaded(page);
      const w = await probe(page, 'window');
      assert.equal(Math.round(w.start_ns), 1000000);
      assert.equal(Math.round(w.end_ns), 30000000);
      await screenshot(page, 'timeline-http-params');
      assert.deepEqual(errorsOf(page), []);
    });
  });

  describe('timeline (synthetic trace with blocking and wake-ups)', () => {
    let dir, server, browser, page;
    before(async () => {
      if (!fs.existsSync(GEN)) return;
      dir = await tempDir();
      const file = path.join(dir, 'gen.ctrace');
      await promisify(execFile)(GEN, [file, '4000', '3'], { timeout: 60_000 });
      server = await startView(file);
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (dir) await fsp.rm(dir, { recursive: true, force: true });
    });

    test('a blocked span shows its stack, and one click goes to the waker', { skip: !fs.existsSync(GEN) && `${GEN} not built` }, async () => {
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
      await screenshot(page, 'timeline-gen-overview');
      // zoom in until single blocked spans are wide enough to click
      const full = await probe(page, 'window');
      const mid = Math.round((full.start_ns + full.end_ns) / 2);
      await openView(page, server.url, `#/timeline?start_ns=${mid - 1500000}&end_ns=${mid + 1500000}`);
      await waitLoaded(page);
      const s = await probe(page, 'findSpan', 'sync');
      assert.ok(s, 'a sync-blocked span is visible');
      await page.mouse.click(s.x, s.y);
      await page.waitForSelector('.tl[data-details="ready"]');
      assert.match(await page.textContent('.tl-details h2'), /^Blocked on mutex/);
      const frames = await page.$$eval('.tl-stack li', (ls) => ls.length);
      assert.ok(frames >= 1, 'the stack has frames');
      assert.match(await page.textContent('.tl-stack'), /stack_at|work/);
      await screenshot(page, 'timeline-gen-blocked');
      await page.click('[data-action="go-waker"]');
      await page.waitForFunction(() => document.querySelector('.tl-details h2')?.textContent === 'Wake-up');
      assert.match(await page.textContent('.tl-details'), /Woke/);
      await waitLoaded(page);
      await screenshot(page, 'timeline-gen-waker');
      const io = await probe(page, 'findSpan', 'io');
      if (io) {
        await page.mouse.move(io.x, io.y);
        await page.waitForSelector('.tl-tooltip:not([hidden])');
        assert.match(await page.textContent('.tl-tooltip'), /File I\/O/);
        await screenshot(page, 'timeline-gen-tooltip');
      }
      assert.deepEqual(errorsOf(page), []);
    });
  });

  describe('timeline (ctrace run of a contended mutex)', () => {
    let dir, server, browser, page;
    const missing = !fs.existsSync(CONTEND) && `${CONTEND} not built`;
    before(async () => {
      if (missing) return;
      dir = await tempDir();
      const file = path.join(dir, 'run.ctrace');
      await promisify(execFile)(CTRACE, ['run', '-o', file, '--', CONTEND], { timeout: 60_000 });
      server = await startView(file);
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (dir) await fsp.rm(dir, { recursive: true, force: true });
    });

    test('real blocking: a mutex wait with its stack, the join of main, the waker', { skip: missing }, async () => {
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
      const rows = await page.$$eval('.tl-sr li', (ls) => ls.map((l) => l.textContent));
      assert.match(rows[0], /^prog_mutex_contend \d+/, 'the unnamed main thread goes by its program');
      assert.equal(rows.length, 5);
      // main waits for its threads: one long sync span (join)
      const rowsTid = await page.$$eval('.tl-sr li', (ls) => ls.map((l) => Number(l.dataset.tid)));
      const join = await probe(page, 'findSpan', 'sync', rowsTid[0]);
      assert.ok(join, 'main blocked in join');
      await page.mouse.click(join.x, join.y);
      await page.waitForSelector('.tl[data-details="ready"]');
      assert.equal(await page.textContent('.tl-details h2'), 'Blocked on join');
      assert.match(await page.textContent('.tl-stack'), /main/);
      await screenshot(page, 'timeline-run-join');
      // zoom into the workers until a single mutex wait is clickable, then go to its waker
      let found = null;
      for (let i = 0; i < 8 && !found; i++) {
        // the barrier at the start is sync too: try several sync spans of
        // each worker for a mutex wait that a wake-up ended
        for (const tid of rowsTid.slice(1)) {
          for (let nth = 0; nth < 4 && !found; nth++) {
            const s = await probe(page, 'findSpan', 'sync', tid, nth);
            if (!s) break;
            await page.mouse.click(s.x, s.y);
            await page.waitForSelector('.tl[data-details="ready"]');
            if ((await page.$('[data-action="go-waker"]')) &&
                (await page.textContent('.tl-details h2')) === 'Blocked on mutex') {
              found = s;
            }
          }
          if (found) break;
        }
        if (!found) {
          await page.focus('.tl-canvas');
          await page.keyboard.press('w');
          await waitLoaded(page);
        }
      }
      assert.ok(found, 'a mutex wait that a wake-up ended');
      assert.equal(await page.textContent('.tl-details h2'), 'Blocked on mutex');
      await screenshot(page, 'timeline-run-mutex');
      await page.click('[data-action="go-waker"]');
      await page.waitForFunction(() => document.querySelector('.tl-details h2')?.textContent === 'Wake-up');
      assert.match(await page.textContent('.tl-details'), /MUTEX/);
      await screenshot(page, 'timeline-run-waker');
      assert.deepEqual(errorsOf(page), []);
    });
  });
}
