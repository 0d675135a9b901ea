// timeline-find.test.mjs - finding things in the Timeline view, in real
// headless Chromium against the real `ctrace view` on the http_task trace:
// the search box (/, Ctrl-F, a count, next / previous that zoom to and
// select each match, the matches highlighted), the numbers of a shift-drag
// range (equal to the server's /api/range and /api/profile), "open as
// profile", and counter tracks.
// Screenshots: test-artifacts/find-*.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BUILD_DIR, tempDir, makeHttpTaskTrace, startView, startMockServer, launchBrowser, openView, screenshot, viewUnavailable, errorsOf, probe, waitForView } from './harness.mjs';

const why = await viewUnavailable();
const GEN = path.join(BUILD_DIR, 'bench', 'gen_trace');

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('.tl');
    return r && r.dataset.ready === 'true' && r.dataset.loading === 'false';
  }, null, { timeout: 20_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

function waitSearch(page, state = 'ready') {
  return page.waitForFunction((s) => document.querySelector('.tl')?.dataset.search === s, state, { timeout: 10_000 });
}

if (why && !process.env.CI) {
  test('finding things on ctrace view', { skip: why }, () => {});
} else {
  describe('finding things (http_task trace)', () => {
    let trace, server, browser, page;
    before(async () => {
      trace = await makeHttpTaskTrace(3);
      server = await startView(trace.file);
      browser = await launchBrowser();
      page = await browser.newPage();
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (trace) await fsp.rm(trace.dir, { recursive: true, force: true });
    });

    test('/ opens the search; it counts the matches, steps through them zoomed in and selected, and highlights them', async () => {
      await page.focus('.tl-canvas');
      await page.keyboard.press('/');
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), 'search');
      await page.keyboard.type('db.query');
      await waitSearch(page);
      const api = await (await fetch(`${server.url}api/search?q=db.query`)).json();
      assert.equal(api.total, 3);
      assert.match(await page.textContent('.tl-search-count'), /^3 matches$/);
      // all three highlighted in the whole-trace window
      await page.waitForFunction(() => document.querySelector('.tl').probe.searchMarks().length === 3);
      const marks = await probe(page, 'searchMarks');
      assert.deepEqual(marks.map((k) => k.kind), ['region', 'region', 'region']);
      await screenshot(page, 'find-search-all', { fullPage: false });
      // Enter: the first match, zoomed to, its row in view, selected
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('.tl').dataset.details === 'ready');
      await waitLoaded(page);
      let st = await probe(page, 'search');
      assert.equal(st.index, 0);
      assert.match(st.label, /^1 of 3 matches$/);
      assert.deepEqual(st.current, api.matches[0]);
      const w = await probe(page, 'window');
      assert.ok(w.start_ns <= api.matches[0].start_ns && w.end_ns >= api.matches[0].end_ns, 'the match is in the window');
      assert.ok(w.end_ns - w.start_ns < 4 * (api.matches[0].end_ns - api.matches[0].start_ns), 'zoomed to it');
      assert.match(await page.textContent('.tl-details h2'), /Region db\.query/);
      const sel = await probe(page, 'selected');
      assert.equal(sel.kind, 'region');
      assert.equal(sel.tid, api.matches[0].tid);
      const box = await probe(page, 'rowBox', api.matches[0].tid);
      assert.ok(box.stripTop >= box.visibleTop && box.stripBottom <= box.visibleBottom, 'its row is on screen');
      const cur = (await probe(page, 'searchMarks')).find((k) => k.current);
      assert.ok(cur && cur.tid === api.matches[0].tid, 'the current match is outlined');
      await screenshot(page, 'find-search-first', { fullPage: false });
      // next, next, next wraps round; Shift+Enter goes back
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('.tl').probe.search().index === 1);
      await page.keyboard.press('Enter');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('.tl').probe.search().index === 0);
      await page.keyboard.press('Shift+Enter');
      await page.waitForFunction(() => document.querySelector('.tl').probe.search().index === 2);
      st = await probe(page, 'search');
      assert.deepEqual(st.current, api.matches[2]);
      await page.click('[data-action="search-prev"]');
      await page.waitForFunction(() => document.querySelector('.tl').probe.search().index === 1);
    });

    test('counters recorded with ctrace_counter are drawn as a track, with their value under the pointer', async () => {
      await page.keyboard.press('0');
      await waitLoaded(page);
      const api = await (await fetch(`${server.url}api/counters`)).json();
      assert.equal(api.counters.length, 1);
      const tr = await probe(page, 'counterTrack', 0);
      assert.equal(tr.name, 'requests.in_flight');
      assert.equal(tr.points, 6, 'every value of this small trace');
      assert.equal(await probe(page, 'counterTrack', 1), null);
      // the track sits between the tasks and the first thread
      const firstRow = await probe(page, 'rowBox', (await (await fetch(`${server.url}api/summary`)).json()).thread_list[0].tid);
      assert.ok(tr.bottom <= firstRow.top, `track ${tr.top}-${tr.bottom}, first row at ${firstRow.top}`);
      // hover where a request is in flight: value 1
      const [t1] = api.counters[0].points.find((p) => p[1] === 1);
      const [t0] = api.counters[0].points.find((p) => p[1] === 0 && p[0] > t1);
      const w = await probe(page, 'window');
      const x = tr.left + ((t1 + t0) / 2 - w.start_ns) / (w.end_ns - w.start_ns) * (tr.right - tr.left);
      await page.mouse.move(x, (tr.top + tr.bottom) / 2);
      await page.waitForFunction(() => /Counter requests\.in_flight/.test(document.querySelector('.tl-tooltip:not([hidden])')?.textContent || ''));
      assert.match(await page.textContent('.tl-tooltip'), /^Counter requests\.in_flight1 at /);
      await screenshot(page, 'find-counter', { fullPage: false });
      await page.mouse.move(5, 5);
    });

    test('tracks: filter by name, pin to the top, group by name (expandable, states stacked), only threads alive in the window', async () => {
      await page.keyboard.press('0');
      await waitLoaded(page);
      const rowsNow = () => probe(page, 'rows');
      const all = await rowsNow();
      assert.equal(all.length, 5);
      // group: the three handlers become one row
      await page.check('[data-action="group-threads"]');
      let rows = await rowsNow();
      assert.equal(rows.length, 3);
      const gi = rows.findIndex((r) => r.group === 'handler');
      assert.equal(rows[gi].members.length, 3);
      assert.equal(rows[gi].open, false);
      // its tooltip counts the members by state
      const g = await probe(page, 'labelAt', gi);
      await page.mouse.move(g.stripX, g.y);
      await page.waitForFunction(() => /3 threads named handler/.test(document.querySelector('.tl-tooltip:not([hidden])')?.textContent || ''));
      await screenshot(page, 'find-tracks-grouped', { fullPage: false });
      await page.mouse.click(g.x, g.y);
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length === 6);
      rows = await rowsNow();
      assert.equal(rows[gi].open, true);
      assert.deepEqual(rows.slice(gi + 1).map((r) => r.tid), all.filter((r) => r.name === 'handler').map((r) => r.tid));
      await page.mouse.click(g.x, g.y);
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length === 3);
      await page.uncheck('[data-action="group-threads"]');
      // pin the last thread: it goes first, and stays when filtered out
      const last = all[all.length - 1];
      const l = await probe(page, 'labelAt', all.length - 1);
      await page.mouse.click(l.x, l.y);
      await page.waitForFunction((tid) => document.querySelector('.tl').probe.rows()[0].tid === tid, last.tid);
      rows = await rowsNow();
      assert.equal(rows[0].pinned, true);
      assert.equal(rows.length, 5);
      // the pinned row is drawn below the ruler
      const box = await probe(page, 'rowBox', last.tid);
      assert.ok(box.stripTop >= box.visibleTop, 'pinned row in view');
      await page.fill('[data-action="track-filter"]', 'accept');
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length === 2);
      rows = await rowsNow();
      assert.deepEqual(rows.map((r) => r.name), ['handler', 'acceptor']);
      await screenshot(page, 'find-tracks-pinned-filtered', { fullPage: false });
      await page.fill('[data-action="track-filter"]', '');
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length === 5);
      const l0 = await probe(page, 'labelAt', 0);
      await page.mouse.click(l0.x, l0.y); // unpin
      await page.waitForFunction((tid) => document.querySelector('.tl').probe.rows()[0].tid !== tid, last.tid);
      // alive only: a window inside the first handler's life hides the later handlers
      const sum = await (await fetch(`${server.url}api/summary`)).json();
      const h1 = sum.thread_list.filter((t) => t.name === 'handler')[0];
      await page.check('[data-action="alive-only"]');
      await page.evaluate(([a, b]) => { location.hash = `#/timeline?start_ns=${a}&end_ns=${b}`; }, [h1.first_ns + 1000, h1.last_ns - 1000]);
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length < 5);
      rows = await rowsNow();
      const alive = sum.thread_list.filter((t) => t.last_ns >= h1.first_ns + 1000 && t.first_ns <= h1.last_ns - 1000).map((t) => t.tid);
      assert.deepEqual(rows.map((r) => r.tid).sort(), alive.sort());
      await page.uncheck('[data-action="alive-only"]');
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length === 5);
      // a process collapses to its header (click it) and opens again
      let [proc] = await probe(page, 'procs');
      await page.mouse.click(proc.x, proc.y);
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length === 0);
      [proc] = await probe(page, 'procs');
      assert.equal(proc.collapsed, true);
      assert.match(proc.label, /5 threads hidden/);
      await screenshot(page, 'find-tracks-collapsed', { fullPage: false });
      await page.mouse.click(proc.x, proc.y);
      await page.waitForFunction(() => document.querySelector('.tl').probe.rows().length === 5);
    });

    test('the overview strip shows the whole trace and the window; a click there moves the window, keeping its width', async () => {
      await page.keyboard.press('0');
      await waitLoaded(page);
      await page.waitForFunction(() => document.querySelector('.tl').probe.overview().ready);
      await page.keyboard.press('w');
      await page.keyboard.press('w');
      await page.keyboard.press('w');
      await waitLoaded(page);
      const w0 = await probe(page, 'window');
      const sum = await (await fetch(`${server.url}api/summary`)).json();
      const target = sum.start_ns + (sum.end_ns - sum.start_ns) * 0.8;
      const ov = await probe(page, 'overview', target);
      const box = await page.locator('.tl-overview').boundingBox();
      await page.mouse.click(ov.x, box.y + box.height / 2);
      await page.waitForFunction((c) => { const w = document.querySelector('.tl').probe.window(); return Math.abs((w.start_ns + w.end_ns) / 2 - c) < (w.end_ns - w.start_ns) * 0.05 || w.end_ns >= c; }, target);
      const w1 = await probe(page, 'window');
      assert.ok(Math.abs((w1.end_ns - w1.start_ns) - (w0.end_ns - w0.start_ns)) < 2, 'the width is kept');
      assert.ok(w1.start_ns <= target && target <= w1.end_ns, 'the clicked time is in the window');
      await waitLoaded(page);
      await screenshot(page, 'find-overview', { fullPage: false });
    });

    test('the search finds log messages, task and thread names; Escape clears it; Ctrl-F reopens it', async () => {
      await page.fill('[data-action="search"]', 'GET /');
      await waitSearch(page);
      let st = await probe(page, 'search');
      assert.equal(st.total, 3, 'three logs "GET /hello"');
      await page.fill('[data-action="search"]', 'handleRequest');
      await waitSearch(page);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('.tl').dataset.details === 'ready' && /Task handleRequest/.test(document.querySelector('.tl-details h2')?.textContent || ''));
      st = await probe(page, 'search');
      assert.equal(st.current.kind, 'task');
      await page.fill('[data-action="search"]', 'handler');
      await waitSearch(page);
      st = await probe(page, 'search');
      assert.equal(st.counts.thread, 3, 'three threads named handler');
      assert.equal(st.counts.task, 3, 'and handleRequest, case aside');
      await page.fill('[data-action="search"]', 'no such thing anywhere');
      await waitSearch(page);
      assert.equal(await page.textContent('.tl-search-count'), 'no match');
      await page.keyboard.press('Escape');
      await waitSearch(page, 'idle');
      assert.equal(await probe(page, 'search'), null);
      await page.focus('.tl-canvas');
      await page.keyboard.press('Control+f');
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), 'search');
      await page.keyboard.press('Escape');
      assert.deepEqual(errorsOf(page), []);
    });
  });
}

if (!why || process.env.CI) {
  describe('range numbers (http_task trace)', () => {
    let trace, server, browser, page;
    before(async () => {
      trace = await makeHttpTaskTrace(3);
      server = await startView(trace.file);
      browser = await launchBrowser();
      page = await browser.newPage();
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      if (trace) await fsp.rm(trace.dir, { recursive: true, force: true });
    });

    test('shift-drag gives the range numbers, equal to the server API; "open as profile" filters the profiles page', async () => {
      const { api } = await checkRange(page, server, 'find-range');
      assert.ok(api.regions.some((r) => r.name === 'db.query'), 'the range holds db.query regions');
      await page.click('[data-action="range-profile"]');
      await waitForView(page, 'profiles');
      const p = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
      assert.equal(Number(p.get('start_ns')), api.start_ns);
      assert.equal(Number(p.get('end_ns')), api.end_ns);
      assert.deepEqual(errorsOf(page), []);
    });
  });
}

// One taxonomy: web/states.js names every state of src/analyze/states.h,
// in code order, each with a label and a colour of its own.
test('STATE_CODES of web/states.js are the states of src/analyze/states.h, each labelled and coloured apart', async () => {
  const { STATE_CODES, stateLabel, stateColor } = await import('../../web/states.js');
  const header = await fsp.readFile(new URL('../../src/analyze/states.h', import.meta.url), 'utf8');
  const codes = [...header.matchAll(/X\(\w+, (\d+), "(\w+)",/g)].sort((a, b) => Number(a[1]) - Number(b[1])).map((x) => x[2]);
  assert.ok(codes.length >= 10, codes.join(','));
  assert.deepEqual(STATE_CODES, codes);
  const labels = STATE_CODES.map(stateLabel), colors = STATE_CODES.map(stateColor);
  for (let i = 0; i < STATE_CODES.length; i++) assert.notEqual(labels[i], STATE_CODES[i], `${STATE_CODES[i]} has a label`);
  assert.equal(new Set(labels).size, labels.length, labels.join(','));
  assert.equal(new Set(colors).size, colors.length, colors.join(','));
});

if (!why || process.env.CI) {
  describe('events lost to drops (http_task trace, drops added by the mock)', () => {
    let trace, server, mock, browser, page, handler, drop;
    before(async () => {
      trace = await makeHttpTaskTrace(3);
      server = await startView(trace.file);
      const sum = await (await fetch(`${server.url}api/summary`)).json();
      handler = sum.thread_list.find((t) => t.name === 'handler');
      const mid = Math.round((handler.first_ns + handler.last_ns) / 2);
      drop = { tid: handler.tid, start_ns: mid - 2000000, end_ns: mid, count: 1234 };
      mock = await startMockServer({
        apiUpstream: server.url,
        overrides: {
          '/api/summary': (s) => ({ ...s, dropped_events: 1234, thread_list: s.thread_list.map((t) => (t.tid === handler.tid ? { ...t, dropped: 1234 } : t)) }),
          '/api/drops': () => ({ drops: [drop] }),
        },
      });
      browser = await launchBrowser();
      page = await browser.newPage();
    });
    after(async () => {
      await browser?.close();
      await mock?.close();
      await server?.close();
      if (trace) await fsp.rm(trace.dir, { recursive: true, force: true });
    });

    test('a drop is marked on its thread where the events were lost, with a tooltip saying how many', async () => {
      assert.equal(await openView(page, mock.url, '#/timeline'), 'ready');
      await waitLoaded(page);
      await page.waitForFunction(() => document.querySelector('.tl').dataset.drops === '1');
      await page.waitForFunction(() => document.querySelector('.tl').probe.dropMarks().length === 1);
      const [mk] = await probe(page, 'dropMarks');
      assert.equal(mk.tid, handler.tid);
      assert.equal(mk.count, 1234);
      await page.mouse.move(mk.x, mk.y);
      await page.waitForFunction(() => /lost here/.test(document.querySelector('.tl-tooltip:not([hidden])')?.textContent || ''));
      assert.match(await page.textContent('.tl-tooltip'), /^1,234 events of handler \d+ lost here/);
      assert.match(await page.textContent('.tl-legend'), /Events lost/);
      await screenshot(page, 'find-drop-mark', { fullPage: false });
      // the Summary's thread list says a thread without an exit was alive at the end, not "no"
      await openView(page, mock.url, '#/summary');
      const exited = await page.$$eval('.thread-list-table tbody tr', (trs) => trs.map((tr) => tr.textContent));
      assert.ok(exited.some((t) => /alive at the end/.test(t)) || exited.every((t) => /yes/.test(t)), exited.join('\n'));
      assert.ok(!exited.some((t) => /\bno\b(?!:)/.test(t)), 'no bare "no"');
      assert.deepEqual(errorsOf(page), []);
    });
  });
}

/**
 * Shift-drags over 10%..70% of the plot, waits for the range panel and
 * checks every number it shows against /api/range, /api/threads and
 * /api/profile for the same range. Resolves to {api} (the /api/range answer).
 */
async function checkRange(page, server, shot) {
  const box = await page.locator('.tl-canvas').boundingBox();
  const x0 = box.x + 200 + (box.width - 200) * 0.1, x1 = box.x + 200 + (box.width - 200) * 0.7;
  await page.keyboard.down('Shift');
  await page.mouse.move(x0, box.y + 300);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, box.y + 300);
  await page.mouse.move(x1, box.y + 300);
  await page.mouse.up();
  await page.keyboard.up('Shift');
  await page.waitForSelector('.tl-details[data-panel="range"][data-start]');
  await page.waitForFunction(() => document.querySelector('.tl').dataset.details === 'ready');
  const a = Number(await page.getAttribute('.tl-details', 'data-start'));
  const b = Number(await page.getAttribute('.tl-details', 'data-end'));
  assert.ok(b > a, `${a}..${b}`);
  const api = await (await fetch(`${server.url}api/range?start_ns=${a}&end_ns=${b}`)).json();
  // time per state, in all and per thread
  for (const [k, v] of Object.entries(api.states)) {
    if (!v) continue;
    assert.equal(Number(await page.getAttribute(`.tl-details [data-total="${k}"]`, 'data-ns')), v, k);
  }
  const rows = await page.$$eval('.tl-range-threads tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.tid)));
  assert.deepEqual(rows, api.threads.map((t) => t.tid));
  for (const k of Object.keys(api.states)) assert.equal(api.threads.reduce((s, t) => s + (t.states[k] || 0), 0), api.states[k], `the threads' ${k} sum to the whole`);
  // the states of a thread over the whole trace are /api/threads' (the same model)
  const whole = await (await fetch(`${server.url}api/range`)).json();
  const threads = await (await fetch(`${server.url}api/threads`)).json();
  for (const t of threads.threads) assert.deepEqual(whole.threads.find((x) => x.tid === t.tid).states, t.states, `thread ${t.tid}`);
  // blocked time by kind is /api/profile's for the same range, and so are the stacks
  const stacks = [];
  for (const k of ['sync', 'net', 'syscall', 'poll', 'sleep']) {
    const prof = await (await fetch(`${server.url}api/profile?kind=${k}&start_ns=${a}&end_ns=${b}`)).json();
    assert.equal(Number(await page.getAttribute(`.tl-details [data-kind="${k}"] [data-ns]`, 'data-ns')), prof.total_ns, k);
    for (const st of prof.stacks) stacks.push({ kind: k, ns: st.total_ns });
  }
  stacks.sort((x, y) => y.ns - x.ns);
  const shown = await page.$$eval('.tl-range-stacks li', (lis) => lis.map((li) => ({ kind: li.dataset.kind, ns: Number(li.dataset.ns) })));
  assert.deepEqual(shown.map((x) => x.ns), stacks.slice(0, shown.length).map((x) => x.ns), 'the heaviest stacks of all kinds');
  assert.equal(shown.length, Math.min(8, stacks.length));
  // tasks and regions with their counts
  for (const [kind, list] of [['task', api.tasks], ['region', api.regions]]) {
    const got = await page.$$eval(`.tl-range-lat[data-kind="${kind}"] tbody tr`, (trs) => trs.map((tr) => ({ name: tr.dataset.name, count: Number(tr.dataset.count), complete: Number(tr.dataset.complete) })));
    assert.deepEqual(got, list.map((x) => ({ name: x.name, count: x.count, complete: x.complete })), kind);
  }
  await screenshot(page, shot, { fullPage: false });
  return { api };
}

if (!why || process.env.CI) {
  describe('range numbers (synthetic trace with blocking)', () => {
    let dir, server, browser, page;
    const missing = !fs.existsSync(GEN) && `${GEN} not built`;
    before(async () => {
      if (missing) return;
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

    test('a range with blocking: states, blocked time and stacks equal the server API', { skip: missing }, async () => {
      assert.equal(await openView(page, server.url, '#/timeline'), 'ready');
      await waitLoaded(page);
      const { api } = await checkRange(page, server, 'find-range-blocking');
      assert.ok(api.states.sync > 0 && api.states.net > 0, 'the range has blocking');
      assert.ok(api.stacks.length > 0, 'and stacks');
      // one highlighted thread: the numbers are its own, and its profile
      const tid = api.threads[0].tid;
      await page.evaluate(([t, a, b]) => { location.hash = `#/timeline?start_ns=${a}&end_ns=${b}&tids=${t}`; }, [tid, api.start_ns, api.end_ns]);
      await waitLoaded(page);
      await page.keyboard.press('Escape');
      const box = await page.locator('.tl-canvas').boundingBox();
      await page.keyboard.down('Shift');
      await page.mouse.move(box.x + 250, box.y + 300);
      await page.mouse.down();
      await page.mouse.move(box.x + 600, box.y + 300);
      await page.mouse.up();
      await page.keyboard.up('Shift');
      await page.waitForFunction(() => document.querySelectorAll('.tl-range-threads tbody tr').length === 1 && document.querySelector('.tl').dataset.details === 'ready');
      const a = Number(await page.getAttribute('.tl-details', 'data-start'));
      const b = Number(await page.getAttribute('.tl-details', 'data-end'));
      const one = await (await fetch(`${server.url}api/range?start_ns=${a}&end_ns=${b}&tids=${tid}`)).json();
      assert.equal(one.profile_tid, tid);
      const prof = await (await fetch(`${server.url}api/profile?kind=sync&start_ns=${a}&end_ns=${b}&tid=${tid}`)).json();
      assert.equal(Number(await page.getAttribute('.tl-details [data-kind="sync"] [data-ns]', 'data-ns')), prof.total_ns);
      await page.click('[data-action="range-profile"]');
      await waitForView(page, 'profiles');
      const p = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
      assert.equal(Number(p.get('tid')), tid);
      assert.deepEqual(errorsOf(page), []);
    });
  });
}
