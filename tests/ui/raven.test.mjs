// The status page with the Raven bridge on: its Raven peers in the peers table (heard,
// not synced), and the bridge's one-line summary from `sync_peers`. The report files are
// those the bridge writes in the RAM directory (docs/RAVEN.md).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, openPage, login, until, assertClean, nowSecs } from './lib.mjs';

let browser;
let srv;
const summary = 'Raven bridge on: Everything ↔ AREDN og==, #x ↔ x og==; 7 to Raven, 3 from Raven, 2 dropped, 1 errors (last: <b>refused</b>)';
before(async () => {
  browser = await launch();
  srv = await startServer({ node: 'KN6PLV-hap' });
  const t = nowSecs();
  const ram = join(srv.dataDir, 'ram');
  writeFileSync(join(ram, 'sync_status'), `K7FPV-rpi\t${t - 8}\n`);
  writeFileSync(join(ram, 'raven_peers'), `KN6PLV-raven\t${t - 3000}\n`);
  writeFileSync(join(ram, 'raven.json'), JSON.stringify({
    node: 'KN6PLV-hap', port: 4404, mode: 'raven', pulled: 3, rejected: 2, errors: 1,
    last_error: '<b>refused</b>', summary, state: 'on', reason: '', raven_id: 3735928559,
    map: [{ channel: '', namekey: 'AREDN og==' }, { channel: 'x', namekey: 'x og==' }],
    to_raven: 7, from_raven: 3, peers: [],
  }));
});
after(async () => { await browser?.close(); await srv?.close(); });

test('status page: Raven peers and the bridge', async () => {
  const page = await openPage(browser, srv, { path: 'meshchat/#status' });
  await login(page);
  await until(async () => (await page.locator('#peers tr').count()) === 2, 'peers');
  const peers = await page.$$eval('#peers tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  // A quiet Raven peer is not a failing one.
  assert.deepEqual(peers.map((p) => [p[0], p[2]]), [['K7FPV-rpi', 'in sync'], ['KN6PLV-raven', 'Raven']]);
  await until(async () => (await page.textContent('#raven')) === summary, 'raven summary');
  assert.equal(await page.locator('#raven b').count(), 0, 'text, never markup');
  assertClean(page);
  await page.context().close();
});

test('status page: a bridge that stays off says why', async () => {
  const off = 'Raven bridge off: UDP port 4404 is in use (is Raven itself running on this node?)';
  writeFileSync(join(srv.dataDir, 'ram', 'raven.json'), JSON.stringify({
    node: 'KN6PLV-hap', port: 4404, mode: 'raven', pulled: 0, rejected: 0, errors: 0,
    last_error: '', summary: off, state: 'off', reason: off.slice(18), raven_id: 3735928559,
    map: [], to_raven: 0, from_raven: 0, peers: [],
  }));
  const page = await openPage(browser, srv, { path: 'meshchat/#status' });
  await login(page);
  await until(async () => (await page.textContent('#raven')) === off, 'the reason it is off');
  assertClean(page);
  await page.context().close();
});

test('status page without a bridge: no Raven line', async () => {
  const page = await openPage(browser, srv, { path: 'meshchat/#status' });
  await login(page);
  writeFileSync(join(srv.dataDir, 'ram', 'raven.json'), '');
  await page.reload();
  await until(async () => (await page.locator('#peers tr').count()) >= 1, 'peers');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await page.textContent('#raven'), '');
  await page.context().close();
});
