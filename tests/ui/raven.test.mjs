// The status page with the Raven bridge on: its Raven peers in the peers table (heard,
// not synced), and the bridge's state, channel map and counters from `sync_peers`.
// The report files are those the bridge writes in the RAM directory (docs/RAVEN.md).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, openPage, login, until, assertClean, nowSecs } from './lib.mjs';

let browser;
let srv;
before(async () => {
  browser = await launch();
  srv = await startServer({ node: 'KN6PLV-hap' });
  const t = nowSecs();
  const ram = join(srv.dataDir, 'ram');
  writeFileSync(join(ram, 'sync_status'), `K7FPV-rpi\t${t - 8}\n`);
  writeFileSync(join(ram, 'raven_peers'), `KN6PLV-raven\t${t - 30}\nraven-0000abcd\t0\n`);
  writeFileSync(join(ram, 'raven.json'), JSON.stringify({
    node: 'KN6PLV-hap', port: 4404, mode: 'raven', pulled: 3, rejected: 2, errors: 1,
    last_error: 'sending to 10.1.2.3: <b>refused</b>', state: 'on', reason: '', raven_id: 3735928559,
    ip: '10.0.0.1', started: t - 600, updated: t, published: 1,
    map: [{ channel: '', namekey: 'AREDN og==' }, { channel: 'x', namekey: 'x og==' }],
    namekeys: ['AREDN og=='], to_raven: 7, from_raven: 3, known: 1, not_returned: 0,
    dropped: { malformed: 1, too_large: 0, unknown_peer: 1, direct: 0, unmapped: 0, echo: 0, repeat: 0, invalid: 0 },
    bad_entries: 0, peers: [],
  }));
});
after(async () => { await browser?.close(); await srv?.close(); });

test('status page: Raven peers and the bridge', async () => {
  const page = await openPage(browser, srv, { path: 'meshchat/#status' });
  await login(page);
  await until(async () => (await page.locator('#peers tr').count()) === 3, 'peers');
  const peers = await page.$$eval('#peers tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(peers.map((p) => [p[0], p[2]]), [
    ['K7FPV-rpi', 'in sync'], ['KN6PLV-raven', 'Raven peer'], ['raven-0000abcd', 'Raven peer, not heard yet'],
  ]);
  assert.equal(peers[2][1], '–');
  await until(async () => !(await page.locator('#raven').isHidden()), 'raven section');
  const info = await page.$$eval('#raven-info dt', (dts) => Object.fromEntries(dts.map((d) => [d.textContent, d.nextElementSibling.textContent])));
  assert.equal(info.State, 'on');
  assert.equal(info['Raven id'], '!deadbeef');
  assert.equal(info.Channels, 'Everything ↔ AREDN og==, #x ↔ x og==');
  assert.equal(info['To Raven'], '7');
  assert.equal(info['From Raven'], '3');
  assert.equal(info.Dropped, 'malformed 1, unknown peer 1');
  assert.equal(info.Errors, '1 (sending to 10.1.2.3: <b>refused</b>)');
  assert.equal(await page.locator('#raven-info b').count(), 0, 'text, never markup');
  assertClean(page);
  await page.context().close();
});
