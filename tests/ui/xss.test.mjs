// Hostile data renders as text: payloads in messages, call signs, channels, file names (sent
// to a real node) and in node names, ids and numbers (as a rogue or broken peer could hand
// them over). The page runs without its CSP here, so escaping alone must hold.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, login, until, apiUpload, api, nowSecs } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Each one would run `alert`, `__pwn()` or add an element if it reached the DOM as HTML.
const PAYLOADS = [
  '<img src=x onerror=alert(1)>',
  '<script>alert(2)</script>',
  '<svg onload=alert(3)>',
  '<svg><script>__pwn(4)</script></svg>',
  '"><img src=x onerror=__pwn(5)>',
  "'><body onload=__pwn(6)>",
  '<iframe src="javascript:alert(7)"></iframe>',
  '<a href="javascript:__pwn(8)">click</a>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(9)>',
  '<details open ontoggle=__pwn(10)>',
  '<video><source onerror=__pwn(11)></video>',
  '<input autofocus onfocus=__pwn(12)>',
  '<object data="javascript:__pwn(13)"></object>',
  '<embed src="javascript:__pwn(14)">',
  '<style>@import "javascript:__pwn(15)";</style>',
  '<base href="javascript:__pwn(16)//">',
  '<meta http-equiv="refresh" content="0;url=javascript:__pwn(17)">',
  '{{constructor.constructor("__pwn(18)")()}}',
  '${__pwn(19)}',
  '<template><img src=x onerror=__pwn(20)></template>',
  '<marquee onstart=__pwn(21)>x</marquee>',
  '&lt;b&gt;entity&lt;/b&gt; &amp; <b>bold</b>',
  'javascript:__pwn(23)',
  '</li></ol><img src=x onerror=__pwn(24)><ol><li>',
];

// Whitespace-free forms for channels (the node refuses whitespace in a channel).
const CHANNELS = ['<img/src=x/onerror=__pwn(31)>', '"><svg/onload=__pwn(32)>', "'-__pwn(33)-'",
  '<script>__pwn(34)</script>', 'javascript:__pwn(35)'];
// File names cannot hold '/'.
const FILES = ['<img src=x onerror=__pwn(41)>.txt', "'><svg onload=__pwn(42)>.bin", "'; __pwn(43); '.txt",
  '<iframe src=javascript:__pwn(44)>.html'];
const CALLS = ['<img src=x onerror=__pwn(51)>', '"><b>K1XSS</b>', '<svg onload=alert(53)>'];

const TRAP = () => {
  window.__hits = [];
  window.__pwn = (n) => window.__hits.push('pwn ' + n);
  for (const f of ['alert', 'confirm', 'prompt']) window[f] = (n) => window.__hits.push(f + ' ' + n);
};

// What must never change: elements of these kinds, event-handler attributes, odd links.
const SCAN = () => {
  const kinds = 'img,script,iframe,svg,math,object,embed,style,base,meta,template,video,audio,source,marquee,details,input,b,body,link,table';
  const count = {};
  for (const e of document.querySelectorAll(kinds)) count[e.tagName] = (count[e.tagName] || 0) + 1;
  const handlers = [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => e.tagName + ' ' + a.name));
  const links = [...document.querySelectorAll('[href],[src],[action],[data]')]
    .map((e) => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || e.getAttribute('data'))
    .filter((u) => !/^(\/meshchat\/|\/cgi-bin\/meshchat\?|#|http:\/\/[A-Za-z0-9][A-Za-z0-9_.-]*\.local\.mesh:8080\/$|http:\/\/[A-Za-z0-9][A-Za-z0-9_.-]*(\.local\.mesh)?:\d+\/cgi-bin\/meshchat\?)/.test(u));
  return { count, handlers, links, hits: window.__hits, violations: window.__violations };
};

test('an XSS corpus in messages, call signs, channels, file names and node names renders inert', async () => {
  const srv = await startServer();
  try {
    let epoch = nowSecs();
    const send = (fields) => srv.api({ action: 'send_message' }, { method: 'POST', form: { epoch: epoch++, ...fields } });
    for (const p of PAYLOADS) assert.equal((await send({ message: p, call_sign: 'W1AW' })).status, 200, p);
    for (const c of CHANNELS) assert.equal((await send({ message: 'in ' + c, call_sign: 'W1AW', channel: c })).status, 200, c);
    for (const c of CALLS) {
      assert.equal((await send({ message: 'from ' + c, call_sign: c })).status, 200, c);
      await srv.api({ action: 'messages_version_ui', call_sign: c, id: 'x' + CALLS.indexOf(c), epoch: nowSecs() });
    }
    for (const f of FILES) assert.equal((await apiUpload(srv, f, Buffer.from('x'))).status, 200, f);
    const stored = (await api(srv, { action: 'files' })).json.files.map((f) => f.file).sort();
    assert.deepEqual(stored, [...FILES].sort(), 'names stored as given');

    // A peer could hand over anything: node names, ids and numbers of every kind.
    const EVIL_NODES = ['"><img src=x onerror=__pwn(61)>', 'javascript:__pwn(62)', 'evil.com/x?', 'a b', '-x', 'ok-node'];
    const page = await openPage(browser, srv, { bypassCSP: true, init: TRAP, path: null });
    await page.route('**/cgi-bin/meshchat?action=messages', async (route) => {
      const res = await route.fetch();
      const list = await res.json();
      EVIL_NODES.forEach((n, i) => list.unshift({ id: '<b>' + i + '</b>', epoch: '<img src=x onerror=__pwn(70)>', message: 'node ' + i, call_sign: 'N0DE', node: n, platform: '<i>', channel: null }));
      await route.fulfill({ response: res, json: list });
    });
    await page.route('**/cgi-bin/meshchat?action=users', async (route) => {
      const res = await route.fetch();
      const list = await res.json();
      EVIL_NODES.forEach((n) => list.push({ call_sign: '<b>U</b>', id: '<i>', node: n, epoch: nowSecs(), platform: 'node' }));
      await route.fulfill({ response: res, json: list });
    });
    await page.route('**/cgi-bin/meshchat?action=sync_status', (route) => route.fulfill({
      json: EVIL_NODES.map((n) => ({ node: n, epoch: nowSecs() - 5 })) }));
    await page.route('**/cgi-bin/meshchat?action=files', async (route) => {
      const res = await route.fetch();
      const j = await res.json();
      EVIL_NODES.forEach((n, i) => j.files.push({ file: 'remote<b>' + i + '</b>', epoch: 1, size: '<img>', node: n + ':8080', platform: 'node', local: 0 }));
      await route.fulfill({ response: res, json: j });
    });
    await page.route('**/cgi-bin/meshchat?action=config', (route) => route.fulfill({
      json: { version: '<img src=x onerror=__pwn(80)>', node: '"><svg onload=__pwn(81)>', zone: '<b>z</b>', default_channel: CHANNELS[0], protocol_version: '<i>', platform: '<u>' } }));
    await page.goto(srv.url + 'meshchat/');
    const baseline = await page.evaluate(SCAN);
    await login(page, 'K1XSS');
    await until(async () => (await page.locator('#messages .msg').count()) > 0, 'messages shown');
    const check = async (where) => {
      const s = await page.evaluate(SCAN);
      assert.deepEqual(s.count, baseline.count, where + ': no new elements');
      assert.deepEqual(s.handlers, [], where + ': no handler attributes');
      assert.deepEqual(s.links, [], where + ': only links to nodes and this API');
      assert.deepEqual(s.hits, [], where + ': nothing ran');
      assert.deepEqual(page.problems, [], where + ': no dialog, no page error');
    };
    await check('default channel');
    await page.click('#channels button >> text=Everything');
    await until(async () => (await page.locator('#messages .msg').count()) >= PAYLOADS.length + CHANNELS.length + CALLS.length, 'all messages');
    const shown = await page.$$eval('#messages .msg .text', (els) => els.map((e) => e.textContent));
    for (const p of PAYLOADS) assert.ok(shown.includes(p), 'shown as text: ' + p);
    const calls = await page.$$eval('#messages .msg .who', (els) => els.map((e) => e.textContent));
    for (const c of CALLS) assert.ok(calls.includes(c), 'call sign as text: ' + c);
    const nodeLinks = await page.$$eval('#messages .msg .node', (els) => els.map((e) => [e.tagName, e.textContent]));
    for (const n of EVIL_NODES) assert.ok(nodeLinks.some(([t, x]) => x === n && (t === 'SPAN' || n === 'ok-node')), 'node as text: ' + n);
    assert.ok(nodeLinks.some(([t, x]) => t === 'A' && x === 'ok-node'), 'a valid node name is a link');
    await check('everything');
    for (const c of CHANNELS) {
      const btn = await page.evaluateHandle((t) => [...document.querySelectorAll('#channels button')].find((b) => b.firstChild.textContent === t), '#' + c);
      await btn.asElement().click();
      assert.deepEqual(await page.$$eval('#messages .msg .text', (els) => els.map((e) => e.textContent)), ['in ' + c]);
    }
    await check('channels');
    await page.fill('#search', PAYLOADS[0]);
    await check('search');
    await page.fill('#search', '');
    await page.click('text=Users');
    await check('users');
    await page.click('#nav-files');
    await until(async () => (await page.locator('#files-list .file').count()) === FILES.length + EVIL_NODES.length, 'files listed');
    const files = await page.$$eval('#files-list .file .name', (els) => els.map((e) => e.textContent));
    for (const f of FILES) assert.ok(files.includes(f), 'file name as text: ' + f);
    await check('files');
    await page.click('#nav-status');
    await until(async () => (await page.locator('#peers tr').count()) === EVIL_NODES.length, 'peers listed');
    const info = await page.textContent('#node-info');
    assert.ok(info.includes('<img src=x onerror=__pwn(80)>') && info.includes('"><svg onload=__pwn(81)>'), 'config as text');
    await check('status');
  } finally { await srv.close(); }
});

test('the UI code builds no HTML from strings', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const dir = new URL('../../www/', import.meta.url);
  for (const f of readdirSync(dir)) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    if (f.endsWith('.js')) {
      for (const bad of [/innerHTML/, /outerHTML/, /insertAdjacentHTML/, /document\.write/, /\beval\(/, /new Function/, /setAttribute\(\s*['"]on/, /\.srcdoc/]) {
        assert.doesNotMatch(src, bad, `${f} uses ${bad}`);
      }
    }
    if (f.endsWith('.html')) {
      assert.doesNotMatch(src, /\son[a-z]+\s*=/i, `${f} has an inline handler`);
      assert.doesNotMatch(src, /<script(?![^>]*\bsrc=)/i, `${f} has an inline script`);
      assert.doesNotMatch(src, /\sstyle\s*=/i, `${f} has an inline style`);
    }
  }
});
