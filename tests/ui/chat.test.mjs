// Chat page: login, sending, messages from others, channels, search, users, alerts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, openPage, login, until, settled, setHidden, texts, assertClean, nowSecs, importMessages } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rowTexts = (page) => texts(page, '#messages .msg .text');

test('login validates and upper-cases the call sign, remembers it, heartbeats with a session id', async () => {
  const srv = await startServer();
  try {
    const page = await openPage(browser, srv);
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.isHidden('#page-chat'), true);
    await page.fill('#login-call', 'kn6 plv<b>');
    await page.click('#login-form button');
    await until(async () => (await page.textContent('#login-error')).includes('not a call sign'), 'error shown');
    assert.equal(await page.getAttribute('#login-call', 'aria-invalid'), 'true');
    await login(page, ' kn6plv/m-1 ');
    assert.equal(await page.textContent('#me-call'), 'KN6PLV/M-1');
    const id = await page.evaluate(() => localStorage.getItem('meshchat_id'));
    assert.match(id, /^[0-9a-f]{16}$/);
    const users = (await srv.api({ action: 'users' })).json;
    assert.deepEqual(users.map((u) => [u.call_sign, u.id, u.node]), [['KN6PLV/M-1', id, 'test-node']]);
    await page.reload();
    await page.waitForSelector('#page-chat:not([hidden])');
    assert.equal(await page.textContent('#me-call'), 'KN6PLV/M-1');
    assert.equal(await page.evaluate(() => localStorage.getItem('meshchat_id')), id, 'same session id');
    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.inputValue('#login-call'), 'KN6PLV/M-1');
    assertClean(page);
  } finally { await srv.close(); }
});

test('send: Enter sends, Shift+Enter breaks the line, pending then confirmed, failed then retried', async () => {
  const srv = await startServer();
  try {
    const page = await openPage(browser, srv);
    await login(page);
    // Hold the first send at the network so its pending state can be seen.
    let release;
    const held = new Promise((r) => { release = r; });
    await page.route('**/cgi-bin/meshchat?action=send_message', async (route) => { await held; await route.continue(); }, { times: 1 });
    await page.click('#text');
    await page.keyboard.type('line one');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('ünïcode');
    assert.equal(await page.textContent('#counter'), `${Buffer.byteLength('line one\nünïcode')}/4096`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#messages .msg.pending >> text=Sending…');
    assert.equal(await page.inputValue('#text'), '', 'composer cleared at once');
    release();
    await page.waitForSelector('#messages .msg:not(.pending) .text >> text=line one');
    assert.equal(await page.locator('#messages .msg.pending').count(), 0);
    const [m] = (await srv.api({ action: 'messages' })).json;
    assert.equal(m.message, 'line one\nünïcode');
    assert.equal(m.call_sign, 'KN6PLV');
    assert.equal(m.channel, '');
    assert.match(m.id, /^[0-9a-f]{8}$/);
    assert.ok(Math.abs(m.epoch - nowSecs()) < 30, 'dated now');
    assert.deepEqual(await rowTexts(page), ['line one\nünïcode']);

    // The node cannot be reached: failed, with Retry that delivers it once.
    await page.route('**/cgi-bin/meshchat?action=send_message', (route) => route.abort(), { times: 1 });
    await page.fill('#text', 'second try');
    await page.press('#text', 'Enter');
    await page.waitForSelector('#messages .msg.failed >> text=Not sent: no connection to the node');
    await page.click('#messages .msg.failed >> text=Retry');
    await page.waitForSelector('#messages .msg:not(.failed):not(.pending) .text >> text=second try');
    // A refusal as a CGI node sends it (HTTP 200, status 500 in the JSON).
    await page.route('**/cgi-bin/meshchat?action=send_message', (route) => route.fulfill({
      status: 200, contentType: 'application/json', body: '{"status":500, "response":"invalid call_sign"}' }), { times: 1 });
    await page.fill('#text', 'refused one');
    await page.press('#text', 'Enter');
    await page.waitForSelector('#messages .msg.failed >> text=Not sent: invalid call_sign');
    await page.click('#messages .msg.failed >> text=Discard');
    await until(async () => (await page.locator('#messages .msg.failed').count()) === 0, 'discarded');
    const all = (await srv.api({ action: 'messages' })).json.map((x) => x.message).sort();
    assert.deepEqual(all, ['line one\nünïcode', 'second try'], 'each message stored once, the refused one not at all');

    // Too long for the node: the counter says so and Send is disabled.
    await page.fill('#text', 'x'.repeat(4097));
    assert.equal(await page.textContent('#counter'), '4097/4096');
    assert.equal(await page.isDisabled('#send'), true);
    assertClean(page);
  } finally { await srv.close(); }
});

test('a message from another user appears without reload, mentions are highlighted, node links are safe', async () => {
  const srv = await startServer();
  try {
    const page = await openPage(browser, srv);
    await login(page, 'KN6PLV');
    await srv.send({ message: 'hello from the mesh', call_sign: 'W1AW' });
    await page.waitForSelector('#messages .msg .text >> text=hello from the mesh');
    await srv.send({ message: 'kn6plv: are you there?', call_sign: 'W1AW' });
    await srv.send({ message: 'not for KN6PLVX', call_sign: 'W1AW' });
    await page.waitForSelector('#messages .msg .text >> text=not for KN6PLVX');
    const cls = await page.$$eval('#messages .msg', (els) => els.map((e) => [e.querySelector('.text').textContent, e.classList.contains('mention')]));
    assert.deepEqual(cls, [['hello from the mesh', false], ['kn6plv: are you there?', true], ['not for KN6PLVX', false]]);
    const link = await page.$eval('#messages .msg .node', (a) => [a.textContent, a.getAttribute('href')]);
    assert.deepEqual(link, ['test-node', 'http://test-node.local.mesh:8080/']);
    assert.equal(await page.$eval('#messages .msg .who', (e) => e.textContent), 'W1AW');
    assertClean(page);
  } finally { await srv.close(); }
});

test('channels: default channel, unread counts, switching, creating, remembered', async () => {
  const srv = await startServer({ options: ['default_channel=ops'] });
  try {
    const page = await openPage(browser, srv);
    await login(page);
    const pressed = () => page.$eval('#channels [aria-pressed="true"]', (b) => b.firstChild.textContent);
    assert.equal(await pressed(), '#ops', "the node's default channel");
    assert.match(await page.getAttribute('#text', 'placeholder'), /#ops/);
    await srv.send({ message: 'ops traffic', call_sign: 'W1AW', channel: 'ops' });
    await srv.send({ message: 'em 1', call_sign: 'W1AW', channel: 'emcomm' });
    await srv.send({ message: 'em 2 for kn6plv', call_sign: 'K7ABC', channel: 'emcomm' });
    await page.waitForSelector('#channels button >> text=#emcomm');
    const badges = async () => Object.fromEntries(await page.$$eval('#channels button', (bs) =>
      bs.map((b) => [b.firstChild.textContent, b.querySelector('.badge')?.textContent || ''])));
    await until(async () => (await badges())['#emcomm'] === '2', 'emcomm unread 2');
    assert.deepEqual(await badges(), { Everything: '2', '#emcomm': '2', '#ops': '' });
    assert.equal(await page.locator('#channels .badge.at').count(), 2, 'a mention marks the badges');
    assert.match(await page.title(), /^\(2\) MeshChat/);
    assert.deepEqual(await rowTexts(page), ['ops traffic']);
    await page.click('#channels button >> text=#emcomm');
    assert.deepEqual(await rowTexts(page), ['em 1', 'em 2 for kn6plv']);
    assert.deepEqual(await badges(), { Everything: '', '#emcomm': '', '#ops': '' });
    assert.match(await page.title(), /^MeshChat/);
    // Remembered across visits.
    await page.reload();
    await page.waitForSelector('#channels button >> text=#emcomm');
    assert.equal(await pressed(), '#emcomm');
    // A new channel: whitespace is not allowed on the mesh, it becomes '-'.
    await page.click('text=New channel, alerts');
    await page.fill('#new-channel-name', ' net control ');
    await page.press('#new-channel-name', 'Enter');
    assert.equal(await pressed(), '#net-control');
    assert.match(await page.textContent('#new-channel-note'), /#net-control/);
    await page.fill('#text', 'checking in');
    await page.press('#text', 'Enter');
    await page.waitForSelector('#messages .msg:not(.pending) .text >> text=checking in');
    const [m] = (await srv.api({ action: 'messages' })).json;
    assert.equal(m.channel, 'net-control');
    await page.click('#channels button >> text=Everything');
    // (The API's messages are dated a second apart, maybe ahead of the page's one: sorted.)
    assert.deepEqual((await rowTexts(page)).sort(), ['checking in', 'em 1', 'em 2 for kn6plv', 'ops traffic']);
    assert.deepEqual((await texts(page, '#messages .msg .tag')).sort(), ['#emcomm', '#emcomm', '#net-control', '#ops']);
    assertClean(page);
  } finally { await srv.close(); }
});

test('search filters by text, call sign and channel as you type', async () => {
  const srv = await startServer();
  try {
    await srv.send({ message: 'weather net tonight', call_sign: 'W1AW', channel: 'nets' });
    await srv.send({ message: 'antenna is up', call_sign: 'K7ABC', channel: 'tech' });
    await srv.send({ message: 'anyone on?', call_sign: 'N0CALL' });
    const page = await openPage(browser, srv);
    await login(page);
    await until(async () => (await rowTexts(page)).length === 3, 'three messages');
    await page.fill('#search', 'ANTENNA');
    assert.deepEqual(await rowTexts(page), ['antenna is up']);
    assert.equal(await page.textContent('#search-count'), '1 match');
    await page.fill('#search', 'w1aw');
    assert.deepEqual(await rowTexts(page), ['weather net tonight']);
    await page.fill('#search', 'tech');
    assert.deepEqual(await rowTexts(page), ['antenna is up']);
    await page.fill('#search', 'nothing like it');
    assert.deepEqual(await rowTexts(page), []);
    assert.equal(await page.textContent('#messages .empty'), 'No message matches.');
    await page.fill('#search', '');
    assert.equal((await rowTexts(page)).length, 3);
    assertClean(page);
  } finally { await srv.close(); }
});

test('users: active (<= 120 s) and idle (<= 240 s) users with their node; older ones hidden', async () => {
  const t = nowSecs();
  const srv = await startServer();
  try {
    // Users another node reported (as a sync would store them).
    writeFileSync(join(srv.dataDir, 'ram', 'users_remote'), [
      ['K7IDL', 'aa', 'far-node', t - 180, 'node'], ['W9OLD', 'bb', 'far-node', t - 400, 'node'],
      ['N0ACT', 'cc', 'pi-host', t - 30, 'pi']].map((f) => f.join('\t') + '\n').join(''));
    const page = await openPage(browser, srv);
    await login(page);
    await until(async () => (await page.locator('#users .user').count()) === 3, 'three users');
    const users = await page.$$eval('#users .user', (els) => els.map((e) => [e.className, e.querySelector('.who').textContent, e.querySelector('.node').textContent]));
    assert.deepEqual(users, [['user active', 'KN6PLV', 'test-node'], ['user active', 'N0ACT', 'pi-host'], ['user idle', 'K7IDL', 'far-node']]);
    assert.equal(await page.textContent('#users-count'), '2 active · 1 idle');
    assertClean(page);
  } finally { await srv.close(); }
});

test('hidden tab: unread count in the title, a notification and a sound; cleared when seen', async () => {
  const srv = await startServer();
  try {
    const page = await openPage(browser, srv, {
      clock: true,
      init: () => {
        window.__notes = [];
        window.__beeps = 0;
        window.Notification = class { constructor(title, o) { window.__notes.push([title, o.body]); } };
        window.Notification.permission = 'granted';
        window.Notification.requestPermission = async () => 'granted';
        window.AudioContext = class {
          constructor() { this.currentTime = 0; this.destination = {}; }
          createGain() { return { gain: {}, connect: (x) => x }; }
          createOscillator() { return { frequency: {}, connect: (x) => x, start: () => { window.__beeps++; }, stop() {} }; }
        };
      },
    });
    await login(page);
    await page.click('text=New channel, alerts');
    await page.check('#opt-notify');
    await page.check('#opt-sound');
    const beepsBefore = await page.evaluate(() => window.__beeps); // the sound plays once when enabled
    await setHidden(page, true);
    await srv.send({ message: 'are you there, KN6PLV?', call_sign: 'W1AW', channel: 'ops' });
    await page.clock.runFor(5000);
    await settled(page);
    await until(async () => /^\(1\) MeshChat/.test(await page.title()), 'title counts 1 unread');
    assert.deepEqual(await page.evaluate(() => window.__notes), [['W1AW #ops', 'are you there, KN6PLV?']]);
    assert.equal(await page.evaluate(() => window.__beeps), beepsBefore + 1);
    await setHidden(page, false);
    await until(async () => /^MeshChat/.test(await page.title()), 'read once visible');
    assertClean(page);
  } finally { await srv.close(); }
});

test('the list follows new messages at the bottom, and stays put when the reader scrolled up', async () => {
  const t = nowSecs();
  const srv = await startServer({
    seed: (dir) => importMessages(dir, Array.from({ length: 60 }, (_, i) => ({
      id: (0x10000000 + i).toString(16), epoch: t - 3600 + i * 10, message: 'older message ' + i, call_sign: 'W1AW', node: 'far-node' }))),
  });
  try {
    const page = await openPage(browser, srv);
    await login(page);
    const pos = () => page.$eval('#messages', (l) => ({ top: l.scrollTop, gap: l.scrollHeight - l.scrollTop - l.clientHeight }));
    await until(async () => (await page.locator('#messages .msg').count()) === 60, 'all listed');
    // The scroll lands with the next frame after rendering: wait for it.
    await until(async () => (await pos()).gap < 2, 'opens at the newest message');
    await page.$eval('#messages', (l) => { l.scrollTop = 100; });
    await until(async () => (await pos()).top === 100, 'scrolled up');
    await srv.send({ message: 'while reading above', call_sign: 'K7ABC' });
    await page.waitForSelector('#messages .msg .text >> text=while reading above');
    assert.equal((await pos()).top, 100, 'the reader is not moved');
    assert.equal(await page.isVisible('#jump'), true);
    await page.click('#jump');
    await until(async () => (await pos()).gap < 2, 'at the bottom again');
    // The scroll event that hides the button comes with the next frame.
    await until(async () => !(await page.isVisible('#jump')), 'the button gone');
    await srv.send({ message: 'followed', call_sign: 'K7ABC' });
    await page.waitForSelector('#messages .msg .text >> text=followed');
    await until(async () => (await pos()).gap < 2, 'follows while at the bottom');
    assertClean(page);
  } finally { await srv.close(); }
});
