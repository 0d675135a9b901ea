// viewperf.test.mjs - what the viewer says about big or damaged traces, on
// the mock server (mock-server.mjs): the Tasks & regions page counts the
// tasks and regions that never ended (left out of its latencies, as
// /api/tasks' "unended" says) and shows the count per name.
// Screenshots: test-artifacts/viewperf-*.png.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startMockServer, launchBrowser, openView, screenshot, errorsOf } from './harness.mjs';
import { makeMockData } from './mock-data.mjs';

describe('tasks that never ended', () => {
  let server, browser, page;
  before(async () => {
    const data = makeMockData();
    data.tasks = {
      ...data.tasks,
      tasks: data.tasks.tasks.map((t) => (t.name === 'handleRequest' ? { ...t, unended: 2 } : { ...t, unended: 0 })),
      regions: data.tasks.regions.map((r) => ({ ...r, unended: 0 })),
      unended: { tasks: 2, regions: 5 },
    };
    server = await startMockServer({ data });
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the page says how many were left out, in all and per name', async () => {
    assert.equal(await openView(page, server.url, '#/tasks?kind=task&name=handleRequest'), 'ready');
    const note = page.locator('.unended-note');
    await note.waitFor();
    assert.match(await note.textContent(), /2 tasks and 5 regions never ended/);
    assert.match(await note.textContent(), /left out of these statistics/);
    assert.equal(await note.getAttribute('data-regions'), '5');
    // the shown name's numbers say how many of its instances are not in them
    const stats = page.locator('.detail-panel');
    await stats.getByText('Never ended').waitFor();
    assert.match(await stats.textContent(), /Never ended\s*2 \(left out\)/);
    await screenshot(page, 'viewperf-tasks-unended');
    assert.deepEqual(errorsOf(page), []);
  });

  test('no note when everything ended', async () => {
    const data = makeMockData();
    const plain = await startMockServer({ data });
    const p2 = await browser.newPage();
    try {
      assert.equal(await openView(p2, plain.url, '#/tasks'), 'ready');
      assert.equal(await p2.locator('.unended-note').count(), 0);
      assert.equal(await p2.locator('.detail-panel').getByText('Never ended').count(), 0);
    } finally {
      await p2.close();
      await plain.close();
    }
  });
});
