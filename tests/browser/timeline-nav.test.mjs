// timeline-nav.test.mjs - finding and landing in the Timeline view, in real
// headless Chromium against the real `ctrace view`: the help overlay, the
// wheel and keys, tooltips of spans cut by the window, the creation arrows,
// the selected event in the URL and its history, landing on a row from the
// other views (checked by geometry), tabs that keep the view, the notes of
// a link or a zoom that cannot show everything, one taxonomy of states on
// every page, and the banner when the server is gone.
// Screenshots: test-artifacts/nav-*.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { formatDuration } from '../../web/format.js';
import { BUILD_DIR, makeHttpTaskTrace, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf, probe } from './harness.mjs';

const why = await viewUnavailable();
const GEN = path.join(BUILD_DIR, 'bench', 'gen_trace');

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('.tl');
    return r && r.dataset.ready === 'true' && r.dataset.loading === 'false';
  }, null, { timeout: 20_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

const span = (w) => w.end_ns - w.start_ns;
const hashParams = (page) => page.evaluate(() => Object.fromEntries(new URLSearchParams(location.hash.split('?')[1] || '')));

/** Resolves when the URL's hash has parameter key (equal to value, if given). */
function waitHashParam(page, key, value) {
  return page.waitForFunction(([k, v]) => {
    const p = new URLSearchParams(location.hash.split('?')[1] || '');
    return v === undefined ? p.has(k) : p.get(k) === v;
  }, [key, value], { timeout: 10_000 });
}

/** The row is drawn fully between the ruler and the bottom of the canvas. */
function assertRowVisible(box, what) {
  assert.ok(box, `${what}: a row`);
  assert.ok(box.stripTop >= box.visibleTop && box.stripBottom <= box.visibleBottom, `${what}: row drawn at ${box.stripTop}-${box.stripBottom}, visible ${box.visibleTop}-${box.visibleBottom}`);
}

if (why && !process.env.CI) {
  test('timeline navigation on ctrace view', { skip: why }, () => {});
} else {
  describe('timeline navigation (http_task trace)', () => {
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

    test('the first paint costs one timeline request', async () => {
      const asked = [];
      const onReq = (r) => { if (r.url().includes('/api/timeline')) asked.push(r.url()); };
      page.on('request', onReq);
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
      await page.waitForLoadState('networkidle');
      page.off('request', onReq);
      assert.equal(asked.length, 1, asked.join('\n'));
    });

    test('? shows the keys, Escape hides them; the hint names the row scrolling', async () => {
      assert.match(await page.textContent('.tl-hint'), /Shift\+wheel or wheel on names: rows/);
      await page.focus('.tl-canvas');
      await page.keyboard.press('?');
      await page.waitForSelector('.tl-help:not([hidden])');
      const text = await page.textContent('.tl-help');
      for (const k of ['W / S', 'Alt+Left', 'Shift+wheel', 'Escape']) assert.ok(text.includes(k), k);
      await screenshot(page, 'nav-help', { fullPage: false });
      await page.keyboard.press('Escape');
      assert.equal(await page.isHidden('.tl-help'), true);
      await page.click('[data-action="help"]');
      assert.equal(await page.isVisible('.tl-help'), true);
      await page.click('.tl-help .tl-close');
      assert.equal(await page.isHidden('.tl-help'), true);
    });

    test('one wheel notch zooms about 2x at the pointer, both ways', async () => {
      await page.keyboard.press('0');
      const box = await page.locator('.tl-canvas').boundingBox();
      const x = box.x + 200 + (box.width - 200) * 0.3;
      await page.mouse.move(x, box.y + 200);
      const w0 = await probe(page, 'window');
      const tAt = (w) => w.start_ns + ((x - box.x - 200) / (box.width - 200)) * span(w);
      await page.mouse.wheel(0, -100);
      await page.waitForFunction((s) => { const w = document.querySelector('.tl').probe.window(); return w.end_ns - w.start_ns < s; }, span(w0));
      const w1 = await probe(page, 'window');
      assert.ok(Math.abs(span(w0) / span(w1) - 2) < 0.05, `in: ${span(w0) / span(w1)}`);
      assert.ok(Math.abs(tAt(w1) - tAt(w0)) < span(w0) * 0.002, 'the time under the pointer stays');
      await page.mouse.wheel(0, 100);
      await page.waitForFunction((s) => { const w = document.querySelector('.tl').probe.window(); return w.end_ns - w.start_ns > s; }, span(w1));
      const w2 = await probe(page, 'window');
      assert.ok(Math.abs(span(w2) / span(w1) - 2) < 0.05, `out: ${span(w2) / span(w1)}`);
      assert.ok(Math.abs(tAt(w2) - tAt(w0)) < span(w0) * 0.002, 'zooming out is anchored too');
    });

    test('W zooms one step when pressed, on and on while held, and stops when released', async () => {
      await page.keyboard.press('0');
      await page.mouse.move(5, 5); // no hover anchor
      const start = span(await probe(page, 'window'));
      await page.keyboard.down('w');
      try {
        // the press is one step (0.7); on a loaded machine the held zoom's
        // first frame may land before the probe does: at least one step
        const first = span(await probe(page, 'window'));
        assert.ok(first / start < 0.701 && first / start > 0.1, `first step ${first / start}`);
        // held (no more key events): it goes on zooming, frame by frame,
        // however slowly frames come on a loaded machine
        await page.waitForFunction((limit) => {
          const w = document.querySelector('.tl').probe.window();
          return w.end_ns - w.start_ns < limit;
        }, first * 0.5, { timeout: 30_000 });
      } finally {
        await page.keyboard.up('w'); // a failure must not leave W held for the next tests
      }
      // a frame already asked for may still land; after it, nothing moves
      const frames = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      await frames();
      const released = span(await probe(page, 'window'));
      await frames();
      assert.equal(span(await probe(page, 'window')), released, 'released: the zoom stops');
      await page.keyboard.press('0');
      await waitLoaded(page);
    });

    test('a tooltip shows the whole span, not the part in the window, and goes when the view moves', async () => {
      const sum = await (await fetch(`${server.url}api/summary`)).json();
      const main = sum.thread_list[0].tid;
      // a window inside main's long span (its start depends on the machine's
      // load; not recorded: http_task traces itself with the API alone, which
      // records no blocking calls)
      const from = Math.round(sum.thread_list[0].first_ns + 2e6);
      await openView(page, server.url, `#/timeline?start_ns=${from}&end_ns=${from + 10000000}`);
      // the same view takes the new hash when its hashchange comes, which may
      // be after goto resolves: until then the old window looks loaded
      await page.waitForFunction((f) => {
        const w = document.querySelector('.tl').probe.window();
        return w.start_ns === f && w.end_ns === f + 10000000;
      }, from, { timeout: 10_000 });
      await waitLoaded(page);
      const s = await probe(page, 'findSpan', 'not_recorded', main);
      assert.ok(s, 'main has a span in the window');
      await page.mouse.move(s.x, s.y);
      await page.waitForFunction(() => /from/.test(document.querySelector('.tl-tooltip:not([hidden])')?.textContent || ''));
      const text = await page.textContent('.tl-tooltip');
      assert.match(text, /of it in this window/, text);
      const whole = await page.evaluate(async ([tid, ns]) => (await (await fetch(`/api/event?kind=span&tid=${tid}&ns=${ns}`)).json()), [main, from + 5000000]);
      assert.ok(text.includes(`${formatDuration(whole.dur_ns)} from`), `whole duration ${whole.dur_ns} (${formatDuration(whole.dur_ns)}) in "${text}"`);
      await screenshot(page, 'nav-tooltip-clipped', { fullPage: false });
      await page.keyboard.press('d');
      assert.equal(await page.isHidden('.tl-tooltip'), true, 'panning hides the tooltip');
    });

    test('creation arrows are light and can be switched off', async () => {
      await page.keyboard.press('0');
      await waitLoaded(page);
      assert.ok(await probe(page, 'findCreate'));
      assert.equal(await probe(page, 'createsShown'), 4);
      await page.uncheck('[data-action="toggle-creates"]');
      assert.equal(await probe(page, 'createsShown'), 0);
      await screenshot(page, 'nav-no-creates', { fullPage: false });
      await page.check('[data-action="toggle-creates"]');
      assert.equal(await probe(page, 'createsShown'), 4);
    });

    test('the selected event is in the URL, a link reopens it, and a jump elsewhere closes it', async () => {
      const t = await probe(page, 'findTask', 'handleRequest');
      await page.mouse.click(t.x, t.y);
      await page.waitForSelector('.tl[data-details="ready"]');
      await waitHashParam(page, 'ev', `task:${t.id}`);
      const hash = await page.evaluate(() => location.hash);
      // a fresh page from the link
      const p2 = await browser.newPage();
      await openView(p2, server.url, hash);
      await waitLoaded(p2);
      await p2.waitForSelector('.tl[data-details="ready"]');
      assert.equal(await p2.textContent('.tl-details h2'), 'Task handleRequest');
      assert.equal((await probe(p2, 'selected')).ev, `task:${t.id}`);
      await screenshot(p2, 'nav-link-selected', { fullPage: false });
      // a deep link to another window, with nothing selected, closes the panel
      await p2.evaluate(() => { location.hash = '#/timeline?start_ns=1000000&end_ns=2000000'; });
      await p2.waitForSelector('.tl-details', { state: 'hidden' });
      assert.equal(await probe(p2, 'selected'), null);
      assert.deepEqual(errorsOf(p2), []);
      await p2.close();
    });

    test('a link to a thread creation reopens it with the thread it created', async () => {
      await openView(page, server.url, '#/timeline');
      await waitLoaded(page);
      const c = await probe(page, 'findCreate');
      await page.mouse.click(c.x, c.y);
      await page.waitForFunction(() => document.querySelector('.tl-details h2')?.textContent === 'Thread created');
      const ev = (await probe(page, 'selected')).ev;
      assert.match(ev, new RegExp(`^create:${c.parent}:\\d+$`));
      await waitHashParam(page, 'ev', ev);
      const hash = await page.evaluate(() => location.hash);
      const p2 = await browser.newPage();
      await openView(p2, server.url, hash);
      await p2.waitForFunction(() => document.querySelector('.tl-details h2')?.textContent === 'Thread created');
      await p2.waitForSelector('.tl[data-details="ready"]');
      assert.match(await p2.textContent('.tl-details'), new RegExp(`Created.*\\(${c.child}\\)`));
      await p2.close();
    });

    test('an inverted window in a link is turned round, with a note', async () => {
      await openView(page, server.url, '#/timeline?start_ns=30000000&end_ns=1000000');
      await waitLoaded(page);
      const w = await probe(page, 'window');
      assert.equal(Math.round(w.start_ns), 1000000);
      assert.equal(Math.round(w.end_ns), 30000000);
      assert.match(await page.textContent('.tl-note'), /ends .* before it starts/);
      await screenshot(page, 'nav-inverted', { fullPage: false });
    });

    test('a window without tasks says so in the Tasks lane', async () => {
      // before the first task
      const first = await page.evaluate(async () => Math.min(...(await (await fetch('/api/instances?kind=task&name=client.get')).json()).instances.map((i) => i.start_ns)));
      await openView(page, server.url, `#/timeline?start_ns=0&end_ns=${first - 10000}`);
      await waitLoaded(page);
      assert.equal(await probe(page, 'counts').then((c) => c.tasks), 0);
      assert.equal(await probe(page, 'tasksNote'), 'No task in this window');
    });

    test('a task instance opened from Tasks & regions is selected, its row in view', async () => {
      await openView(page, server.url, '#/tasks?kind=task&name=handleRequest');
      await page.waitForSelector('.instances-table tbody tr[data-key]');
      await page.click('.instances-table tbody tr[data-key]');
      await page.waitForSelector('main#view[data-view="timeline"][data-state="ready"]');
      await waitLoaded(page);
      await page.waitForSelector('.tl[data-details="ready"]');
      assert.equal(await page.textContent('.tl-details h2'), 'Task handleRequest');
      const sel = await probe(page, 'selected');
      assert.equal(sel.kind, 'task');
      assertRowVisible(await probe(page, 'rowBox', sel.touches[0].tid), 'the task\'s thread');
      await screenshot(page, 'nav-from-tasks', { fullPage: false });
    });

    test('switching tabs keeps the window, the selection and the URL', async () => {
      const w = await probe(page, 'window');
      const sel = await probe(page, 'selected');
      await waitHashParam(page, 'ev', sel.ev);
      await page.click('#tabs a[data-view="threads"]');
      await page.waitForSelector('main#view[data-view="threads"][data-state="ready"]');
      await page.click('#tabs a[data-view="timeline"]');
      await page.waitForSelector('main#view[data-view="timeline"][data-state="ready"]');
      await waitLoaded(page);
      const w2 = await probe(page, 'window');
      assert.equal(Math.round(w2.start_ns), Math.round(w.start_ns));
      assert.equal(Math.round(w2.end_ns), Math.round(w.end_ns));
      await page.waitForSelector('.tl[data-details="ready"]');
      assert.equal((await probe(page, 'selected')).ev, sel.ev);
      assert.equal((await hashParams(page)).ev, sel.ev);
    });

    test('when ctrace view stops, one banner says so', async () => {
      await openView(page, server.url, '#/threads');
      assert.equal(await page.isHidden('#banner'), true);
      await server.close();
      await page.waitForSelector('#banner[data-kind="offline"]', { timeout: 20_000 });
      assert.match(await page.textContent('#banner'), /ctrace view is no longer running/);
      // a view that asks now shows no error of its own beyond a pointer to the banner
      await page.click('#tabs a[data-view="profiles"]');
      await page.waitForSelector('main#view[data-view="profiles"]:not([data-state="loading"])');
      assert.equal(await page.locator('#banner').count(), 1);
      assert.equal(await page.locator('main .error-offline').count(), 1, 'the view points to the banner');
      assert.doesNotMatch(await page.textContent('main'), /Could not load|Failed to fetch/);
      await screenshot(page, 'nav-offline');
      server = null;
    });
  });

  describe('timeline navigation (60 threads, 4200 tasks)', () => {
    let dir, server, browser, page;
    const missing = !fs.existsSync(GEN) && `${GEN} not built`;
    before(async () => {
      if (missing) return;
      dir = await tempDir();
      const file = path.join(dir, 'gen.ctrace');
      await promisify(execFile)(GEN, [file, '60000', '60'], { timeout: 60_000 });
      server = await startView(file);
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (dir) await fsp.rm(dir, { recursive: true, force: true });
    });

    test('crowded creation arrows collapse into a note; short tasks ask to zoom in', { skip: missing }, async () => {
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
      assert.equal(await probe(page, 'createsShown'), 0);
      // too many to draw one by one: bundled per creator, with their count
      const c = await probe(page, 'creations');
      assert.ok(c.bundles.length >= 1, JSON.stringify(c));
      assert.equal(c.bundles.reduce((s, b) => s + b.n, 0), 60);
      assert.match(await probe(page, 'tasksNote'), /zoom in/);
      await screenshot(page, 'nav-gen-overview', { fullPage: false });
    });

    test('the wheel over the names, or with Shift, scrolls the rows', { skip: missing }, async () => {
      const box = await page.locator('.tl-canvas').boundingBox();
      const w0 = await probe(page, 'window');
      await page.mouse.move(box.x + 80, box.y + 300);
      await page.mouse.wheel(0, 300);
      await page.waitForFunction(() => document.querySelector('.tl').probe.scrollTop() > 0);
      const w1 = await probe(page, 'window');
      assert.equal(span(w1), span(w0), 'no zoom over the names');
      const top = await probe(page, 'scrollTop');
      await page.mouse.move(box.x + 600, box.y + 300);
      await page.keyboard.down('Shift');
      await page.mouse.wheel(0, 200);
      await page.keyboard.up('Shift');
      await page.waitForFunction((t) => document.querySelector('.tl').probe.scrollTop() > t, top);
      assert.equal(span(await probe(page, 'window')), span(w0));
    });

    test('a thread opened from Threads lands with its row in view, whatever the scroll before', { skip: missing }, async () => {
      await openView(page, server.url, '#/threads');
      // the thread created last: the last row of the timeline
      const tids = await page.$$eval('.threads-table tbody tr[data-key]', (trs) => trs.map((t) => Number(t.dataset.key)));
      const last = Math.max(...tids);
      await page.click(`.threads-table tbody tr[data-key="${last}"]`);
      await page.waitForSelector('main#view[data-view="timeline"][data-state="ready"]');
      await waitLoaded(page);
      assertRowVisible(await probe(page, 'rowBox', last), 'the last thread');
      await screenshot(page, 'nav-gen-from-threads', { fullPage: false });
      // and back to the first thread, from this scrolled timeline
      await openView(page, server.url, '#/threads');
      const first = Math.min(...tids);
      await page.click(`.threads-table tbody tr[data-key="${first}"]`);
      await page.waitForSelector('main#view[data-view="timeline"][data-state="ready"]');
      await waitLoaded(page);
      assertRowVisible(await probe(page, 'rowBox', first), 'the first thread');
    });

    test('switching tabs keeps the rows\' scroll', { skip: missing }, async () => {
      await openView(page, server.url, '#/timeline');
      await waitLoaded(page);
      await page.evaluate(() => { document.querySelector('.tl-scroll').scrollTop = 700; });
      await page.waitForFunction(() => document.querySelector('.tl').probe.scrollTop() === 700);
      await page.click('#tabs a[data-view="summary"]');
      await page.waitForSelector('main#view[data-view="summary"][data-state="ready"]');
      await page.click('#tabs a[data-view="timeline"]');
      await page.waitForSelector('main#view[data-view="timeline"][data-state="ready"]');
      await waitLoaded(page);
      assert.equal(await probe(page, 'scrollTop'), 700);
    });

    test('a region instance opened from Tasks & regions is selected, its row in view', { skip: missing }, async () => {
      await openView(page, server.url, '#/tasks?kind=region&name=db.query');
      await page.waitForSelector('.instances-table tbody tr[data-key]');
      await page.click('.instances-table tbody tr[data-key]');
      await page.waitForSelector('main#view[data-view="timeline"][data-state="ready"]');
      await waitLoaded(page);
      await page.waitForSelector('.tl[data-details="ready"]');
      assert.equal(await page.textContent('.tl-details h2'), 'Region db.query');
      const sel = await probe(page, 'selected');
      assert.equal(sel.kind, 'region');
      assertRowVisible(await probe(page, 'rowBox', sel.tid), 'the region\'s thread');
      await screenshot(page, 'nav-gen-from-region', { fullPage: false });
    });

    test('wide spans name their call; Woken by and back with Alt+Left', { skip: missing }, async () => {
      const full = await page.evaluate(async () => (await (await fetch('/api/summary')).json()));
      const mid = Math.round((full.start_ns + full.end_ns) / 2);
      await openView(page, server.url, `#/timeline?start_ns=${mid - 300000}&end_ns=${mid + 300000}`);
      await waitLoaded(page);
      await page.waitForFunction(() => (document.querySelector('.tl').probe.namedSpan() || {}).name);
      const named = await probe(page, 'namedSpan');
      assert.match(named.name, /fd \d+|mutex|epoll|poll|sleep|read|write|recv|send/, named.name);
      await screenshot(page, 'nav-gen-names', { fullPage: false });
      let s = null;
      await page.evaluate(() => { document.querySelector('.tl-scroll').scrollTop = 0; });
      await waitLoaded(page);
      await page.mouse.move(5, 5);
      await page.focus('.tl-canvas');
      for (let i = 0; i < 30 && !s; i++) {
        s = await probe(page, 'findSpan', 'sync');
        if (!s) { await page.keyboard.press('d'); await waitLoaded(page); }
      }
      assert.ok(s, 'a sync span');
      await page.mouse.click(s.x, s.y);
      await page.waitForSelector('.tl[data-details="ready"]');
      const title = await page.textContent('.tl-details h2');
      assert.match(title, /^Blocked on/);
      const before0 = await probe(page, 'selected');
      await waitHashParam(page, 'ev', before0.ev);
      if (await page.$('[data-action="go-waker"]')) {
        await page.click('[data-action="go-waker"]');
        await page.waitForFunction(() => document.querySelector('.tl-details h2')?.textContent === 'Wake-up');
        await page.waitForSelector('[data-action="back"]');
        await page.focus('.tl-canvas');
        await page.keyboard.press('Alt+ArrowLeft');
        await page.waitForFunction((t) => document.querySelector('.tl-details h2')?.textContent === t, title);
        assert.equal((await probe(page, 'selected')).ev, before0.ev);
        await screenshot(page, 'nav-gen-back', { fullPage: false });
      }
      assert.deepEqual(errorsOf(page), []);
    });

    test('one taxonomy: a state has the same label and colour on every page, and no two states look alike', { skip: missing }, async () => {
      const rgb = (c) => c.match(/\d+/g).slice(0, 3).map(Number);
      // the timeline's legend
      await openView(page, server.url, '#/timeline');
      const legend = await page.$$eval('.tl-legend-item[data-state]:not([hidden])', (els) => els.map((e) => ({ key: e.dataset.state, label: e.textContent, color: getComputedStyle(e.querySelector('.tl-swatch')).backgroundColor })));
      assert.ok(legend.length >= 7, 'the seven states of the API, at least');
      const byKey = new Map(legend.map((l) => [l.key, l]));
      // every pair of states apart (RGB distance)
      for (const a of legend) {
        for (const b of legend) {
          if (a.key >= b.key) continue;
          const [x, y] = [rgb(a.color), rgb(b.color)];
          const d = Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]);
          assert.ok(d > 60, `${a.label} and ${b.label} look alike (${a.color} vs ${b.color})`);
        }
      }
      const check = async (where, sel) => {
        const items = await page.$$eval(sel, (els) => els.map((e) => ({ key: e.dataset.state, color: getComputedStyle(e).backgroundColor, label: e.parentElement.textContent.trim() })));
        assert.ok(items.length > 0, `${where}: swatches`);
        for (const it of items) {
          if (it.key === 'other') continue; // time in no state: not in the legend of states
          const l = byKey.get(it.key);
          assert.ok(l, `${where}: ${it.key} is a state of the legend`);
          assert.equal(it.color, l.color, `${where}: colour of ${it.key}`);
        }
        return items;
      };
      await openView(page, server.url, '#/threads');
      const threadsLegend = await check('Threads legend', '.legend .swatch[data-state]');
      for (const it of threadsLegend) assert.ok(it.label.includes(byKey.get(it.key).label), `Threads label of ${it.key}: ${it.label}`);
      await check('Threads bars', '.threads-table .stacked-bar span[data-state]');
      const heads = await page.$$eval('.threads-table th[data-key]', (ths) => ths.map((t) => t.textContent.trim()));
      for (const l of legend) assert.ok(heads.some((hd) => hd.startsWith(l.label)), `Threads column ${l.label} in ${heads}`);
      await screenshot(page, 'nav-gen-threads-taxonomy', { fullPage: false });
      await openView(page, server.url, '#/tasks?kind=task&name=request');
      await page.waitForSelector('.instances-table');
      await check('Tasks', '.detail-panel .stacked-bar span[data-state]');
      await openView(page, server.url, '#/profiles');
      await check('Profiles', '.segmented .swatch[data-state]');
      assert.match(await page.textContent('.segmented button[data-kind="syscall"]'), new RegExp(`${byKey.get('io').label}.*${byKey.get('syscall').label}`));
      await openView(page, server.url, '#/summary');
      await check('Summary', '.families-table .swatch[data-state]');
      await screenshot(page, 'nav-gen-summary-taxonomy');
      assert.deepEqual(errorsOf(page), []);
    });
  });
}
