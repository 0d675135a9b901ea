// short-stacks.test.mjs - stacks that a frame-pointer walk cut short say
// so, in headless Chromium against the real `ctrace view`: sqlite3 (Debian
// builds it without frame pointers) traced with `--unwind fp` blocks in
// file calls whose stacks end inside libsqlite3; the Blocking profiles page
// and the details panel of such a call name the fix (--unwind cfi). The
// same program traced with the default unwinder has whole stacks and no
// such note. Screenshot: test-artifacts/short-stacks-fp.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CTRACE, startView, launchBrowser, openView, screenshot, tempDir, viewUnavailable, errorsOf } from './harness.mjs';

const SQLITE = '/usr/bin/sqlite3';
const why = (await viewUnavailable()) || (fs.existsSync(SQLITE) ? false : 'no /usr/bin/sqlite3 (apt-get install sqlite3)');

describe('stacks cut short by a frame-pointer walk', { skip: why || false }, () => {
  let dir, fp, cfi, browser, page;
  const traceOf = async (name, unwind) => {
    const file = path.join(dir, name);
    const db = path.join(dir, `${name}.db`);
    const sql = 'create table t(a); insert into t values(1); insert into t values(2); select count(*) from t;';
    await promisify(execFile)(CTRACE, ['run', '--unwind', unwind, '--min-duration', '0', '-o', file, '--', SQLITE, db, sql], { timeout: 60_000 });
    return file;
  };
  before(async () => {
    dir = await tempDir();
    fp = await startView(await traceOf('fp.ctrace', 'fp'));
    cfi = await startView(await traceOf('cfi.ctrace', 'cfi'));
    browser = await launchBrowser({ width: 1400, height: 900 });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await fp?.close();
    await cfi?.close();
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  });

  test('the profile says which stacks may be cut short and names the fix; whole stacks do not', async () => {
    assert.equal(await openView(page, fp.url, '#/profiles?kind=syscall'), 'ready');
    await page.waitForSelector('.stacks-table');
    const note = page.locator('.alert.short-stack');
    assert.equal(await note.count(), 1);
    assert.match(await note.textContent(), /may be cut short: .*frame pointers.*--unwind cfi/);
    assert.ok(Number(await note.getAttribute('data-short')) > 0);
    // every stack's innermost frame is its call
    const firsts = await page.$$eval('.stacks-table tbody summary code', (cs) => cs.map((c) => c.textContent));
    assert.ok(firsts.length > 0 && firsts.every((t) => /^\[[a-z0-9_ ]+\]/.test(t)), firsts.join(' | '));
    await screenshot(page, 'short-stacks-fp', { fullPage: false });
    assert.equal(await openView(page, cfi.url, '#/profiles?kind=syscall'), 'ready');
    await page.waitForSelector('.stacks-table');
    assert.equal(await page.locator('.alert.short-stack').count(), 0);
    assert.deepEqual(errorsOf(page), []);
  });
});
