// viewperf.test.mjs - the viewer on big traces: the Timeline's search pages
// through more matches than one answer holds (real `ctrace view` on a
// gen_trace --mix trace with ~6,700 "request" tasks); "Open as profile" of
// a range on two threads opens the profiles of those two; W/S held zoom on
// smoothly; 200 thread creations collapse into a bundle; the Tasks & regions
// page counts the tasks and regions that never ended (left out of its
// latencies, as /api/tasks' "unended" says; mock server).
// Screenshots: test-artifacts/viewperf-*.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BUILD_DIR, tempDir, startView, startMockServer, launchBrowser, openView, screenshot, errorsOf, probe, viewUnavailable } from './harness.mjs';
import { makeMockData } from './mock-data.mjs';

const why = await viewUnavailable();
const GEN = path.join(BUILD_DIR, 'bench', 'gen_trace');

if (why && !process.env.CI) {
  test('search paging on ctrace view', { skip: why }, () => {});
} else {
  describe('search beyond one page of matches', () => {
    let dir, server, browser, page;
    before(async () => {
      dir = await tempDir();
      const file = path.join(dir, 'mix.ctrace');
      if (!fs.existsSync(GEN)) throw new Error(`${GEN} not built`);
      await promisify(execFile)(GEN, ['--mix', file, '100000', '4'], { timeout: 120_000 });
      server = await startView(file);
      browser = await launchBrowser();
      page = await browser.newPage();
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (dir) await fsp.rm(dir, { recursive: true, force: true });
    });

    test('N of M: the first page, then "more" and stepping past the last loaded match load the rest', async () => {
      const all = await (await fetch(`${server.url}api/search?q=request&limit=100000`)).json();
      assert.ok(all.total > 5000, `want more than a page of matches, have ${all.total}`);
      await page.keyboard.press('/');
      await page.fill('[data-action="search"]', 'request');
      await page.waitForFunction(() => document.querySelector('.tl')?.dataset.search === 'ready', null, { timeout: 30_000 });
      let st = await probe(page, 'search');
      assert.equal(st.total, all.total);
      assert.equal(st.loaded, 5000);
      assert.ok(st.next, 'a token for the next page');
      assert.match(await page.textContent('.tl-search-count'), /^[\d,]+ matches \(5,000 loaded\)$/);
      assert.equal(await page.isVisible('[data-action="search-more"]'), true);
      await screenshot(page, 'viewperf-search-first-page', { fullPage: false });
      // "more": the next page, appended, in order, without repeats
      await page.click('[data-action="search-more"]');
      await page.waitForFunction(() => document.querySelector('.tl').probe.search().loaded > 5000, null, { timeout: 30_000 });
      st = await probe(page, 'search');
      assert.equal(st.loaded, Math.min(all.total, 10000));
      const loaded = await page.evaluate(() => document.querySelector('.tl').probe.searchMatches());
      assert.deepEqual(loaded, all.matches.slice(0, loaded.length).map((x) => `${x.kind}:${x.start_ns}:${x.tid}`));
      if (all.total <= 10000) {
        assert.equal(st.next, null);
        assert.equal(await page.isVisible('[data-action="search-more"]'), false);
        assert.match(await page.textContent('.tl-search-count'), /^[\d,]+ matches$/);
      }
      await screenshot(page, 'viewperf-search-all-loaded', { fullPage: false });
      assert.deepEqual(errorsOf(page), []);
    });

    test('"Open as profile" of a range on two threads: the profiles page sums those two', async () => {
      const sum = await (await fetch(`${server.url}api/summary`)).json();
      const workers = sum.thread_list.filter((t) => t.name.startsWith('worker')).slice(0, 2).map((t) => t.tid);
      assert.equal(workers.length, 2);
      const a0 = sum.start_ns, b0 = sum.start_ns + Math.round((sum.end_ns - sum.start_ns) / 5);
      await page.fill('[data-action="search"]', '');
      await page.evaluate(([t, a, b]) => { location.hash = `#/timeline?start_ns=${a}&end_ns=${b}&tids=${t}`; }, [workers.join(','), a0, b0]);
      await page.waitForFunction(() => { const r = document.querySelector('.tl'); return r && r.dataset.ready === 'true' && r.dataset.loading === 'false'; }, null, { timeout: 30_000 });
      await page.keyboard.press('Escape');
      const box = await page.locator('.tl-canvas').boundingBox();
      await page.keyboard.down('Shift');
      await page.mouse.move(box.x + 250, box.y + 300);
      await page.mouse.down();
      await page.mouse.move(box.x + 700, box.y + 300);
      await page.mouse.up();
      await page.keyboard.up('Shift');
      await page.waitForFunction(() => document.querySelectorAll('.tl-range-threads tbody tr').length === 2 && document.querySelector('.tl').dataset.details === 'ready', null, { timeout: 30_000 });
      const a = Number(await page.getAttribute('.tl-details', 'data-start'));
      const b = Number(await page.getAttribute('.tl-details', 'data-end'));
      const asked = [];
      page.on('request', (r) => { if (r.url().includes('/api/profile')) asked.push(new URL(r.url())); });
      await page.click('[data-action="range-profile"]');
      await page.waitForSelector('main#view[data-view="profiles"]:not([data-state="loading"])', { timeout: 30_000 });
      const p = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
      assert.equal(p.get('tids'), workers.join(','));
      assert.equal(p.get('tid'), null);
      assert.equal(Number(p.get('start_ns')), a);
      assert.equal(Number(p.get('end_ns')), b);
      assert.ok(asked.length > 0 && asked.every((u) => u.searchParams.get('tids') === workers.join(',')), asked.map(String).join(' '));
      assert.equal(await page.locator('select.thread-filter option:checked').textContent(), '2 threads (the selection)');
      // the server's profile of the two is the sum of theirs
      for (const kind of ['sync', 'net', 'syscall', 'poll', 'sleep']) {
        const q = `kind=${kind}&start_ns=${a}&end_ns=${b}`;
        const both = await (await fetch(`${server.url}api/profile?${q}&tids=${workers.join(',')}`)).json();
        const each = await Promise.all(workers.map(async (t) => (await fetch(`${server.url}api/profile?${q}&tid=${t}`)).json()));
        assert.equal(both.total_ns, each[0].total_ns + each[1].total_ns, kind);
      }
      await screenshot(page, 'viewperf-profile-two-threads', { fullPage: false });
      assert.deepEqual(errorsOf(page), []);
    });

    test('W held zooms in smoothly, on and on, until released; S held zooms out', async () => {
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await page.waitForFunction(() => document.querySelector('.tl')?.dataset.ready === 'true', null, { timeout: 30_000 });
      await page.mouse.move(10, 10); // no pointer over the plot: zoom at the centre
      const span = () => page.evaluate(() => { const w = document.querySelector('.tl').probe.window(); return w.end_ns - w.start_ns; });
      const w0 = await span();
      await page.keyboard.down('w');
      // far beyond what one press does (1.4x), and beyond what auto-repeat at
      // that step would reach in the same frames: the held zoom accelerates
      await page.waitForFunction((w) => { const x = document.querySelector('.tl').probe.window(); return x.end_ns - x.start_ns < w / 40; }, w0, { timeout: 30_000, polling: 'raf' });
      await page.keyboard.up('w');
      const w1 = await span();
      // released: it stops where it was
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => requestAnimationFrame(r)))));
      const w2 = await span();
      assert.equal(w2, w1);
      assert.ok(w1 < w0 / 40);
      await page.waitForFunction(() => document.querySelector('.tl').dataset.loading === 'false', null, { timeout: 30_000 });
      await screenshot(page, 'viewperf-zoom-held', { fullPage: false });
      await page.keyboard.down('s');
      await page.waitForFunction((w) => { const x = document.querySelector('.tl').probe.window(); return x.end_ns - x.start_ns > w / 2; }, w0, { timeout: 30_000, polling: 'raf' });
      await page.keyboard.up('s');
      // one press: one step of 1.4x
      const w3 = await span();
      await page.keyboard.press('w');
      const w4 = await span();
      assert.ok(Math.abs(w4 / w3 - 0.7) < 0.05 || w3 >= w0, `one press: ${w4 / w3}`);
      assert.deepEqual(errorsOf(page), []);
    });

    test('stepping past the last loaded match loads the next page and lands on its first match', async () => {
      if (!(await page.locator('[data-action="search"]').count())) assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await page.fill('[data-action="search"]', '');
      await page.fill('[data-action="search"]', 'request');
      await page.waitForFunction(() => document.querySelector('.tl')?.dataset.search === 'ready' && document.querySelector('.tl').probe.search()?.loaded === 5000, null, { timeout: 30_000 });
      // on the last loaded match, then one step further
      await page.evaluate(() => document.querySelector('.tl').probe.searchGoTo(4999));
      await page.click('[data-action="search-next"]');
      await page.waitForFunction(() => document.querySelector('.tl').probe.search().index === 5000, null, { timeout: 30_000 });
      const st = await probe(page, 'search');
      assert.ok(st.loaded > 5000);
      assert.match(st.label, /^5,001 of [\d,]+ matches/);
      await screenshot(page, 'viewperf-search-5001', { fullPage: false });
    });
  });
}

describe('tasks that never ended', () => {
  let server, browser, page;
  before(async () => {
    const data = makeMockData();
    data.tasks = {
      ...data.tasks,
      tasks: data.tasks.tasks.map((t) => (t.name === 'handleRequest' ? { ...t, unended: 2 } : { ...t, unended: 0 })),
      regions: data.tasks.regions.map((r) => ({ ...r, unended: 0 })),
      unended: { tasks: 2, regions: 5 },
    };
    server = await startMockServer({ data });
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the page says how many were left out, in all and per name', async () => {
    assert.equal(await openView(page, server.url, '#/tasks?kind=task&name=handleRequest'), 'ready');
    const note = page.locator('.unended-note');
    await note.waitFor();
    assert.match(await note.textContent(), /2 tasks and 5 regions never ended/);
    assert.match(await note.textContent(), /left out of these statistics/);
    assert.equal(await note.getAttribute('data-regions'), '5');
    // the shown name's numbers say how many of its instances are not in them
    const stats = page.locator('.detail-panel');
    await stats.getByText('Never ended').waitFor();
    assert.match(await stats.textContent(), /Never ended\s*2 \(left out\)/);
    await screenshot(page, 'viewperf-tasks-unended');
    assert.deepEqual(errorsOf(page), []);
  });

  test('no note when everything ended', async () => {
    const data = makeMockData();
    const plain = await startMockServer({ data });
    const p2 = await browser.newPage();
    try {
      assert.equal(await openView(p2, plain.url, '#/tasks'), 'ready');
      assert.equal(await p2.locator('.unended-note').count(), 0);
      assert.equal(await p2.locator('.detail-panel').getByText('Never ended').count(), 0);
    } finally {
      await p2.close();
      await plain.close();
    }
  });
});

if (!why || process.env.CI) {
  describe('many thread creations (gen_trace --mix, 200 workers)', () => {
    let dir, server, browser, page;
    before(async () => {
      dir = await tempDir();
      const file = path.join(dir, 'many.ctrace');
      await promisify(execFile)(GEN, ['--mix', file, '20000', '200'], { timeout: 120_000 });
      server = await startView(file);
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (dir) await fsp.rm(dir, { recursive: true, force: true });
    });

    test('200 creations by one thread collapse into a few counted bundles at full view; the toggle hides them', async () => {
      const sum = await (await fetch(`${server.url}api/summary`)).json();
      const main = sum.thread_list[0].tid;
      const created = sum.thread_list.filter((t) => t.created_by === main).length;
      assert.ok(created >= 200, `${created} threads created by main`);
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await page.waitForFunction(() => { const r = document.querySelector('.tl'); return r?.dataset.ready === 'true' && r.dataset.loading === 'false'; }, null, { timeout: 30_000 });
      const c = await probe(page, 'creations');
      assert.equal(c.creates, 0, 'not one arrow each');
      // far fewer arrows than creations (how many runs depends on how the
      // creations spread in time, which a loaded machine changes)
      assert.ok(c.bundles.length >= 1 && c.bundles.length <= created / 4, JSON.stringify(c.bundles));
      assert.ok(c.bundles.every((b) => b.parent === main));
      assert.equal(c.bundles.reduce((s, b) => s + b.n, 0), created);
      await screenshot(page, 'viewperf-creation-bundle', { fullPage: false });
      await page.uncheck('text=Creation arrows');
      assert.deepEqual(await probe(page, 'creations'), { creates: 0, bundles: [] });
      await page.check('text=Creation arrows');
      assert.ok((await probe(page, 'creations')).bundles.length >= 1);
      assert.deepEqual(errorsOf(page), []);
    });
  });
}

test('holdZoomRate: a held key starts slow for control, speeds up smoothly, and saturates', async () => {
  const { holdZoomRate, HOLD_DELAY_MS } = await import('../../web/timeline-input.js');
  assert.ok(HOLD_DELAY_MS > 0 && HOLD_DELAY_MS < 500);
  let prev = holdZoomRate(0);
  for (let ms = 0; ms <= 2000; ms += 50) {
    const r = holdZoomRate(ms);
    assert.ok(r >= prev, `rate never falls (${ms} ms)`);
    assert.ok(r - prev < 1, `no jump (${ms} ms)`);
    prev = r;
  }
  assert.ok(holdZoomRate(1000) >= 4 * holdZoomRate(0));
  assert.equal(holdZoomRate(1000), holdZoomRate(5000));
});
