// views.test.mjs - the non-timeline views against the real `ctrace view`
// serving a fresh trace of examples/http_task (3 requests): the same checks
// as shell.test.mjs runs on the mock (viewer-checks.mjs), on real data.
// Needs the C build in CTRACE_BUILD_DIR (default build). Skipped, with the
// reason, when that build has no `ctrace view`, except under CI=true where
// that is a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import { promisify } from 'node:util';
import { CTRACE, makeHttpTaskTrace, startView, viewUnavailable } from './harness.mjs';
import { viewerSuite } from './viewer-checks.mjs';

const why = await viewUnavailable();

if (why && !process.env.CI) {
  test('viewer on ctrace view', { skip: why }, () => {});
} else {
  let trace = null;
  viewerSuite({
    label: 'viewer on ctrace view (http_task trace)',
    start: async () => {
      if (why) throw new Error(why);
      trace = await makeHttpTaskTrace(3);
      const server = await startView(trace.file);
      return {
        ...server,
        close: async () => {
          await server.close();
          await fsp.rm(trace.dir, { recursive: true, force: true });
        },
      };
    },
    shots: 'view',
    // p50 of handleRequest: a 50 ms nanosleep plus a little; the upper bound
    // allows for a loaded 2-core machine.
    expect: { threadNames: ['main', 'acceptor', 'handler'], handleRequest: { count: 3, p50Min: 49e6, p50Max: 500e6 } },
  });

  test('/api/summary carries the numbers of `ctrace stats --json`', async () => {
    if (why) throw new Error(why);
    const t = await makeHttpTaskTrace(2);
    const server = await startView(t.file);
    try {
      const { stdout } = await promisify(execFile)(CTRACE, ['stats', '--json', t.file]);
      const stats = JSON.parse(stdout);
      const summary = await (await fetch(`${server.url}api/summary`)).json();
      for (const k of ['duration_ns', 'events', 'tasks', 'regions', 'logs', 'dropped_events', 'bytes']) {
        assert.equal(summary[k], stats[k], k);
      }
      // counts, or (as the server sends them now) the lists themselves
      for (const k of ['threads', 'processes']) {
        const v = Array.isArray(summary[k]) ? summary[k].length : summary[k];
        assert.equal(v, stats[k], k);
      }
      assert.deepEqual(summary.events_by_kind, stats.events_by_kind);
    } finally {
      await server.close();
      await fsp.rm(t.dir, { recursive: true, force: true });
    }
  });
}
