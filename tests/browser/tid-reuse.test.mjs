// tid-reuse.test.mjs - two threads of one process that got the same kernel
// tid (tests/progs/tid_reuse.c, forced in a pid namespace: needs root and
// unshare, else skipped with the reason) are two rows on the timeline, each
// drawn with its own spans: the page's decoder keys a later thread's row as
// tid#instance (web/timeline-model.js rowKey), checked on the real server's
// answer, and the page shows both rows.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, CTRACE, REPO, startView, launchBrowser, openView, tempDir, viewUnavailable, errorsOf } from './harness.mjs';

const PROG = path.join(BUILD_DIR, 'src', 'preload', 'prog_tid_reuse');
const UNSHARE = '/usr/bin/unshare';
let why = await viewUnavailable();
if (!why && process.getuid() !== 0) why = 'forcing tid reuse needs root (a pid namespace and ns_last_pid)';
if (!why && !fs.existsSync(UNSHARE)) why = 'no unshare (util-linux)';

describe('tid reuse on the timeline', { skip: why || false }, () => {
  let dir, view, browser, page, tid, pair;
  before(async () => {
    dir = await tempDir();
    const file = path.join(dir, 'reuse.ctrace');
    // the kernel may hand the tid out late: a few tries, each in a fresh namespace
    for (let attempt = 0; attempt < 4 && !pair; attempt++) {
      const { stdout } = await promisify(execFile)(UNSHARE,
        ['--kill-child', '--pid', '--fork', '--mount-proc', CTRACE, 'run', '-o', file, '--', PROG],
        { timeout: 60_000, env: { ...process.env, CTRACE_SCHED: 'off' } });
      const m = /tids (\d+) (\d+)/.exec(stdout);
      if (m && m[1] === m[2]) {
        tid = Number(m[1]);
        pair = true;
      }
    }
    if (!pair) return;
    view = await startView(file);
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await view?.close();
  });

  test('two rows, each with the spans of its own life', async (t) => {
    if (!pair) {
      t.skip('the kernel did not reuse the tid in 4 tries');
      return;
    }
    const sum = await (await fetch(`${view.url}api/summary`)).json();
    const two = sum.thread_list.filter((x) => x.tid === tid);
    assert.equal(two.length, 2);
    assert.deepEqual(two.map((x) => x.instance), [0, 1]);
    const { decode, rowKey } = await import(path.join(REPO, 'web', 'timeline-model.js'));
    const res = await fetch(`${view.url}api/timeline?start_ns=${sum.start_ns}&end_ns=${sum.end_ns}&width=2000&tids=${tid}`);
    assert.equal(res.status, 200);
    const d = decode(await res.arrayBuffer());
    for (const th of two) {
      const row = d.rows.get(rowKey(th));
      assert.ok(row, `a row for instance ${th.instance}`);
      const sleeps = row.spans.filter((s) => s.state === 5); // sleep (states.h)
      assert.ok(sleeps.length >= 1, `instance ${th.instance} sleeps`);
      for (const s of row.spans) {
        assert.ok(s.s >= th.first_ns - 1 && s.e <= th.last_ns + 1,
          `instance ${th.instance}: span ${s.s}..${s.e} inside its life ${th.first_ns}..${th.last_ns}`);
      }
      const names = row.regions.map((r) => r.name);
      assert.ok(names.includes(th.instance ? 'second.work' : 'first.work'), names.join(','));
    }
    await openView(page, view.url, '#/timeline');
    const rows = await page.evaluate(() => document.querySelector('.tl').probe.rows());
    const mine = rows.filter((r) => r.tid === tid).map((r) => r.name);
    assert.deepEqual(mine.sort(), ['first', 'second']);
    assert.deepEqual(errorsOf(page), []);
  });
});
