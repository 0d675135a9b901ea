// viewer-checks.mjs - the browser checks of the non-timeline views, written
// once and run against any server that speaks the HTTP API: the mock
// (shell.test.mjs) and the real `ctrace view` (views.test.mjs).
// viewerSuite({label, start, shots}) declares the tests with node:test.
//   start(): resolves to a server {url, close()} (see harness.mjs)
//   shots:   prefix of the screenshot names in test-artifacts/
//   expect:  {threadNames: [...], handleRequest: {count, p50Min, p50Max}}
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openView, waitForView, screenshot, errorsOf } from './harness.mjs';

/** "52.1 ms" -> 52100000 (ns): reads back what web/format.js wrote. */
export function parseDuration(text) {
  const m = /^(-?[\d.,]+)\s*(ns|µs|ms|s)?$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1].replace(/,/g, ''));
  return v * { ns: 1, µs: 1e3, ms: 1e6, s: 1e9 }[m[2] || 'ns'];
}

async function getJSON(url) {
  const r = await fetch(url);
  assert.equal(r.status, 200, `${url}: HTTP ${r.status}`);
  return r.json();
}

/**
 * Start recording hash navigations of the page. The timeline may rewrite
 * its own route as soon as it mounts (replaceState), so tests read the URL
 * each navigation asked for from the hashchange events, not location.hash.
 */
export function recordNavigations(page) {
  return page.evaluate(() => {
    window.__ctraceNavs = [];
    window.addEventListener('hashchange', (e) => window.__ctraceNavs.push(new URL(e.newURL).hash));
  });
}

/** Wait for the first recorded navigation whose hash starts with prefix; resolves to that hash. */
export async function firstNavigation(page, prefix) {
  const h = await page.waitForFunction((p) => (window.__ctraceNavs || []).find((x) => x.startsWith(p)), prefix);
  return h.jsonValue();
}

/** The data-key of each body row of the table matching sel, in display order. */
function rowKeys(page, sel) {
  return page.$$eval(`${sel} tbody tr[data-key]`, (trs) => trs.map((tr) => tr.dataset.key));
}

export function viewerSuite({ label, start, shots, expect }) {
  describe(label, () => {
    let server;
    let browser;
    let page;
    let api; // the server's own answers, to compare the page with

    before(async () => {
      server = await start();
      browser = await launchBrowser();
      api = {
        summary: await getJSON(`${server.url}api/summary`),
        threads: await getJSON(`${server.url}api/threads`),
        tasks: await getJSON(`${server.url}api/tasks`),
      };
    });

    beforeEach(async () => {
      // A fresh page per test: each test judges only the errors it caused,
      // even when a request of the previous test answers late.
      if (page) await page.close();
      page = await browser.newPage();
    });

    after(async () => {
      if (browser) await browser.close();
      if (server) await server.close();
    });

    test('the shell shows the trace name, its numbers and five tabs, with no error and no outside request', async () => {
      assert.equal(await openView(page, server.url, '#/summary'), 'ready');
      const tabs = await page.$$eval('#tabs a', (as) => as.map((a) => a.textContent));
      assert.deepEqual(tabs, ['Timeline', 'Threads', 'Tasks & regions', 'Blocking profiles', 'Summary']);
      assert.equal(await page.getAttribute('#tabs a[data-view=\"summary\"]', 'aria-current'), 'page');
      await page.waitForFunction(() => document.getElementById('trace-meta').textContent !== '');
      const meta = await page.textContent('#trace-meta');
      assert.match(meta, /threads? · /);
      assert.match(meta, new RegExp(`${api.summary.events.toLocaleString('en-US')} events`));
      assert.notEqual((await page.textContent('#trace-name')).trim(), 'Loading trace…');
      assert.deepEqual(errorsOf(page), []);
      assert.deepEqual(browser.external, []);
    });

    test('Threads lists every thread by name, with state bars', async () => {
      assert.equal(await openView(page, server.url, '#/threads'), 'ready');
      const keys = await rowKeys(page, '.threads-table');
      const tids = api.threads.threads.map((t) => String(t.tid));
      assert.deepEqual([...keys].sort(), [...tids].sort());
      const names = await page.$$eval('.threads-table tbody .name-cell', (els) => els.map((e) => e.textContent));
      for (const n of expect.threadNames) assert.ok(names.includes(n), `thread "${n}" in ${JSON.stringify(names)}`);
      assert.equal(await page.locator('.threads-table tbody .stacked-bar').count(), tids.length);
      // a trace without blocking events says so instead of claiming 100% running
      const f = api.summary.families || {};
      const none = ['sync', 'sleep', 'io', 'net', 'poll'].every((k) => !f[k]);
      assert.equal(await page.locator('.hint[data-hint="no-blocking"]').count(), none ? 1 : 0);
      // nothing stray under the heading (a left-out note once printed "null")
      const stray = await page.$$eval('main .view-body > *', (els) => els.map((e) => e.textContent).concat([...document.querySelector('main .view-body').childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent)));
      assert.ok(!stray.some((t) => /^\s*null\s*$/.test(t)) && !/\bnull\b/.test(await page.textContent('main .panel-header')), 'no "null" under the heading');
      await screenshot(page, `${shots}-threads`);
      assert.deepEqual(errorsOf(page), []);
    });

    test('Threads sorts by a column and reverses on a second click', async () => {
      await openView(page, server.url, '#/threads');
      // by name, ascending
      await page.click('.threads-table th[data-key="name"] button');
      assert.equal(await page.getAttribute('.threads-table th[data-key="name"]', 'aria-sort'), 'ascending');
      const byName = await page.$$eval('.threads-table tbody .name-cell', (els) => els.map((e) => e.textContent));
      assert.deepEqual(byName, [...byName].sort((a, b) => a.localeCompare(b)));
      // by total: numeric columns start descending, then flip
      const totalOf = new Map(api.threads.threads.map((t) => [String(t.tid), Number(t.total_ns)]));
      for (const dir of ['descending', 'ascending']) {
        await page.click('.threads-table th[data-key="total"] button');
        assert.equal(await page.getAttribute('.threads-table th[data-key="total"]', 'aria-sort'), dir);
        const totals = (await rowKeys(page, '.threads-table')).map((k) => totalOf.get(k));
        const want = [...totals].sort((a, b) => (dir === 'descending' ? b - a : a - b));
        assert.deepEqual(totals, want, `totals ${dir}`);
      }
      // every column header sorts
      const cols = await page.$$eval('.threads-table th[data-key]', (ths) => ths.map((th) => th.dataset.key));
      for (const c of cols) {
        await page.click(`.threads-table th[data-key="${c}"] button`);
        assert.notEqual(await page.getAttribute(`.threads-table th[data-key="${c}"]`, 'aria-sort'), 'none', c);
      }
    });

    test('clicking a thread opens the timeline with that thread highlighted', async () => {
      await openView(page, server.url, '#/threads');
      const tid = (await rowKeys(page, '.threads-table'))[0];
      await recordNavigations(page);
      await page.click(`.threads-table tbody tr[data-key="${tid}"] td:first-child`);
      assert.equal(await firstNavigation(page, '#/timeline'), `#/timeline?tids=${tid}`);
      assert.equal(await page.getAttribute('#tabs a[data-view=\"timeline\"]', 'aria-current'), 'page');
    });

    test('Tasks & regions shows handleRequest: count, p50, histogram and instances', async () => {
      assert.equal(await openView(page, server.url, '#/tasks'), 'ready');
      const names = await page.$$eval('.names-table tbody .name-cell', (els) => els.map((e) => e.textContent));
      for (const t of api.tasks.tasks) assert.ok(names.includes(t.name), `task ${t.name}`);
      for (const r of api.tasks.regions) assert.ok(names.includes(r.name), `region ${r.name}`);
      await page.click('.names-table tbody tr[data-key="task:handleRequest"]');
      await page.waitForSelector('.detail-panel .instances-table');
      assert.equal((await page.textContent('.detail-panel h2')).replace(/task$/, ''), 'handleRequest');
      assert.equal(await page.textContent('.stat[data-stat="count"] .stat-value'), String(expect.handleRequest.count));
      const p50 = parseDuration(await page.textContent('.stat[data-stat="p50"] .stat-value'));
      assert.ok(p50 >= expect.handleRequest.p50Min && p50 <= expect.handleRequest.p50Max, `p50 ${p50} ns`);
      assert.ok((await page.locator('.detail-panel svg.histogram rect.bar').count()) > 0, 'histogram bars');
      const durs = await page.$$eval('.instances-table tbody tr[data-key] td:first-child', (tds) => tds.map((td) => td.textContent));
      assert.equal(durs.length, expect.handleRequest.count);
      const ns = durs.map(parseDuration);
      assert.deepEqual(ns, [...ns].sort((a, b) => b - a), 'slowest first');
      assert.equal(await page.locator('.instances-table tbody .stacked-bar').count(), expect.handleRequest.count);
      // the summed breakdown names the state where most time went
      const top = await page.getAttribute('.detail-agg .agg-table tbody tr:first-child', 'data-state');
      if (expect.handleRequest.topState) assert.equal(top, expect.handleRequest.topState);
      else assert.ok(top, 'a state in "Where the time went"');
      assert.match(await page.evaluate(() => location.hash), /^#\/tasks\?kind=task&name=handleRequest/);
      await screenshot(page, `${shots}-tasks`);
      assert.deepEqual(errorsOf(page), []);
    });

    test('Tasks & regions filters by name', async () => {
      await openView(page, server.url, '#/tasks');
      await page.waitForSelector('.detail-panel .instances-table');
      await page.fill('input[type="search"]', 'db.q');
      const keys = await rowKeys(page, '.names-table');
      assert.deepEqual(keys, ['region:db.query']);
      // the detail panel follows the filter: no longer on a hidden name
      await page.waitForFunction(() => /^db\.query/.test(document.querySelector('.detail-panel h2')?.textContent || ''));
      assert.match(await page.evaluate(() => location.hash), /kind=region&name=db\.query/);
      await page.fill('input[type="search"]', 'no such name');
      assert.deepEqual(await rowKeys(page, '.names-table'), []);
      assert.match(await page.textContent('.names-table tbody'), /No name matches/);
      await page.waitForSelector('.detail-panel[data-empty="true"]');
      assert.match(await page.textContent('.detail-panel'), /No name matches the filter/);
      await page.fill('input[type="search"]', '');
      assert.equal((await rowKeys(page, '.names-table')).length, api.tasks.tasks.length + api.tasks.regions.length);
    });

    test('clicking a task instance opens the timeline zoomed to it, its threads highlighted', async () => {
      await openView(page, server.url, '#/tasks?kind=task&name=handleRequest');
      await page.waitForSelector('.instances-table tbody tr[data-key]');
      const inst = await getJSON(`${server.url}api/instances?kind=task&name=handleRequest&limit=500`);
      const slowest = [...inst.instances].sort((a, b) => b.dur_ns - a.dur_ns)[0];
      await recordNavigations(page);
      await page.click('.instances-table tbody tr[data-key]:first-child td:first-child');
      const hash = await firstNavigation(page, '#/timeline');
      const q = new URLSearchParams(hash.split('?')[1]);
      assert.equal(Number(q.get('start_ns')), slowest.start_ns);
      assert.equal(Number(q.get('end_ns')), slowest.end_ns);
      assert.equal(q.get('tids'), slowest.tids.join(','));
      // Back returns to the same task
      await page.goBack();
      await waitForView(page, 'tasks');
      await page.waitForSelector('.detail-panel .stat[data-stat="count"]');
      assert.match(await page.textContent('.detail-panel h2'), /^handleRequest/);
    });

    test('Blocking profiles: each kind shows a flame graph or a clear empty state, and a pprof link', async () => {
      assert.equal(await openView(page, server.url, '#/profiles'), 'ready');
      const kinds = await page.$$eval('.segmented button', (bs) => bs.map((b) => b.dataset.kind));
      assert.deepEqual(kinds, ['sync', 'net', 'syscall', 'poll', 'sleep']);
      let shown = 0;
      for (const k of kinds) {
        await page.click(`.segmented button[data-kind="${k}"]`);
        assert.equal(await page.getAttribute(`.segmented button[data-kind="${k}"]`, 'aria-pressed'), 'true');
        const p = await getJSON(`${server.url}api/profile?kind=${k}`);
        if (p.stacks.length === 0) {
          assert.match(await page.textContent('.profile-body .empty-state'), /No blocking events/);
        } else {
          assert.ok((await page.locator('.flame .flame-node').count()) > 1, `${k}: flame graph`);
          assert.equal(await page.locator('.stacks-table tbody tr[data-key]').count(), p.stacks.filter((s) => s.total_ns > 0 || s.count > 0).length);
          assert.equal(await page.getAttribute('.profile-body a[download]', 'href'), `/api/pprof?kind=${k}`);
          // the innermost frame names the call the threads were blocked in
          for (const st of p.stacks) assert.match(st.call, /^[a-z][a-z0-9_ ]*$/, `${k}: a call for every stack`);
          assert.match(await page.textContent('.stacks-table tbody tr[data-key] summary code'), /^\[[a-z][a-z0-9_ ]*\]/, `${k}: the call innermost`);
          shown++;
          await screenshot(page, `${shots}-profiles-${k}`);
        }
      }
      if (shown === 0) await screenshot(page, `${shots}-profiles-empty`);
      // one switch leaves the idle waits (condition variables) out: of the
      // route, the download and the server's answer
      await page.click('.segmented button[data-kind="sync"]');
      await page.check('.idle-switch input');
      await page.waitForFunction(() => location.hash.includes('idle=0') && document.querySelector('.idle-switch input')?.checked);
      await page.waitForSelector('.profile-body .panel-header');
      if (await page.locator('.profile-body a[download]').count()) assert.match(await page.getAttribute('.profile-body a[download]', 'href'), /idle=0/);
      const all = await getJSON(`${server.url}api/profile?kind=sync`);
      const busy = await getJSON(`${server.url}api/profile?kind=sync&idle=0`);
      assert.ok(busy.total_ns <= all.total_ns);
      assert.ok(busy.stacks.every((st) => st.call !== 'cond'), 'no condvar wait left');
      assert.equal(busy.total_ns, all.total_ns - all.stacks.filter((st) => st.call === 'cond').reduce((a, st) => a + st.total_ns, 0));
      await page.uncheck('.idle-switch input');
      await page.waitForFunction(() => !location.hash.includes('idle=0'));
      // the pprof download really is a gzip file
      const r = await fetch(`${server.url}api/pprof?kind=${kinds[0]}`);
      assert.equal(r.status, 200);
      const body = Buffer.from(await r.arrayBuffer());
      assert.deepEqual([...body.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
      assert.deepEqual(errorsOf(page), []);
    });

    test('Summary shows the numbers of ctrace stats', async () => {
      assert.equal(await openView(page, server.url, '#/summary'), 'ready');
      const s = api.summary;
      const card = (k) => page.textContent(`.card[data-card="${k}"] .card-value`);
      assert.equal(await card('events'), s.events.toLocaleString('en-US'));
      assert.equal(await card('tasks'), String(s.tasks));
      assert.equal(await card('regions'), String(s.regions));
      assert.equal(await card('processes'), String(Array.isArray(s.processes) ? s.processes.length : s.processes));
      const list = Array.isArray(s.thread_list) ? s.thread_list : Array.isArray(s.threads) ? s.threads : null;
      const threads = list ? list.length : s.threads;
      assert.equal(await card('threads'), String(threads));
      const dur = parseDuration(await card('duration'));
      assert.ok(Math.abs(dur - s.duration_ns) <= s.duration_ns * 0.01, `duration ${dur} vs ${s.duration_ns}`);
      if (s.dropped_events > 0) assert.ok(await page.isVisible('.alert[data-alert="dropped"]'));
      else assert.equal(await card('dropped'), '0');
      const kinds = await page.$$eval('.kinds-table tbody code', (cs) => cs.map((c) => c.textContent));
      assert.deepEqual([...kinds].sort(), Object.keys(s.events_by_kind).sort());
      await screenshot(page, `${shots}-summary`);
      assert.deepEqual(errorsOf(page), []);
      // nothing in any view so far asked for anything beyond 127.0.0.1
      assert.deepEqual(browser.external, []);
    });
  });
}
