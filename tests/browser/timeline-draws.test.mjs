// timeline-draws.test.mjs - how often a zoom or pan step draws the
// Timeline's canvas and asks the server, in real headless Chromium against
// the real `ctrace view` of a synthetic trace (gen_trace --mix: counters,
// crowded logs, drops). The canvas's draws are counted by the view
// (root.probe.draws()). Behaviour only, no timings: a step back to a window
// shown a moment ago draws once and asks nothing; a step whose answer is
// late draws the old answer stretched, then the answer, and nothing more;
// with CPU samples, a step draws the answer once with its samples (the
// samples are not drawn again when they come). The samples are made up by
// the page's routes (gen_trace records none; a recorded trace has them only
// where perf_event_open is allowed), so the test runs everywhere.
// Screenshots: test-artifacts/draws-*.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf, probe } from './harness.mjs';

const why = await viewUnavailable();
const GEN = path.join(BUILD_DIR, 'bench', 'gen_trace');
const missing = why || (!fs.existsSync(GEN) && `${GEN} not built`);

const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('.tl');
    return r && r.dataset.ready === 'true' && r.dataset.loading === 'false';
  }, null, { timeout: 20_000 });
  await page.waitForLoadState('networkidle'); // the names on spans, the samples
  await frames(page);
}

// A `ctrace view` of a gen_trace --mix trace of `events` events on
// `nthreads` threads, and a page that logs into `asked` the timeline's
// requests; the page opens the view after `routes(page)` set its routes.
async function mixView(events, nthreads, asked, routes) {
  const v = { dir: await tempDir() };
  const file = path.join(v.dir, 'mix.ctrace');
  await promisify(execFile)(GEN, ['--mix', file, String(events), String(nthreads)], { timeout: 60_000 });
  v.server = await startView(file);
  v.browser = await launchBrowser();
  v.page = await v.browser.newPage();
  v.errors = errorsOf(v.page);
  v.page.on('request', (r) => { if (/\/api\/(timeline|counters|samples)\?/.test(r.url())) asked.push(r.url()); });
  if (routes) await routes(v.page);
  assert.equal(await openView(v.page, v.server.url, '#/timeline'), 'ready');
  await waitLoaded(v.page);
  return v;
}

// While an answer is held back: one draw so far; once released, one more
// with the answer.
async function oneDrawLateOneWithAnswer(page, d0, release) {
  await frames(page);
  assert.equal(await probe(page, 'draws'), d0 + 1, 'one draw while waiting');
  release();
  await waitLoaded(page);
  assert.equal(await probe(page, 'draws'), d0 + 2, 'and one with the answer');
}

async function closeMix(v) {
  await v?.browser?.close();
  await v?.server?.close();
  if (v?.dir) await fsp.rm(v.dir, { recursive: true, force: true });
}

if (missing && !process.env.CI) {
  test('timeline draws per step', { skip: missing }, () => {});
} else {
  describe('timeline draws per step (gen_trace --mix)', () => {
    let v, page, errors;
    const asked = [];
    before(async () => {
      v = await mixView(200000, 8, asked);
      ({ page, errors } = v);
    });
    after(() => closeMix(v));

    /** Does act(), waits until it is all drawn; resolves to {draws, asked} it cost. */
    async function step(act) {
      const d0 = await probe(page, 'draws');
      const a0 = asked.length;
      await act();
      await waitLoaded(page);
      return { draws: (await probe(page, 'draws')) - d0, asked: asked.slice(a0) };
    }

    test('a zoom step back to a window shown before draws once and asks nothing (W and S)', async () => {
      const box = await page.locator('.tl-canvas').boundingBox();
      await page.mouse.move(box.x + 200 + (box.width - 200) * 0.4, box.y + 150);
      await step(() => page.keyboard.press('w'));
      const w1 = await probe(page, 'window');
      const inStep = await step(() => page.keyboard.press('w'));
      assert.ok(inStep.asked.some((u) => u.includes('/api/timeline')), 'a new window is asked for');
      assert.ok(inStep.draws >= 1, 'and drawn');
      const back = await step(() => page.keyboard.press('s'));
      assert.deepEqual(back.asked, [], 'the window shown before is not asked again');
      assert.equal(back.draws, 1, 'one draw for the step back');
      const w = await probe(page, 'window');
      assert.ok(Math.abs(w.start_ns - w1.start_ns) < (w1.end_ns - w1.start_ns) * 1e-6 && Math.abs(w.end_ns - w1.end_ns) < (w1.end_ns - w1.start_ns) * 1e-6, 'back at the window');
      const again = await step(() => page.keyboard.press('w'));
      assert.deepEqual(again.asked, []);
      assert.equal(again.draws, 1, 'one draw for the step in again');
      // what is drawn is the answer for that window: the counters and the
      // rows are there
      const c = await probe(page, 'counts');
      assert.ok(c && c.rows >= 8, JSON.stringify(c));
      await screenshot(page, 'draws-kept-zoom', { fullPage: false });
    });

    test('a wheel notch back draws once too', async () => {
      await step(() => page.mouse.wheel(0, -100));
      const back = await step(() => page.mouse.wheel(0, 100));
      assert.deepEqual(back.asked, []);
      assert.equal(back.draws, 1);
    });

    test('a pan step back to a window shown before draws once and asks nothing (D and A)', async () => {
      const there = await step(() => page.keyboard.press('d'));
      assert.ok(there.asked.some((u) => u.includes('/api/timeline')), 'a new window is asked for');
      const back = await step(() => page.keyboard.press('a'));
      assert.deepEqual(back.asked, []);
      assert.equal(back.draws, 1, 'one draw for the pan back');
    });

    test('a late answer: the old answer is drawn stretched at once, then the answer, two draws in all', async () => {
      let release;
      const held = new Promise((r) => { release = r; });
      const handler = async (route) => { await held; await route.continue(); };
      await page.route(/\/api\/timeline\?/, handler);
      try {
        const d0 = await probe(page, 'draws');
        const w0 = await probe(page, 'window');
        await page.keyboard.press('w');
        // the window moved at once (the range label says so) ...
        await page.waitForFunction(() => document.querySelector('.tl').dataset.loading === 'true');
        const w = await probe(page, 'window');
        assert.ok(w.end_ns - w.start_ns < w0.end_ns - w0.start_ns);
        // ... and the old answer is drawn into it while the answer is late
        await page.waitForFunction((n) => document.querySelector('.tl').probe.draws() > n, d0);
        assert.equal(await page.getAttribute('.tl', 'data-loading'), 'true');
        await oneDrawLateOneWithAnswer(page, d0, release);
      } finally {
        release();
        await page.unroute(/\/api\/timeline\?/, handler);
      }
    });

    test('dear draws: a late answer\'s preview is the last image stretched at the next frame, then the answer, two draws in all', async () => {
      await probe(page, 'stretchAbove', 0); // as if a full draw were dear (a large trace)
      let release = () => {};
      const held = new Promise((r) => { release = r; });
      const handler = async (route) => { await held; await route.continue(); };
      try {
        await page.keyboard.press('0');
        await waitLoaded(page);
        const before = await page.locator('.tl-canvas').screenshot();
        const d0 = await probe(page, 'draws');
        const p0 = await probe(page, 'previews');
        const r0 = await page.textContent('.tl-range');
        await page.route(/\/api\/timeline\?/, handler);
        await page.keyboard.press('w');
        // drawn at the next frame, without waiting for any answer
        await page.waitForFunction((n) => document.querySelector('.tl').probe.draws() > n, d0);
        assert.equal(await page.getAttribute('.tl', 'data-loading'), 'true');
        assert.equal(await page.getAttribute('.tl', 'data-preview'), 'stretch');
        assert.equal(await probe(page, 'previews'), p0 + 1);
        assert.notEqual(await page.textContent('.tl-range'), r0, 'the range label is the new window\'s');
        const stretched = await page.locator('.tl-canvas').screenshot();
        assert.ok(!stretched.equals(before), 'the canvas changed');
        await screenshot(page, 'draws-stretched', { fullPage: false });
        await oneDrawLateOneWithAnswer(page, d0, release);
      } finally {
        release();
        await page.unroute(/\/api\/timeline\?/, handler);
        await probe(page, 'stretchAbove', 8);
      }
    });

    test('held W draws on every frame and asks for the window it stops at', async () => {
      const a0 = asked.length;
      const d0 = await probe(page, 'draws');
      await page.keyboard.press('0');
      await waitLoaded(page);
      const d1 = await probe(page, 'draws');
      assert.ok(d1 > d0);
      const tl0 = asked.slice(a0).filter((u) => u.includes('/api/timeline')).length;
      await page.keyboard.down('w');
      // a few frames of zooming past the hold's start, without any answer
      await page.waitForFunction((n) => document.querySelector('.tl').probe.draws() >= n + 4, d1);
      await page.keyboard.up('w');
      await waitLoaded(page);
      const tl = asked.slice(a0).filter((u) => u.includes('/api/timeline')).length - tl0;
      assert.ok(tl >= 1, 'the window is asked for once the key is up');
      assert.deepEqual(errors, []);
    });
  });

  describe('timeline draws per step with CPU samples', () => {
    let v, page, errors, threads;
    const asked = [];
    let gate = null; // when set, /api/samples answers wait for it
    before(async () => {
      v = await mixView(100000, 4, asked, async (page) => {
        // the summary says CPU samples were recorded ...
        await page.route(/\/api\/summary$/, async (route) => {
          const r = await route.fetch();
          const sum = await r.json();
          threads = sum.thread_list;
          sum.sched = { ...sum.sched, recorded: true, samples: '1000', switches: 100, lost: 0, cpu_samples: 1000, cpus: 2 };
          delete sum.sched.reason;
          await route.fulfill({ response: r, json: sum });
        });
        // ... and /api/samples gives 8 samples per thread spread over the window
        await page.route(/\/api\/samples\?/, async (route) => {
          if (gate) await gate;
          const q = new URL(route.request().url()).searchParams;
          const a = Number(q.get('start_ns')), b = Number(q.get('end_ns'));
          const want = q.get('tids') ? new Set(q.get('tids').split(',').map(Number)) : null;
          const rows = threads.filter((t) => !want || want.has(t.tid)).map((t) => ({
            tid: t.tid, instance: t.instance, n: 8, samples: Array.from({ length: 8 }, (_, i) => [Math.round(a + ((b - a) * (i + 0.5)) / 8), 0]),
          }));
          await route.fulfill({ json: { start_ns: a, end_ns: b, width: Number(q.get('width')), period_ns: 1e6, total: rows.length * 8, threads: rows } });
        });
      });
      ({ page, errors } = v);
    });
    after(() => closeMix(v));

    const counts = async () => ({ draws: await probe(page, 'draws'), previews: await probe(page, 'previews'), names: await probe(page, 'nameDraws') });

    /** A step to a new window; resolves to the draws it cost that were not previews of a late answer or redraws for call names. */
    async function newStep(key, { lateSamples = false } = {}) {
      const c0 = await counts();
      const a0 = asked.length;
      let release = () => {};
      if (lateSamples) {
        // the samples answer only once the timeline's has come
        gate = new Promise((r) => { release = r; });
        page.waitForResponse((r) => /\/api\/timeline\?/.test(r.url())).then(() => release(), () => release());
      }
      try {
        await page.keyboard.press(key);
        await waitLoaded(page);
      } finally {
        release();
        gate = null;
      }
      const c1 = await counts();
      return { draws: c1.draws - c0.draws - (c1.previews - c0.previews) - (c1.names - c0.names), asked: asked.slice(a0) };
    }

    test('a step to a new window draws once, with the window\'s samples (W, D)', async () => {
      const box = await page.locator('.tl-canvas').boundingBox();
      await page.mouse.move(box.x + 200 + (box.width - 200) * 0.4, box.y + 150);
      const tid = threads[0].tid;
      for (const key of ['w', 'd', 'w']) {
        const st = await newStep(key);
        assert.ok(st.asked.some((u) => u.includes('/api/timeline')), `${key}: the window is asked for`);
        assert.ok(st.asked.some((u) => u.includes('/api/samples')), `${key}: and its samples`);
        assert.equal(st.draws, 1, `${key}: one draw for the step`);
        const mark = await probe(page, 'findSample', tid);
        assert.ok(mark && mark.mode === 'samples', `${key}: the samples are drawn: ${JSON.stringify(mark)}`);
      }
      await screenshot(page, 'draws-samples', { fullPage: false });
    });

    test('samples answered after the timeline: still one draw, once both are in', async () => {
      const st = await newStep('w', { lateSamples: true });
      assert.ok(st.asked.some((u) => u.includes('/api/samples')));
      assert.equal(st.draws, 1);
      const w = await probe(page, 'window');
      // the samples drawn are the new window's: the middle mark is inside it
      const mark = await probe(page, 'findSample', threads[0].tid);
      assert.ok(mark, 'samples drawn');
      const back = await newStep('s');
      assert.deepEqual(back.asked, [], 'a window shown before: neither asked again');
      assert.equal(back.draws, 1);
      assert.ok(w.end_ns > w.start_ns);
      assert.deepEqual(errors, []);
    });
  });
}
