// timeline-format.test.mjs - /api/timeline's two binary forms (docs/API.md)
// carry the same window: on a synthetic trace (bench/gen_trace --mix:
// crowded logs, regions, tasks, blocked spans), decoded by the page's own
// decoder (web/timeline-model.js), the columnar form (format=2) has, at
// full width and zoomed in, every span of format 1 inside a span of the
// same state (neighbouring merged runs joined, their counts summed), the
// same regions that are not merged, the same logs (without their texts
// where they are dense), tasks, wake-ups and creations; and it is smaller.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, REPO, startView, tempDir, viewUnavailable } from './harness.mjs';

const why = await viewUnavailable();
const GEN = path.join(BUILD_DIR, 'bench', 'gen_trace');

if (why && !process.env.CI) {
  test('the timeline answer in both formats', { skip: why }, () => {});
} else {
  describe('the timeline answer in both formats (gen_trace --mix)', () => {
    let server, decode, sum;
    before(async () => {
      const dir = await tempDir();
      const file = path.join(dir, 'mix.ctrace');
      await promisify(execFile)(GEN, ['--mix', file, '200000', '8'], { timeout: 120_000 });
      server = await startView(file);
      ({ decode } = await import(path.join(REPO, 'web', 'timeline-model.js')));
      sum = await (await fetch(`${server.url}api/summary`)).json();
    });
    after(async () => {
      await server?.close();
    });

    async function both(q) {
      const get = async (f) => {
        const res = await fetch(`${server.url}api/timeline?${q}&format=${f}`);
        assert.equal(res.status, 200);
        return res.arrayBuffer();
      };
      const [b1, b2] = [await get(1), await get(2)];
      return { b1, b2, d1: decode(b1), d2: decode(b2) };
    }

    for (const [what, q] of [
      ['full width', () => 'width=1200'],
      ['zoomed in', () => `width=1200&start_ns=${Math.round(sum.start_ns + (sum.end_ns - sum.start_ns) * 0.4)}&end_ns=${Math.round(sum.start_ns + (sum.end_ns - sum.start_ns) * 0.41)}`],
    ]) {
      test(`the same window, ${what}`, async () => {
        const { b1, b2, d1, d2 } = await both(q());
        assert.ok(b2.byteLength <= b1.byteLength, `format 2 ${b2.byteLength} bytes, format 1 ${b1.byteLength}`);
        assert.deepEqual([d2.start, d2.end, d2.nsPerPx], [d1.start, d1.end, d1.nsPerPx]);
        assert.deepEqual([...d2.rows.keys()], [...d1.rows.keys()]);
        let spans = 0, logs = 0, dense = 0;
        for (const [k, r1] of d1.rows) {
          const r2 = d2.rows.get(k);
          const s1 = [...r1.spans], s2 = [...r2.spans];
          assert.ok(s2.length <= s1.length);
          let j = 0;
          for (const s of s1) {
            while (j < s2.length && s2[j].e <= s.s) j++;
            assert.ok(s2[j] && s2[j].s <= s.s && s.e <= s2[j].e && s2[j].state === s.state, `row ${k}: span ${JSON.stringify(s)} in ${JSON.stringify(s2[j])}`);
            if (!s.merged) assert.deepEqual(s2[j], s, `row ${k}: an unmerged span is as it was`);
          }
          assert.equal(s2.reduce((n, s) => n + s.n, 0), s1.reduce((n, s) => n + s.n, 0), `row ${k}: the spans stand for as many`);
          spans += s1.length;
          assert.deepEqual([...r2.regions].filter((r) => !r.merged), r1.regions.filter((r) => !r.merged), `row ${k}: regions`);
          const l2 = [...r2.logs];
          assert.equal(l2.length, r1.logs.length, `row ${k}: logs`);
          r1.logs.forEach((l, i) => {
            assert.equal(l2[i].t, l.t);
            assert.equal(l2[i].n, l.n);
            if (l2[i].dense) dense++;
            else assert.deepEqual([l2[i].task, l2[i].category, l2[i].message], [l.task, l.category, l.message]);
          });
          logs += l2.length;
        }
        assert.ok(spans > 0 && (logs > 0 || what !== 'full width'), `spans ${spans}, logs ${logs}`);
        if (what === 'full width') assert.ok(dense > 0, 'crowded logs are sent without their texts');
        assert.deepEqual(d2.tasks, d1.tasks);
        assert.deepEqual(d2.wakes, d1.wakes);
        assert.equal(d2.wakesTotal, d1.wakesTotal);
        assert.deepEqual(d2.creates, d1.creates);
      });
    }

    test('format is 1 or 2', async () => {
      for (const f of ['0', '3', 'x']) assert.equal((await fetch(`${server.url}api/timeline?format=${f}`)).status, 400);
    });
  });
}
