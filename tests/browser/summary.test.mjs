// summary.test.mjs - the Summary page's scheduling line, in headless
// Chromium against the real `ctrace view`: the same words as `ctrace
// stats` ("scheduling  not recorded (reason)", or "recorded: N context
// switches on C CPUs, L records lost", and the sched_fds property when the
// program took the events' fds). A trace without scheduling data
// (gen_trace); one with it where perf_event_open is allowed (ctrace run of
// tests/progs/sched_load; skipped with the reason elsewhere); lost records
// and taken fds through a rewritten /api/summary (a run cannot be made to
// lose them on purpose). Screenshots: test-artifacts/summary-*.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, CTRACE, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf } from './harness.mjs';

const why = await viewUnavailable();
const GEN = path.join(BUILD_DIR, 'bench', 'gen_trace');
const LOAD = path.join(BUILD_DIR, 'src', 'preload', 'prog_sched_load');
const missing = why || (!fs.existsSync(GEN) && `${GEN} not built`);
const run = promisify(execFile);

/** The "scheduling" line of `ctrace stats FILE`, after its label. */
async function statsLine(file) {
  const { stdout } = await run(CTRACE, ['stats', file]);
  const line = stdout.split('\n').find((l) => l.startsWith('scheduling'));
  assert.ok(line, stdout);
  return line.replace(/^scheduling\s+/, '').replace(/\s+<--.*$/, '');
}

const schedText = (page, which) => page.locator(`[data-sched="${which}"]`).textContent();

describe('the Summary page\'s scheduling line', { skip: (!process.env.CI && missing) || false }, () => {
  let dir, plain, browser;
  before(async () => {
    dir = await tempDir();
    plain = path.join(dir, 'mix.ctrace');
    await run(GEN, ['--mix', plain, '20000', '2'], { timeout: 60_000 });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  test('a trace without scheduling data says "not recorded" and why, as ctrace stats does', async () => {
    const view = await startView(plain);
    const page = await browser.newPage();
    const errors = errorsOf(page);
    try {
      assert.equal(await openView(page, view.url, '#/summary'), 'ready');
      const want = await statsLine(plain); // "not recorded (the recorder did not record it)"
      assert.match(want, /^not recorded \(.+\)$/);
      assert.equal((await schedText(page, 'not-recorded')).trim(), `Scheduling: ${want}`);
      assert.equal(await page.locator('[data-sched="recorded"]').count(), 0);
      await screenshot(page, 'summary-not-recorded', { fullPage: false });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await view.close();
    }
  });

  test('a trace with scheduling data gives its switches, CPUs and lost records, as ctrace stats does', async (t) => {
    let file = path.join(dir, 'spin.ctrace');
    try {
      await run(CTRACE, ['run', '--sample-hz', '1000', '-o', file, '--', LOAD, 'cpu', '2', '60'], { timeout: 60_000 });
    } catch (e) {
      file = null;
      t.skip(`ctrace run failed: ${e.message}`);
    }
    if (!file) return;
    const want = await statsLine(file);
    if (!want.startsWith('recorded')) {
      t.skip(`scheduling ${want}`);
      return;
    }
    const view = await startView(file);
    const page = await browser.newPage();
    const errors = errorsOf(page);
    try {
      assert.equal(await openView(page, view.url, '#/summary'), 'ready');
      const text = (await schedText(page, 'recorded')).trim();
      // stats says "on 1 CPUs"; the page "on 1 CPU"
      const words = want.replace(/(\d+) context/, (_, n) => `${Number(n).toLocaleString('en-US')} context`).replace(/ on 1 CPUs/, ' on 1 CPU');
      assert.ok(text.startsWith(`Scheduling: ${words}`), `${text} / ${want}`);
      assert.match(text, /CPU samples/);
      await screenshot(page, 'summary-recorded', { fullPage: false });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await view.close();
    }
  });

  test('lost records and fds taken by the program are flagged (a rewritten summary)', async () => {
    const view = await startView(plain);
    const p = await browser.newPage();
    const errs = errorsOf(p);
    try {
      const taken = '2 of 4 events\' fds were taken by the program (dup2): their scheduling data ends there';
      await p.route(/\/api\/summary$/, async (route) => {
        const r = await route.fetch();
        const sum = await r.json();
        sum.sched = { ...sum.sched, recorded: true, samples: 'off: not recorded', switches: 12345, lost: 7, cpu_samples: 0, cpus: 2, fds_taken: taken };
        delete sum.sched.reason;
        await route.fulfill({ response: r, json: sum });
      });
      assert.equal(await openView(p, view.url, '#/summary'), 'ready');
      const text = (await schedText(p, 'recorded')).trim();
      assert.ok(text.startsWith('Scheduling: recorded: 12,345 context switches on 2 CPUs, 7 records lost — some switches are missing'), text);
      assert.match(text, /0 CPU samples \(off: not recorded\)/);
      assert.equal((await schedText(p, 'fds-taken')).trim(), `Scheduling data cut short: ${taken} — some switches are missing`);
      await screenshot(p, 'summary-sched-lost', { fullPage: false });
      assert.deepEqual(errs, []);
    } finally {
      await p.close();
      await view.close();
    }
  });
});
