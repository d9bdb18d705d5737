// Direct messages and replies across two real nodes with their sync daemons and a replayed
// Lua MeshChat 2.18 peer: the Direct section, the not-private notice, others'
// conversations behind a toggle, a reply's quote as a block that jumps to the original,
// and what the legacy peer stores (plain channel, plain text lines). Screenshots of the
// Direct section and a reply at 360x740 and 1280x800.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, ARTIFACTS, startServer, launch, openPage, login, until, assertClean, nowSecs } from './lib.mjs';

const md5 = (b) => createHash('md5').update(b).digest('hex');
const FIXTURE = join(ROOT, 'tests/fixtures/lua-meshchat-2.18');

// A Lua MeshChat 2.18 node: its recorded database and the legacy sync steps, both ways.
// It serves what it stores as 2.18 does (messages_raw with Content-MD5, the version with a
// trailing newline) and pulls a peer the way 2.18 does: version, then messages_raw, then
// every line whose id it does not know, kept byte for byte, newest 500 by epoch.
function luaPeer() {
  const raw = readFileSync(join(FIXTURE, '11-messages_raw.http'));
  const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4).toString();
  const peer = { lines: body.split('\n').filter(Boolean), port: 0 };
  const version = () => peer.lines.reduce((s, l) => s + parseInt(l.split('\t')[0], 16), 0);
  peer.raw = () => peer.lines.map((l) => l + '\n').join('');
  const server = createServer((req, res) => {
    const action = new URL(req.url, 'http://x').searchParams.get('action');
    const send = (text, md) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', ...(md ? { 'Content-MD5': md5(text) } : {}) });
      res.end(text);
    };
    if (action === 'messages_version') send(version() + '\n');
    else if (action === 'messages_raw') send(peer.raw(), true);
    else if (action === 'users_raw' || action === 'local_files_raw') send('', true);
    else send('error no action\n');
  });
  peer.pull = async (url) => {
    try {
      const v = await (await fetch(url + 'cgi-bin/meshchat?action=messages_version')).text();
      if (v.trim() === String(version())) return;
      const r = await fetch(url + 'cgi-bin/meshchat?action=messages_raw');
      const text = await r.text();
      if (r.headers.get('content-md5') !== md5(text)) return;
      const known = new Set(peer.lines.map((l) => l.split('\t')[0]));
      for (const l of text.split('\n')) if (l && !known.has(l.split('\t')[0])) peer.lines.push(l);
      const key = (l) => l.split('\t');
      peer.lines.sort((a, b) => key(a)[1] - key(b)[1] || parseInt(key(a)[0], 16) - parseInt(key(b)[0], 16));
      peer.lines = peer.lines.slice(-500);
    } catch { /* unreachable this round */ }
  };
  peer.start = (url) => {
    peer.timer = setInterval(() => peer.pull(url), 700);
    return new Promise((r) => server.listen(0, '127.0.0.1', () => { peer.port = server.address().port; r(peer); }));
  };
  peer.close = () => { clearInterval(peer.timer); server.close(); };
  return peer;
}

// `meshchat sync` for a node, with the given peers (ports on 127.0.0.1) as its services.
function startSync(srv, ports) {
  const dir = join(srv.dataDir, 'services');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '0'), '##127.0.0.1##\n' + ports.map((p) => `http://127.0.0.1:${p}/meshchat|tcp|MeshChat [chat]\n`).join(''));
  return spawn(BIN, ['sync', '--data', srv.dataDir, '--node', srv.node, '-o', `services_dir=${dir}`,
    '-o', `services_olsr=${join(srv.dataDir, 'none')}`, '-o', 'poll_interval=1'], { stdio: 'ignore' });
}

let browser, a, b, lua;
const daemons = [];
before(async () => {
  browser = await launch();
  a = await startServer({ node: 'node-a' });
  b = await startServer({ node: 'node-b' });
  lua = await luaPeer().start(a.url);
  daemons.push(startSync(a, [b.port, lua.port]), startSync(b, [a.port]));
});
after(async () => {
  for (const d of daemons) d.kill('SIGTERM');
  lua?.close();
  await browser?.close();
  await a?.close();
  await b?.close();
});

const directLabels = (page) => page.$$eval('#direct button', (bs) => bs.map((x) => x.firstChild.textContent));

test('a direct message reaches the other node\'s Direct section and the legacy peer as a plain channel; a reply quotes it', async () => {
  const w2 = await openPage(browser, b);
  await login(w2, 'W2XYZ');
  const k1 = await openPage(browser, a);
  await login(k1, 'K1ABC');
  // Someone else's conversation, on the same node: not in my lists until asked for.
  await a.send({ message: 'between others', call_sign: 'N0CALL', channel: '@N0CALL+W6ABC' });
  await a.send({ message: 'hello all', call_sign: 'N0CALL' });
  await until(async () => (await k1.locator('#messages .msg').count()) >= 1, 'the channel message');

  // Start a conversation by typing a call sign.
  await k1.fill('#new-dm-call', 'w2xyz');
  await k1.press('#new-dm-call', 'Enter');
  await until(async () => !(await k1.isHidden('#conv')), 'the conversation header');
  assert.match(await k1.textContent('#conv'), /^Direct: W2XYZ\. Not private: every node on the mesh stores and shows this\.$/);
  assert.equal(await k1.isHidden('#dm-note'), false, 'the composer says it too');
  assert.match(await k1.getAttribute('#text', 'placeholder'), /^Message @W2XYZ /);
  await k1.fill('#text', 'Meet on 146.52 at the top of the hour?');
  await k1.press('#text', 'Enter');
  await k1.waitForSelector('#messages .msg:not(.pending) .text >> text=Meet on 146.52');
  const [dm] = (await a.api({ action: 'messages' })).json.filter((m) => m.channel === '@K1ABC+W2XYZ');
  assert.equal(dm.message, 'Meet on 146.52 at the top of the hour?');
  assert.deepEqual(await directLabels(k1), ['W2XYZ']);

  // Everything: mine in view, the others' conversation neither listed nor shown...
  await k1.click('#channels button >> text=Everything');
  const shown = () => k1.$$eval('#messages .msg .text', (els) => els.map((e) => e.textContent));
  await until(async () => (await shown()).includes('Meet on 146.52 at the top of the hour?'), 'mine in Everything');
  assert.ok(!(await shown()).includes('between others'));
  assert.equal(await k1.locator('#channels button >> text=@N0CALL+W6ABC').count(), 0, 'not in my channels either');
  // ...but reachable: nothing is private.
  await k1.check('#opt-others');
  await until(async () => (await shown()).includes('between others'), 'others shown');
  assert.deepEqual((await directLabels(k1)).sort(), ['@N0CALL+W6ABC', 'W2XYZ']);
  await k1.uncheck('#opt-others');
  await until(async () => !(await shown()).includes('between others'), 'others hidden again');

  // The other node: an unread, alerting conversation in W2XYZ's Direct section.
  await w2.waitForSelector('#direct button >> text=K1ABC', { timeout: 30000 });
  assert.equal(await w2.textContent('#direct .badge.at'), '1');
  assert.equal(await w2.locator('#channels button >> text=@K1ABC+W2XYZ').count(), 0, 'not a channel');
  await w2.click('#direct button >> text=K1ABC');
  await w2.waitForSelector('#messages .msg .text >> text=Meet on 146.52');
  assert.equal(await w2.locator('#direct .badge').count(), 0, 'read');

  // The legacy peer stores it as a plain channel of that name, byte for byte: its
  // messages_raw serves the line.
  const luaRaw = async () => (await fetch(`http://127.0.0.1:${lua.port}/cgi-bin/meshchat?action=messages_raw`)).text();
  const line = async (id) => (await luaRaw()).split('\n').find((l) => l.startsWith(id + '\t'));
  await until(() => line(dm.id), 'the legacy peer pulled the direct message', 30000);
  assert.deepEqual((await line(dm.id)).split('\t').slice(2), ['Meet on 146.52 at the top of the hour?', 'K1ABC', 'node-a', 'pi', '@K1ABC+W2XYZ']);

  // A reply from node B: quote line plus text; sent to the conversation it answers.
  await w2.click('#messages .msg .re');
  assert.equal(await w2.textContent('#reply-to'), 'Reply to K1ABC: Meet on 146.52 at the top of the hour?');
  await w2.fill('#text', 'Yes, see you there.\n73');
  await w2.press('#text', 'Enter');
  await w2.waitForSelector('#messages .msg:not(.pending) .quote');
  assert.equal(await w2.isHidden('#replying'), true);
  const reply = (await b.api({ action: 'messages' })).json.find((m) => m.message.endsWith('73'));
  assert.equal(reply.channel, '@K1ABC+W2XYZ');
  assert.equal(reply.message, `> K1ABC (${dm.id}): Meet on 146.52 at the top of the hour?\nYes, see you there.\n73`);

  // Node A shows the quote as a block, and a click on it jumps to the original.
  await k1.click('#direct button >> text=W2XYZ');
  const quote = k1.locator('#messages .msg .quote');
  await quote.waitFor({ timeout: 30000 });
  assert.equal(await quote.textContent(), 'K1ABC: Meet on 146.52 at the top of the hour?');
  assert.equal(await k1.textContent('#messages .msg:last-child .text'), 'Yes, see you there.\n73');
  await quote.click();
  await until(() => k1.$$eval('#messages .msg.flash .text', (e) => e.map((x) => x.textContent).join() === 'Meet on 146.52 at the top of the hour?'), 'the original flashes');

  // The legacy peer: the same text, as plain lines (the legacy escaping), nothing hidden.
  await until(() => line(reply.id), 'the legacy peer pulled the reply', 30000);
  assert.equal((await line(reply.id)).split('\t')[2], `> K1ABC (${dm.id}): Meet on 146.52 at the top of the hour?\\nYes, see you there.\\n73`);
  // What the replayed legacy node had reached both of ours.
  await until(async () => (await b.api({ action: 'messages' })).json.some((m) => m.id === '0a1b2c3d'), 'legacy messages on node B', 30000);
  assertClean(k1);
  assertClean(w2);

  // Screenshots: the Direct section with the conversation and the reply, at phone and
  // desktop sizes, and the reply being written.
  for (const [w, h] of [[360, 740], [1280, 800]]) {
    const page = await openPage(browser, b, { viewport: { width: w, height: h } });
    await login(page, 'W2XYZ');
    await page.click('#direct button >> text=K1ABC');
    await page.waitForSelector('#messages .msg .quote');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `fits ${w}`);
    await page.screenshot({ path: join(ARTIFACTS, `direct-${w}x${h}.png`) });
    await page.click('#messages .msg:last-child .re');
    await page.fill('#text', 'One more thing:');
    await page.screenshot({ path: join(ARTIFACTS, `reply-${w}x${h}.png`) });
    assertClean(page);
    await page.context().close();
  }
});

test('a call sign on a message or in the users list starts a conversation; not with oneself', async () => {
  const page = await openPage(browser, a);
  await login(page, 'KN6PLV');
  await a.send({ message: 'anyone on?', call_sign: 'W6ABC', channel: 'ops' });
  await page.click('#channels button >> text=Everything');
  await page.click('#messages .msg button.who >> text=W6ABC');
  await until(async () => (await page.textContent('#conv')).startsWith('Direct: W6ABC.'), 'conversation from a message');
  assert.deepEqual(await page.$$eval('#direct [aria-pressed="true"]', (x) => x.map((e) => e.firstChild.textContent)), ['W6ABC']);
  // Users list: my own call sign is not a button (another's opens a conversation: below).
  await page.evaluate(() => { document.querySelector('#users-box').open = true; });
  await until(async () => (await page.locator('#users .user').count()) >= 1, 'users');
  assert.equal(await page.locator('#users button.who >> text=KN6PLV').count(), 0);
  // Typing my own call sign is refused, with a reason.
  await page.fill('#new-dm-call', 'kn6plv');
  await page.press('#new-dm-call', 'Enter');
  assert.equal(await page.$eval('#new-dm-call', (i) => i.validationMessage), 'Type the call sign of someone else.');
  assert.match(await page.textContent('#conv'), /^Direct: W6ABC\./, 'still the same conversation');
  assertClean(page);
  await page.context().close();
});

test('Direct: newest first with unread counts and alerts, opened from the users list, the exact form only; reply quotes cut, nested, absent or look-alike', async () => {
  const srv = await startServer({ node: 'node-d' });
  try {
    // Another user on the mesh, as a sync would have stored it.
    writeFileSync(join(srv.dataDir, 'ram', 'users_remote'), `W6ABC\taa\tfar-node\t${nowSecs() - 10}\tnode\n`);
    const page = await openPage(browser, srv);
    await login(page, 'KN6PLV');
    const direct = () => page.$$eval('#direct button', (bs) => bs.map((b) => [b.firstChild.textContent,
      b.querySelector('.badge')?.className ?? null, b.querySelector('.badge')?.textContent ?? null]));
    const channels = () => page.$$eval('#channels button', (bs) => bs.map((b) => b.firstChild.textContent));
    await srv.send({ call_sign: 'W6ABC', channel: '@KN6PLV+W6ABC', message: 'are you on?' });
    await srv.send({ call_sign: 'N0CALL', channel: '@KN6PLV+N0CALL', message: 'one' });
    await srv.send({ call_sign: 'N0CALL', channel: '@KN6PLV+N0CALL', message: 'two' });
    // Not the exact form (unsorted, lower case): ordinary channels, not conversations.
    await srv.send({ call_sign: 'W6ABC', channel: '@W6ABC+KN6PLV', message: 'unsorted' });
    await srv.send({ call_sign: 'W6ABC', channel: '@kn6plv+w6abc', message: 'lower case' });
    // For the replies below: a long message that quotes another one this node does not
    // have, a text that merely starts with '>', a quote of the long one from elsewhere.
    const long = '> N0CALL (0a0a0a0a): an older quote\nLine one   of the net report,\n\n  with  😀 spaces and a second line that goes on beyond sixty characters';
    await srv.send({ id: 'cafe0001', call_sign: 'W6ABC', channel: 'ops', message: long });
    await srv.send({ call_sign: 'W6ABC', channel: 'ops', message: '> not a quote\nsecond line' });
    await srv.send({ call_sign: 'N0CALL', channel: 'other', message: '> W6ABC (cafe0001): Line one\nfrom elsewhere' });
    await until(async () => (await channels()).includes('#@kn6plv+w6abc'), 'the look-alike channels');
    // Newest first; every new message of a conversation is unread and an alert (gold).
    assert.deepEqual(await direct(), [['N0CALL', 'badge at', '2'], ['W6ABC', 'badge at', '1']]);
    assert.ok((await channels()).includes('#@W6ABC+KN6PLV'));
    await srv.send({ call_sign: 'W6ABC', channel: '@KN6PLV+W6ABC', message: 'hello?' });
    await until(async () => (await direct())[0][0] === 'W6ABC', 'the newer conversation first');
    assert.deepEqual(await direct(), [['W6ABC', 'badge at', '2'], ['N0CALL', 'badge at', '2']]);

    // A call sign in the users list opens the conversation, and reading it clears its count.
    await page.evaluate(() => { document.querySelector('#users-box').open = true; });
    await page.click('#users button.who >> text=W6ABC');
    await until(async () => (await page.textContent('#conv')).startsWith('Direct: W6ABC.'), 'the conversation from the users list');
    assert.deepEqual(await page.$$eval('#messages .msg .text', (e) => e.map((x) => x.textContent)), ['are you on?', 'hello?']);
    assert.deepEqual(await direct(), [['W6ABC', null, null], ['N0CALL', 'badge at', '2']]);

    // A reply from "Everything" to a long message that quotes another: the quote line holds
    // the original's call sign and id and its text without its own quote, whitespace runs as
    // one space, cut at 60 characters with '…'; it goes to the original's channel.
    await page.click('#channels button >> text=Everything');
    const orig = page.locator('#messages .msg', { hasText: 'an older quote' });
    await orig.waitFor();
    // Its own quote names a message this node does not have: a plain block, no jump.
    assert.equal(await orig.locator('blockquote.quote').textContent(), 'N0CALL: an older quote');
    assert.equal(await orig.locator('button.quote').count(), 0);
    await orig.locator('.re').click();
    await page.fill('#text', 'Copy.');
    await page.press('#text', 'Enter');
    const find = async (f) => (await srv.api({ action: 'messages' })).json.find(f);
    const reply = await until(() => find((m) => m.message.endsWith('\nCopy.')), 'the reply stored');
    assert.equal(reply.message, `> W6ABC (cafe0001): Line one of the net report, with 😀 spaces and a second line …\nCopy.`);
    assert.equal(reply.channel, 'ops');

    // A text that merely starts with '>' stays text.
    const plain = page.locator('#messages .msg', { hasText: 'not a quote' });
    await plain.waitFor();
    assert.equal(await plain.locator('.quote').count(), 0);
    assert.equal(await plain.locator('.text').textContent(), '> not a quote\nsecond line');

    // A quote of a message in another channel: the click switches there and shows it.
    await page.click('#channels button >> text=#other');
    await page.click('#messages .msg button.quote');
    await until(() => page.$$eval('#messages .msg.flash .text', (e) => e.length === 1 && e[0].textContent.startsWith('Line one')), 'the original shown');
    assert.deepEqual(await page.$$eval('#channels [aria-pressed="true"]', (x) => x.map((e) => e.firstChild.textContent)), ['#ops']);
    assertClean(page);
    await page.context().close();
  } finally { await srv.close(); }
});

test('the status page lists the action hooks\' outcomes, and shows nothing of them when there are none', async () => {
  const page = await openPage(browser, b);
  await login(page, 'W2XYZ');
  await page.click('#nav-status');
  await until(async () => (await page.locator('#peers tr').count()) >= 1, 'status loaded');
  assert.equal(await page.isHidden('#hooks-box'), true, 'no hook ran: no section');
  // What the sync daemon writes after two runs (newest first), hostile text included.
  const t = Math.floor(Date.now() / 1000);
  writeFileSync(join(b.dataDir, 'ram', 'action_log'),
    `[{"epoch":${t - 5},"hook":"archive","id":"0a1b2c3d","result":"ok","exit":0,"ms":12,"detail":"exit 0"},\n` +
    `{"epoch":${t - 65},"hook":"<img src=x onerror=alert(1)>","id":"0a1b2c3e","result":"killed","ms":10003,"detail":"timeout 10 s"}]\n`);
  await page.click('#nav-chat');
  await page.click('#nav-status');
  await until(async () => !(await page.isHidden('#hooks-box')), 'hooks shown');
  const rows = await page.$$eval('#hooks li', (li) => li.map((e) => e.textContent));
  assert.equal(rows.length, 2);
  assert.match(rows[0], /^archive · 0a1b2c3dok \(exit 0\) · 12 ms · \d s ago$/);
  assert.match(rows[1], /^<img src=x onerror=alert\(1\)> · 0a1b2c3ekilled \(timeout 10 s\) · 10003 ms · 1 min ago$/);
  assert.equal(await page.locator('#hooks img').count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, 'status-hooks-1280x800.png') });
  assertClean(page);
  await page.context().close();
});
