// Delivery of my messages: "Sending…", then "on this node", then "reached 3 of 3 nodes"
// as real `meshchat sync` daemons spread it between three real `serve` nodes on loopback,
// with no request beyond the page's usual poll.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, openPage, login, until, assertClean, BIN, ARTIFACTS } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Each node is named after its loopback address, as AREDN nodes are advertised under
// their own names; its services file lists the two others.
const HOSTS = ['127.0.0.81', '127.0.0.82', '127.0.0.83'];

function advertise(srv, others) {
  const dir = join(srv.dataDir, 'services');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '0'), others.map((o) => `##${o.host}##\nhttp://${o.host}:${o.port}/meshchat|tcp|MeshChat\n`).join(''));
}

function startSync(srv) {
  return spawn(BIN, ['sync', '--data', srv.dataDir, '--node', srv.node, '-o', 'poll_interval=1',
    '-o', `services_dir=${join(srv.dataDir, 'services')}`, '-o', `services_olsr=${join(srv.dataDir, 'none')}`,
    '-o', `setup_file=${join(srv.dataDir, 'none')}`, '-o', `hsmmmesh_file=${join(srv.dataDir, 'none')}`],
  { stdio: 'ignore' });
}

test('my message: Sending…, on this node, then reached 3 of 3 nodes as it spreads', async () => {
  const nodes = [];
  const syncs = [];
  try {
    for (const host of HOSTS) nodes.push(await startServer({ host, node: host }));
    for (const [i, srv] of nodes.entries()) {
      srv.host = HOSTS[i];
      advertise(srv, nodes.filter((o) => o !== srv).map((o) => ({ host: HOSTS[nodes.indexOf(o)], port: o.port })));
    }
    const page = await openPage(browser, nodes[0]);
    await login(page);
    let release;
    const held = new Promise((r) => { release = r; });
    await page.route('**/cgi-bin/meshchat?action=send_message', async (route) => { await held; await route.continue(); }, { times: 1 });
    await page.fill('#text', 'does it reach everyone?');
    await page.press('#text', 'Enter');
    await page.waitForSelector('#messages .msg.pending >> text=Sending…');
    release();
    const line = '#messages .msg.mine:not(.pending) .reach';
    await until(async () => (await page.textContent(line).catch(() => '')) === 'on this node', 'on this node');

    await nodes[1].send({ call_sign: 'W2XYZ', message: 'hello from b' });
    const before = await page.evaluate(() => window.__net.actions.length);
    for (const srv of nodes) syncs.push(startSync(srv));
    await until(async () => (await page.textContent(line)) === 'reached 3 of 3 nodes', 'reached 3 of 3 nodes', 30000);
    const asked = await page.evaluate((n) => window.__net.actions.slice(n), before);
    assert.ok(asked.every((a) => ['messages_version_ui', 'messages', 'users'].includes(a)), 'only the usual poll: ' + asked);
    // Messages of others carry no delivery line.
    await until(async () => (await page.locator('#messages .msg .text >> text=hello from b').count()) === 1, 'b\'s message');
    assert.equal(await page.locator('#messages .msg .reach').count(), 1);
    await page.screenshot({ path: join(ARTIFACTS, 'delivery.png') });

    // The node's own figures agree with the page.
    const [mine] = (await nodes[0].api({ action: 'messages', delivery: 1 })).json.filter((m) => m.call_sign === 'KN6PLV');
    assert.equal(mine.held_by, 3);
    const d = (await nodes[0].api({ action: 'delivery', id: mine.id })).json;
    assert.deepEqual([d.held_by.length, d.of], [3, 3]);
    assertClean(page);
  } finally {
    for (const s of syncs) s.kill('SIGTERM');
    for (const srv of nodes) await srv.close();
  }
});
