// Looks and access: screenshots at phone and desktop sizes (light and dark), no sideways
// scrolling at 360 px, a label for every control, keyboard use, no layout shifts, and the
// size budget of www/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, openPage, login, until, apiUpload, importMessages, assertClean, nowSecs, ROOT, ARTIFACTS } from './lib.mjs';

let browser;
let srv;
before(async () => {
  browser = await launch();
  const t = nowSecs();
  srv = await startServer({
    node: 'KN6PLV-hap',
    options: ['default_channel='],
    seed: (dir) => importMessages(dir, seeded = [
      { id: '0a000001', epoch: t - 86400 - 3600, message: 'Net starts at 19:00 on the repeater.', call_sign: 'W6ABC', node: 'W6ABC-node', channel: 'nets' },
      { id: '0a000002', epoch: t - 86400 - 1200, message: 'Checking in from the hill top.\nSignal is good.', call_sign: 'K7FPV', node: 'K7FPV-rpi', platform: 'pi' },
      { id: '0a000003', epoch: t - 900, message: 'Anyone copy? Testing the new link to the EOC.', call_sign: 'N0CALL', node: 'N0CALL-mobile', channel: 'emcomm' },
      { id: '0a000004', epoch: t - 600, message: 'KN6PLV, can you relay the shelter list?', call_sign: 'W6ABC', node: 'W6ABC-node', channel: 'emcomm' },
      { id: '0a000005', epoch: t - 120, message: 'Files are on the files page: map tiles and the roster.', call_sign: 'K7FPV', node: 'K7FPV-rpi', platform: 'pi' },
    ]),
  });
  writeFileSync(join(srv.dataDir, 'ram', 'sync_status'), `K7FPV-rpi\t${t - 8}\nK7FPV-rpi_8081\t${t - 9}\nW6ABC-node\t${t - 300}\nN0CALL-mobile\t${t - 4000}\n`);
  writeFileSync(join(srv.dataDir, 'ram', 'users_remote'),
    `W6ABC\ts1\tW6ABC-node\t${t - 20}\tnode\nK7FPV\ts2\tK7FPV-rpi\t${t - 200}\tpi\n`);
  await apiUpload(srv, 'shelter-roster.csv', Buffer.from('name,place\n'.repeat(300)));
  await apiUpload(srv, 'map-tiles.zip', Buffer.alloc(90000, 7));
});
after(async () => { await browser?.close(); await srv?.close(); });

let seeded = [];
const key = (d) => d.toDateString();
// The separators the seeded messages need, in this machine's time zone (the browser's too).
function expectedDays() {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  const days = [...new Set(seeded.map((m) => key(new Date(m.epoch * 1000))))];
  return days.map((d) => (d === key(today) ? 'Today' : d === key(yesterday) ? 'Yesterday' : new Date(d).toLocaleDateString('en-US', { dateStyle: 'full' })));
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name + '.png') });
}

const noSideways = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

test('screenshots at 360x740 and 1280x800, light and dark; nothing scrolls sideways on a phone', async () => {
  for (const [w, h] of [[360, 740], [1280, 800]]) {
    for (const scheme of ['light', 'dark']) {
      const page = await openPage(browser, srv, { viewport: { width: w, height: h }, colorScheme: scheme });
      const tag = `${w}x${h}${scheme === 'dark' ? '-dark' : ''}`;
      if (scheme === 'light') await shot(page, `login-${tag}`);
      await login(page, 'KN6PLV');
      await until(async () => (await page.locator('#messages .msg').count()) === 5, 'messages');
      await until(async () => (await page.locator('#users .user').count()) === 3, 'users');
      assert.ok(await noSideways(page), `chat fits ${tag}`);
      assert.deepEqual(await page.$$eval('#messages .day', (d) => d.map((e) => e.textContent)), expectedDays());
      await shot(page, `chat-${tag}`);
      await page.click('#nav-files');
      await until(async () => (await page.locator('#files-list .file').count()) === 2, 'files');
      assert.ok(await noSideways(page), `files fit ${tag}`);
      await shot(page, `files-${tag}`);
      await page.click('#nav-status');
      await until(async () => (await page.locator('#peers tr').count()) === 4, 'peers');
      assert.ok(await noSideways(page), `status fits ${tag}`);
      await shot(page, `status-${tag}`);
      assertClean(page);
      await page.context().close();
    }
  }
  // The dark scheme really differs from the light one.
  const bg = async (scheme) => {
    const page = await openPage(browser, srv, { colorScheme: scheme });
    const c = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.context().close();
    return c;
  };
  assert.notEqual(await bg('light'), await bg('dark'));
});

test('status page: node, zone, version, message count, peers with last sync and health', async () => {
  const page = await openPage(browser, srv, { path: 'meshchat/#status' });
  await login(page);
  await until(async () => (await page.locator('#peers tr').count()) === 4, 'peers');
  const info = await page.$$eval('#node-info dt', (dts) => Object.fromEntries(dts.map((d) => [d.textContent, d.nextElementSibling.textContent])));
  assert.equal(info.Node, 'KN6PLV-hap');
  assert.equal(info.Zone, 'MeshChat');
  assert.match(info.Version, /^\d+\.\d+/);
  assert.equal(info.Messages, '5');
  const peers = await page.$$eval('#peers tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(peers.map((p) => [p[0], p[2]]), [['K7FPV-rpi', 'in sync'], ['K7FPV-rpi:8081', 'in sync'], ['W6ABC-node', 'late'], ['N0CALL-mobile', 'not reached lately']]);
  // A second peer on one host links to its own port.
  assert.equal(await page.locator('#peers tr').nth(1).locator('a').getAttribute('href'), 'http://K7FPV-rpi.local.mesh:8081/meshchat/');
  assert.match(peers[0][1], /^\d+ s ago$/);
  assert.match(await page.textContent('#conn-age'), /^updated \d+ s ago$/);
  assertClean(page);
  await page.context().close();
});

test('every control has a label; the keyboard reaches channels and the composer and sends', async () => {
  const page = await openPage(browser, srv);
  await login(page, 'K1KEY');
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, textarea, select, button')].filter((e) => {
    const label = (e.id && document.querySelector(`label[for="${e.id}"]`)) || e.closest('label');
    const name = e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (label && label.textContent.trim()) ||
      (e.tagName === 'BUTTON' && e.textContent.trim());
    return !name;
  }).map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(unlabeled, []);
  const seen = [];
  for (let i = 0; i < 40 && seen.at(-1) !== 'text'; i++) {
    await page.keyboard.press('Tab');
    seen.push(await page.evaluate(() => document.activeElement.id || document.activeElement.className || document.activeElement.tagName));
  }
  assert.equal(seen.at(-1), 'text', 'Tab reaches the composer: ' + seen.join(' '));
  assert.ok(seen.includes('chan'), 'Tab passes the channel buttons');
  assert.ok(seen.includes('search'), 'Tab passes the search box');
  await page.keyboard.type('sent from the keyboard');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#messages .msg:not(.pending) .text >> text=sent from the keyboard');
  // Shift+Tab back to a channel button and Enter selects it.
  await page.focus('#channels button >> text=#nets');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('#channels button >> text=#nets', 'aria-pressed'), 'true');
  assertClean(page);
  await page.context().close();
});

test('no layout shift while the page loads and messages arrive', async () => {
  const page = await openPage(browser, srv, {
    init: () => {
      window.__cls = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; })
        .observe({ type: 'layout-shift', buffered: true });
    },
  });
  await login(page, 'K1CLS');
  await until(async () => (await page.locator('#messages .msg').count()) >= 5, 'messages');
  await srv.send({ message: 'one more, to see the list grow', call_sign: 'W6ABC' });
  await page.waitForSelector('#messages .msg .text >> text=one more, to see the list grow');
  const cls = await page.evaluate(() => window.__cls);
  assert.ok(cls < 0.05, `cumulative layout shift ${cls}`);
  assertClean(page);
  await page.context().close();
});

test('www/ is plain files within 48 KB, with no third-party resource', () => {
  const dir = join(ROOT, 'www');
  let total = 0;
  const sizes = {};
  for (const f of readdirSync(dir)) {
    const n = statSync(join(dir, f)).size;
    sizes[f] = n;
    total += n;
    const src = readFileSync(join(dir, f), 'utf8');
    assert.doesNotMatch(src, /https:\/\/|\/\/cdn|googleapis|unpkg|jsdelivr/i, `${f} refers to another site`);
  }
  writeFileSync(join(ARTIFACTS, 'www-size.json'), JSON.stringify({ total, files: sizes }, null, 2) + '\n');
  assert.ok(total <= 48 * 1024, `www/ is ${total} bytes`);
  assert.ok(sizes['icon.svg'] > 0 && sizes['index.html'] > 0);
});
