// shell.test.mjs - the viewer's shell and non-timeline views against the mock
// server (mock-server.mjs): fast, needs no C build. Also covers what the real
// trace cannot show on demand: dropped events and tracer overhead, server
// errors, and the placeholder when timeline.js is missing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { startMockServer, launchBrowser, openView, screenshot, tempDir, errorsOf } from './harness.mjs';
import { WEB_DIR } from './mock-server.mjs';
import { makeMockData } from './mock-data.mjs';
import { viewerSuite, recordNavigations, firstNavigation } from './viewer-checks.mjs';

viewerSuite({
  label: 'viewer on the mock server',
  start: () => startMockServer(),
  shots: 'mock',
  expect: { threadNames: ['main', 'acceptor', 'handler'], handleRequest: { count: 3, p50Min: 45e6, p50Max: 150e6, topState: 'sleep' } },
});

describe('shell edge cases (mock server)', () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    if (browser) await browser.close();
  });

  test('dropped events, tracer overhead and an incomplete trace are shown prominently', async () => {
    const data = makeMockData({ summary: { dropped_events: 1234, tracer_overhead_ns: 2_500_000, tracer_events: 17, complete: false, read_error: 'truncated batch at offset 4096' } });
    const server = await startMockServer({ data });
    const page = await browser.newPage();
    try {
      assert.equal(await openView(page, server.url, '#/summary'), 'ready');
      assert.match(await page.textContent('.alert[data-alert="dropped"]'), /1,234\s*events were dropped/);
      assert.match(await page.textContent('.alert[data-alert="overhead"]'), /2\.50 ms\s*spent inside the tracer/);
      assert.match(await page.textContent('.alert[data-alert="incomplete"]'), /offset 4096/);
      assert.equal(await page.locator('.card[data-card="dropped"]').count(), 0, 'no "0 dropped" card');
      await page.waitForSelector('#trace-alert:not([hidden])');
      assert.match(await page.textContent('#trace-alert'), /1,234 events dropped/);
      await screenshot(page, 'mock-summary-alerts');
    } finally {
      await page.close();
      await server.close();
    }
  });

  test('a failing endpoint gives a readable error, not a blank page', async () => {
    const data = makeMockData();
    data.threads = null; // the mock then answers 500 below
    const server = await startMockServer({ data, failures: { '/api/threads': [500, 'index not ready'] } });
    const page = await browser.newPage();
    try {
      await openView(page, server.url, '#/threads');
      assert.match(await page.textContent('.error-box'), /index not ready/);
      assert.match(await page.textContent('.error-box'), /HTTP 500/);
    } finally {
      await page.close();
      await server.close();
    }
  });

  test('without timeline.js the Timeline tab shows a placeholder and the other tabs work', async () => {
    const dir = await tempDir();
    for (const f of await fsp.readdir(WEB_DIR)) {
      if (!f.startsWith('timeline.')) await fsp.copyFile(path.join(WEB_DIR, f), path.join(dir, f));
    }
    const server = await startMockServer({ webDir: dir });
    const page = await browser.newPage();
    try {
      assert.equal(await openView(page, server.url, ''), 'error');
      assert.match(await page.textContent('main#view'), /Timeline is not available/);
      await page.click('main#view a[href="#/threads"]');
      await page.waitForSelector('main#view[data-view="threads"][data-state="ready"]');
      assert.ok((await page.locator('.threads-table tbody tr').count()) > 0);
    } finally {
      await page.close();
      await server.close();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  test('an instance links to its blocking profile, which filters by thread and time range', async () => {
    const server = await startMockServer();
    const page = await browser.newPage();
    const profileRequests = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/profile?')) profileRequests.push(new URL(r.url()).searchParams);
    });
    try {
      await openView(page, server.url, '#/tasks?kind=task&name=handleRequest');
      await page.waitForSelector('.instances-table tbody tr[data-key] button.link-btn');
      await page.click('.instances-table tbody tr[data-key]:first-child button.link-btn');
      await page.waitForSelector('main#view[data-view="profiles"][data-state="ready"]');
      const q = new URLSearchParams((await page.evaluate(() => location.hash)).split('?')[1]);
      assert.equal(q.get('tid'), '8898');
      assert.equal(q.get('kind'), 'sleep', 'the kind where the instance spent its blocked time (50.5 ms asleep)');
      assert.equal(q.get('start_ns'), '1382555');
      assert.equal(q.get('end_ns'), '52150583');
      assert.ok(profileRequests.some((p) => p.get('tid') === '8898' && p.get('start_ns') === '1382555' && p.get('end_ns') === '52150583'), 'the profile request carries the filter');
      assert.equal(await page.inputValue('select.thread-filter'), '8898');
      assert.match(await page.textContent('.filter-note'), /from 1\.383 ms to 52\.151 ms/);
      assert.match(await page.getAttribute('.profile-body a[download]', 'href') || '', /tid=8898/);
      // another thread, then the whole trace
      await page.selectOption('select.thread-filter', '8899');
      await page.waitForFunction(() => location.hash.includes('tid=8899'));
      await page.waitForSelector('main#view[data-view="profiles"][data-state="ready"]');
      await page.click('.filter-note button');
      await page.waitForFunction(() => !location.hash.includes('start_ns'));
      await page.waitForSelector('main#view[data-view="profiles"][data-state="ready"]');
      assert.equal(await page.locator('.filter-note').count(), 0);
      assert.deepEqual(errorsOf(page), []);
    } finally {
      await page.close();
      await server.close();
    }
  });

  test('a thread links to its blocking profile', async () => {
    const server = await startMockServer();
    const page = await browser.newPage();
    try {
      await openView(page, server.url, '#/threads');
      await page.click('.threads-table tbody tr[data-key="8899"] button.link-btn');
      await page.waitForSelector('main#view[data-view="profiles"][data-state="ready"]');
      assert.match(await page.evaluate(() => location.hash), /^#\/profiles\?(.*&)?tid=8899/);
      assert.match(await page.evaluate(() => location.hash), /[?&]kind=sleep(&|$)/, 'the kind where the thread spent its blocked time');
      assert.equal(await page.inputValue('select.thread-filter'), '8899');
    } finally {
      await page.close();
      await server.close();
    }
  });

  test('durations, counts and percentages read well (web/format.js)', async () => {
    const server = await startMockServer();
    const page = await browser.newPage();
    try {
      await openView(page, server.url, '#/summary');
      const got = await page.evaluate(async () => {
        const f = await import('/format.js');
        return {
          d: [0, 850, 1500, 52_100_000, 1_234_000_000, 99_999, 999_999].map(f.formatDuration),
          step: [f.formatDurationStep(50_254_705, 27_000), f.formatDurationStep(50_364_433, 27_000), f.formatDurationStep(75_413, 3_300)],
          t: [0, 1_382_555, 2_500_000_000].map(f.formatTime),
          c: f.formatCount(10_000_000),
          b: [999, 1210, 5_300_000, 999_999].map(f.formatBytes),
          p: [f.formatPercent(1, 3), f.formatPercent(1, 2000), f.formatPercent(996, 1000), f.formatPercent(1, 0), f.formatPercent(5, 100)],
        };
      });
      assert.deepEqual(got.d, ['0', '850 ns', '1.50 µs', '52.1 ms', '1.23 s', '100 µs', '1.00 ms']);
      assert.deepEqual(got.step, ['50.25 ms', '50.36 ms', '75.4 µs']);
      assert.deepEqual(got.t, ['0 ns', '1.383 ms', '2.500000 s']);
      assert.equal(got.c, '10,000,000');
      assert.deepEqual(got.b, ['999 B', '1.21 kB', '5.30 MB', '1.00 MB']);
      assert.deepEqual(got.p, ['33%', '<0.1%', '>99%', '', '5.0%']);
    } finally {
      await page.close();
      await server.close();
    }
  });

  test('the flame graph zooms into a frame and back', async () => {
    const server = await startMockServer();
    const page = await browser.newPage();
    try {
      await openView(page, server.url, '#/profiles?kind=net');
      const before = await page.locator('.flame .flame-node').count();
      await page.click('.flame .flame-node:has-text("serve")');
      assert.match(await page.textContent('.breadcrumb'), /all stacks.*›.*serve/);
      const after = await page.locator('.flame .flame-node').count();
      assert.ok(after < before, `zoomed: ${after} boxes of ${before}`);
      // the zoomed frame spans the whole width
      const w = await page.$eval('.flame .flame-node', (el) => el.style.width);
      assert.equal(w, '100%');
      await page.click('.breadcrumb button:has-text("all stacks")');
      assert.equal(await page.locator('.flame .flame-node').count(), before);
    } finally {
      await page.close();
      await server.close();
    }
  });

  test('rows open with the keyboard (Tab to a row, Enter)', async () => {
    const server = await startMockServer();
    const page = await browser.newPage();
    try {
      await openView(page, server.url, '#/threads');
      await recordNavigations(page);
      await page.focus('.threads-table tbody tr[data-key="8897"]');
      await page.keyboard.press('Enter');
      assert.equal(await firstNavigation(page, '#/timeline'), '#/timeline?tids=8897');
    } finally {
      await page.close();
      await server.close();
    }
  });

  test('an unknown route falls back to the default view; tabs are links', async () => {
    const server = await startMockServer();
    const page = await browser.newPage();
    try {
      await openView(page, server.url, '#/summary');
      const hrefs = await page.$$eval('#tabs a', (as) => as.map((a) => a.getAttribute('href')));
      assert.deepEqual(hrefs, ['#/timeline', '#/threads', '#/tasks', '#/profiles', '#/summary']);
      await page.goto(`${server.url}#/no-such-view`);
      await page.waitForSelector('main#view[data-view="timeline"]');
      assert.equal(await page.getAttribute('#tabs a[data-view=\"timeline\"]', 'aria-current'), 'page');
    } finally {
      await page.close();
      await server.close();
    }
  });
});
