// tree.test.mjs - a process tree as one timeline, on the real server: a
// trace of tests/progs/forkexec.c under `ctrace run` (a parent forks a
// child that execs the program again and exits 3: three process images,
// opened together by `ctrace view`). The process groups are there in tree
// order (indented by depth), each thread row names its pid; collapsing a
// process makes its threads one summary row and expanding brings them
// back; clicking the fork arrow selects the child (the panel shows it) and
// the child's header links back to the parent's fork; the Threads page has
// a Process column and per-process subtotals.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, CTRACE, startView, launchBrowser, openView, tempDir, viewUnavailable, errorsOf, probe, screenshot } from './harness.mjs';

const PROG = path.join(BUILD_DIR, 'src', 'preload', 'prog_forkexec');
let why = await viewUnavailable();
if (!why && !fs.existsSync(PROG)) why = `${PROG} does not exist (build with the preload)`;

async function waitLoaded(page) {
  await page.waitForFunction(() => {
    const r = document.querySelector('.tl');
    return r && r.dataset.ready === 'true' && r.dataset.loading === 'false';
  }, null, { timeout: 20_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

describe('a process tree on the timeline', { skip: why || false }, () => {
  let dir, view, browser, page, sum;
  before(async () => {
    dir = await tempDir();
    const file = path.join(dir, 'fe.ctrace');
    await promisify(execFile)(CTRACE, ['run', '-o', file, '--', PROG],
      { timeout: 60_000, env: { ...process.env, CTRACE_SCHED: 'off' } });
    view = await startView(file);
    sum = await (await fetch(`${view.url}api/summary`)).json();
    browser = await launchBrowser({ width: 1280, height: 720 });
    page = await browser.newPage();
    await openView(page, view.url, '#/timeline');
    await waitLoaded(page);
  });
  after(async () => {
    await browser?.close();
    await view?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the processes are groups in tree order, each thread under its own, pid shown', async () => {
    assert.equal(sum.process_list.length, 3, JSON.stringify(sum.process_list));
    const byOrder = [...sum.process_list].sort((a, b) => a.order - b.order);
    const procs = await probe(page, 'procs');
    assert.deepEqual(procs.map((p) => p.index), byOrder.map((p) => p.index));
    assert.deepEqual(procs.map((p) => p.depth), [0, 1, 2]); // parent, forked child, the image it exec'd
    assert.deepEqual(procs.map((p) => p.pid), byOrder.map((p) => p.pid));
    for (let i = 1; i < procs.length; i++) assert.ok(procs[i].y > procs[i - 1].y, 'headers top to bottom');
    const rows = await probe(page, 'rows');
    assert.equal(rows.length, 3);
    for (let i = 0; i < rows.length; i++) {
      assert.equal(rows[i].process, byOrder[i].index, 'each thread under its own process');
      assert.equal(rows[i].pid, byOrder[i].pid);
      // under its process's header, above the next one (content coordinates)
      assert.ok(rows[i].y > procs[i].contentY && (i + 1 === procs.length || rows[i].y < procs[i + 1].contentY));
    }
    await screenshot(page, 'tree-timeline', { fullPage: false });
  });

  test('collapsing a process makes its threads one summary row; expanding brings them back', async () => {
    const procs = await probe(page, 'procs');
    await page.mouse.click(procs[1].x, procs[1].y);
    await page.waitForFunction(() => document.querySelector('.tl').probe.procs()[1].collapsed);
    let rows = await probe(page, 'rows');
    assert.equal(rows.length, 3);
    assert.equal(rows[1].process, procs[1].index);
    assert.ok(rows[1].group !== undefined, 'a summary row');
    assert.equal(rows[1].members.length, 1);
    assert.equal(rows[0].tid, sum.process_list.find((p) => p.order === 0).main_tid);
    await screenshot(page, 'tree-collapsed', { fullPage: false });
    // the root collapsed too: its row becomes a summary, the others stay
    await page.mouse.click(procs[0].x, procs[0].y);
    await page.waitForFunction(() => document.querySelector('.tl').probe.procs()[0].collapsed);
    rows = await probe(page, 'rows');
    assert.ok(rows[0].group !== undefined && rows[1].group !== undefined && rows[2].group === undefined);
    // expand both: the summary row's label, then the header
    const l1 = await probe(page, 'labelAt', 1);
    await page.mouse.click(l1.x, l1.y);
    await page.waitForFunction(() => !document.querySelector('.tl').probe.procs()[1].collapsed);
    const p0 = (await probe(page, 'procs'))[0];
    await page.mouse.click(p0.x, p0.y);
    await page.waitForFunction(() => !document.querySelector('.tl').probe.procs()[0].collapsed);
    rows = await probe(page, 'rows');
    assert.ok(rows.every((r) => r.group === undefined && r.tid));
    // the tracks filter names processes too: the root's pid leaves its group alone
    const root = sum.process_list.find((p) => p.order === 0);
    await page.fill('[data-action="track-filter"]', String(root.pid));
    await page.waitForFunction(() => document.querySelector('.tl').probe.procs().length < 3);
    rows = await probe(page, 'rows');
    assert.ok(rows.some((r) => r.process === root.index));
    assert.ok(rows.every((r) => String(r.pid).includes(String(root.pid))), 'only processes the filter names');
    await page.fill('[data-action="track-filter"]', '');
    await page.waitForFunction(() => document.querySelector('.tl').probe.procs().length === 3);
  });

  test('the fork arrow goes to the child; the child\'s header links back to the fork', async () => {
    const links = await probe(page, 'procLinks');
    assert.deepEqual(links.map((l) => l.kind).sort(), ['exec', 'fork']);
    const fork = links.find((l) => l.kind === 'fork');
    assert.ok(fork.y0 !== null && fork.y1 !== null && fork.y1 > fork.y0, 'from the parent\'s row down to the child\'s');
    // click on the arrow, between its ends
    await page.mouse.click(fork.x0 + (fork.x1 - fork.x0) * 0.6, fork.y0 + (fork.y1 - fork.y0) * 0.6);
    await page.waitForFunction((c) => document.querySelector('.tl').dataset.proc === String(c), fork.child);
    const child = sum.process_list.find((p) => p.index === fork.child);
    const title = await page.textContent('.tl-details h2');
    assert.match(title, new RegExp(`Process ${child.pid}`));
    const sel = await probe(page, 'selected');
    assert.equal(sel.kind, 'proclink');
    const head = (await probe(page, 'procs')).find((p) => p.index === fork.child);
    const box = await probe(page, 'rowBox', child.main_tid);
    assert.ok(head.y >= box.visibleTop && head.y <= box.visibleBottom, 'the child is on screen');
    await screenshot(page, 'tree-fork-clicked', { fullPage: false });
    // the panel's way back: the parent's fork, with its stack
    await page.click('[data-action="go-fork"]');
    await page.waitForFunction((p) => document.querySelector('.tl').dataset.proc === String(p), fork.process);
    assert.match(await page.textContent('.tl-details h2'), /Fork/);
    assert.ok((await page.$$('.tl-details .tl-stack li')).length > 0, 'the fork call\'s stack');
    // the exec'd image's header links back to the exec in the image it replaced
    const exec = links.find((l) => l.kind === 'exec');
    const img = (await probe(page, 'procs')).find((p) => p.index === exec.child);
    assert.ok(img.back, 'a link back on the header');
    await page.mouse.click(img.back.x, img.y);
    await page.waitForFunction((p) => document.querySelector('.tl').dataset.proc === String(p), exec.process);
    assert.match(await page.textContent('.tl-details h2'), /Exec/);
    await screenshot(page, 'tree-exec-back', { fullPage: false });
    assert.deepEqual(errorsOf(page), []);
  });

  test('the Threads page has a Process column and per-process subtotals', async () => {
    await openView(page, view.url, '#/threads');
    await page.waitForSelector('[data-section="processes"] tbody tr');
    const procRows = await page.$$eval('[data-section="processes"] tbody tr', (trs) => trs.map((tr) => tr.textContent));
    assert.equal(procRows.length, 3);
    assert.match(procRows[2], /exit 3/);
    const heads = await page.$$eval('.threads-table:not(.procs-table) thead th', (ths) => ths.map((t) => t.textContent));
    assert.ok(heads.some((t) => /Process/.test(t)), heads.join('|'));
    await screenshot(page, 'tree-threads', { fullPage: true });
    assert.deepEqual(errorsOf(page), []);
  });
});

const TREEREC = path.join(BUILD_DIR, 'src', 'preload', 'prog_treerec');
describe('data edges between processes', { skip: why || (!fs.existsSync(TREEREC) && `${TREEREC} does not exist`) || false }, () => {
  let dir, view, browser, page, total;
  before(async () => {
    dir = await tempDir();
    const file = path.join(dir, 'pipe.ctrace');
    // a forked child writes 6 messages into a pipe, the parent reads them (every call recorded)
    const { stdout } = await promisify(execFile)(CTRACE, ['run', '-o', file, '--', TREEREC, 'fork_pipe', '6'],
      { timeout: 60_000, env: { ...process.env, CTRACE_SCHED: 'off', CTRACE_MIN_NS: '0' } });
    total = Number(/total (\d+)/.exec(stdout)[1]);
    view = await startView(file);
    browser = await launchBrowser({ width: 1280, height: 720 });
    page = await browser.newPage();
    await openView(page, view.url, '#/timeline');
    await waitLoaded(page);
  });
  after(async () => {
    await browser?.close();
    await view?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every byte written by the child is a "data from" edge to the parent\'s read', async () => {
    await page.waitForFunction(() => document.querySelector('.tl').probe.flows().length > 0);
    const flows = await probe(page, 'flows');
    assert.ok(flows.every((f) => f.kind === 'data' && f.via === 'pipe'));
    assert.equal(flows.reduce((n, f) => n + f.bytes, 0), total);
    const procs = await probe(page, 'procs');
    assert.equal(procs.length, 2);
    const [child] = (await probe(page, 'rows')).filter((r) => r.process !== procs[0].index);
    assert.ok(flows.every((f) => f.from === child.tid && f.to !== child.tid), 'from the child to the parent');
    // zoom to the writes: the arrows are drawn there
    const a = Math.min(...flows.map((f) => f.t0)), b = Math.max(...flows.map((f) => f.t1));
    await page.evaluate(([s, e]) => { location.hash = `#/timeline?start_ns=${Math.floor(s - (e - s) * 0.2 - 1000)}&end_ns=${Math.ceil(e + (e - s) * 0.2 + 1000)}`; }, [a, b]);
    await waitLoaded(page);
    await screenshot(page, 'tree-data-edges', { fullPage: false });
    assert.deepEqual(errorsOf(page), []);
  });
});
