// What an open tab costs the node, and how the page lives through the node going away.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, openPage, login, until, settled, setHidden, assertClean, ARTIFACTS } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const tally = (actions) => actions.reduce((m, a) => ({ ...m, [a]: (m[a] || 0) + 1 }), {});

// Runs the page's clock for `secs` seconds, one second at a time, letting each poll round
// finish; returns the actions the page asked for meanwhile.
async function run(page, secs) {
  await page.evaluate(() => { window.__net.actions = []; });
  for (let i = 0; i < secs; i++) {
    await page.clock.runFor(1000);
    await settled(page);
  }
  return page.evaluate(() => window.__net.actions);
}

test('an idle tab: 16 requests a minute while visible, 2 while hidden, messages only when they change', async () => {
  const srv = await startServer();
  try {
    const page = await openPage(browser, srv, { clock: true });
    await login(page);
    await page.clock.pauseAt(Date.now() + 1000);
    await settled(page);
    const visible = tally(await run(page, 60));
    assert.deepEqual(visible, { messages_version_ui: 12, users: 4 });
    // Something new: `messages` once, then quiet again.
    await srv.send({ message: 'news', call_sign: 'W1AW' });
    const changed = tally(await run(page, 10));
    assert.equal(changed.messages, 1);
    await page.waitForSelector('#messages .msg .text >> text=news');
    await setHidden(page, true);
    await run(page, 5); // the round already planned at the visible pace
    const hidden = tally(await run(page, 120));
    assert.deepEqual(hidden, { messages_version_ui: 4 });
    // Back in view: it catches up at once.
    await page.evaluate(() => { window.__net.actions = []; });
    await setHidden(page, false);
    await settled(page);
    const back = tally(await page.evaluate(() => window.__net.actions));
    assert.ok(back.messages_version_ui >= 1 && back.users === 1, JSON.stringify(back));
    const perMinute = {
      visible_idle: Object.values(visible).reduce((a, b) => a + b, 0),
      hidden_idle: Object.values(hidden).reduce((a, b) => a + b, 0) / 2,
      visible_detail: visible,
    };
    writeFileSync(join(ARTIFACTS, 'requests-per-minute.json'), JSON.stringify(perMinute, null, 2) + '\n');
    // The status page tells the same figure to whoever looks.
    // (Waited for, not read at once: the click's requests may not have started when
    // `settled` first looks.)
    await page.click('#nav-status');
    const cost = await until(() => page.textContent('#tab-cost'), 'the status page\'s request count');
    await settled(page);
    assert.match(cost, /^\d+ requests to the node in the last minute\./);
    assertClean(page);
  } finally { await srv.close(); }
});

test('node unreachable: retries back off to one every 30 s, then it recovers by itself', async () => {
  const srv = await startServer();
  try {
    const page = await openPage(browser, srv, { clock: true });
    await login(page);
    await page.clock.pauseAt(Date.now() + 1000);
    await settled(page);
    await srv.stop();
    // Healthy, 2 minutes would be 24 version requests: here 5, 10, 20, then 30 s apart.
    const tries = tally(await run(page, 120));
    assert.deepEqual(tries, { messages_version_ui: 6 });
    assert.equal(await page.textContent('#conn-state'), 'Connection lost, retrying');
    await srv.start();
    await run(page, 30);
    assert.equal(await page.textContent('#conn-state'), 'Online');
    assertClean(page);
  } finally { await srv.close(); }
});

test('node stopped: "connection lost, retrying", messages fail visibly; restarted: recovers, retry delivers', async () => {
  const srv = await startServer();
  try {
    const page = await openPage(browser, srv);
    await login(page);
    await srv.send({ message: 'before the outage', call_sign: 'W1AW' });
    await page.waitForSelector('#messages .msg .text >> text=before the outage');
    await srv.stop();
    await until(async () => (await page.textContent('#conn-state')) === 'Connection lost, retrying', 'lost state shown', 15000);
    assert.equal(await page.getAttribute('#conn', 'class'), 'conn lost');
    assert.match(await page.textContent('#conn-age'), /(in \d+ s|now…) · updated \d+ s ago/);
    assert.equal(await page.isVisible('#retry'), true);
    await page.fill('#text', 'during the outage');
    await page.press('#text', 'Enter');
    await page.waitForSelector('#messages .msg.failed >> text=Not sent: no connection to the node');
    assert.equal(await page.textContent('#messages .msg:not(.failed) .text'), 'before the outage', 'what was read stays');
    await srv.start(); // same port, same data
    await until(async () => (await page.textContent('#conn-state')) === 'Online', 'recovered by itself', 30000);
    assert.equal(await page.isVisible('#retry'), false);
    await page.click('#messages .msg.failed >> text=Retry');
    await page.waitForSelector('#messages .msg:not(.failed):not(.pending) .text >> text=during the outage');
    const stored = (await srv.api({ action: 'messages' })).json.map((m) => m.message);
    assert.deepEqual(stored, ['during the outage', 'before the outage']);
    assertClean(page);
  } finally { await srv.close(); }
});
