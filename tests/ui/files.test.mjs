// Files page: upload with progress, download byte-identical, quota errors, delete rights.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startServer, launch, openPage, login, until, apiUpload, assertClean } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const sha = (b) => createHash('sha256').update(b).digest('hex');
const names = (page) => page.$$eval('#files-list .file .name', (els) => els.map((e) => e.textContent));
const msg = (page) => page.textContent('#files-msg');

async function filesPage(page) {
  await page.click('#nav-files');
  await page.waitForSelector('#page-files:not([hidden])');
  await until(async () => (await page.textContent('#file-stats')) !== '…', 'storage figures shown');
}

test('upload shows progress, the file is listed and downloads back byte-identical', async () => {
  const srv = await startServer({ options: ['max_file_storage=2000000'] });
  try {
    const page = await openPage(browser, srv);
    await login(page);
    await filesPage(page);
    assert.match(await page.textContent('#file-stats'), /0 B of 1\.9 MB used, 1\.9 MB free/);
    const bytes = randomBytes(600 * 1024);
    // A slow link, as over RF: the bar must move before the upload ends.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400 * 1024 });
    await page.setInputFiles('#upload-file', { name: 'map tile.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await page.click('#upload-btn');
    const partial = await until(async () => {
      const v = await page.$eval('#upload-progress', (p) => p.value);
      return v > 0 && v < 1 ? v : null;
    }, 'progress between 0 and 1');
    assert.ok(partial > 0 && partial < 1);
    await until(async () => (await msg(page)) === 'Uploaded “map tile.bin”.', 'upload finished', 30000);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    assert.equal(await page.$eval('#upload-progress', (p) => p.value), 1);
    await until(async () => (await names(page)).includes('map tile.bin'), 'file listed');
    const info = await page.textContent('#files-list .file .info');
    assert.match(info, /^600 KB · \d+ s ago · test-node \(this node\)$/);
    assert.match(await page.textContent('#file-stats'), /^600 KB of 1\.9 MB used/);
    const href = await page.getAttribute('#files-list .file a.name', 'href');
    assert.equal(href, '/cgi-bin/meshchat?action=file_download&file=map%20tile.bin');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#files-list .file a.name')]);
    assert.equal(download.suggestedFilename(), 'map tile.bin');
    const got = readFileSync(await download.path());
    assert.equal(got.length, bytes.length);
    assert.equal(sha(got), sha(bytes), 'downloaded bytes equal the uploaded ones');
    assertClean(page);
  } finally { await srv.close(); }
});

test('over quota: refused before sending when the list says so, and the node refusal is shown', async () => {
  const srv = await startServer({ options: ['max_file_storage=100000'] });
  try {
    const page = await openPage(browser, srv, { clock: true });
    await login(page);
    await filesPage(page);
    const uploads = [];
    page.on('request', (r) => { if (r.url().includes('action=upload_file')) uploads.push(r.url()); });
    await page.setInputFiles('#upload-file', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: randomBytes(150000) });
    await page.click('#upload-btn');
    await until(async () => (await msg(page)).startsWith('Not enough storage'), 'refused at once');
    assert.equal(await msg(page), 'Not enough storage: “big.bin” is 146 KB but only 98 KB is free on this node. Delete some files first.');
    assert.equal(await page.getAttribute('#files-msg', 'class'), 'error');
    assert.equal(uploads.length, 0, 'nothing sent');
    // Someone else fills the node meanwhile; this page's figures are now stale.
    assert.equal((await apiUpload(srv, 'other.bin', randomBytes(80000))).status, 200);
    await page.setInputFiles('#upload-file', { name: 'fits-the-old-figures.bin', mimeType: 'application/octet-stream', buffer: randomBytes(50000) });
    await page.click('#upload-btn');
    await until(async () => (await msg(page)).startsWith('Upload of'), 'node answered', 15000);
    assert.equal(await msg(page), 'Upload of “fits-the-old-figures.bin” failed: Not enough storage, delete some files (the node has 98 KB free or less)');
    assert.equal(uploads.length, 1);
    await until(async () => (await names(page)).join() === 'other.bin', 'list refreshed after the refusal');
    assertClean(page);
  } finally { await srv.close(); }
});

test("delete: no button for another session's file, the node refuses it anyway, own file deleted", async () => {
  const srv = await startServer();
  try {
    assert.equal((await apiUpload(srv, 'theirs.txt', Buffer.from('not yours\n'))).status, 200);
    const page = await openPage(browser, srv);
    await login(page);
    await filesPage(page);
    await page.setInputFiles('#upload-file', { name: 'mine.txt', mimeType: 'text/plain', buffer: Buffer.from('mine\n') });
    await page.click('#upload-btn');
    await until(async () => (await names(page)).length === 2, 'both listed');
    const buttons = () => page.$$eval('#files-list .file', (els) => els.map((e) => [e.querySelector('.name').textContent, !!e.querySelector('.del')]));
    assert.deepEqual(new Map(await buttons()), new Map([['mine.txt', true], ['theirs.txt', false]]));

    // A legacy node sends no `deletable`: the button is offered and the node decides.
    await page.route('**/cgi-bin/meshchat?action=files', async (route) => {
      const res = await route.fetch();
      const j = await res.json();
      for (const f of j.files) delete f.deletable;
      await route.fulfill({ response: res, json: j });
    });
    await page.click('#nav-chat');
    await filesPage(page);
    await until(async () => (await buttons()).every(([, b]) => b), 'every local file offers delete');
    const theirs = page.locator('#files-list .file', { hasText: 'theirs.txt' }).locator('.del');
    await theirs.click();
    assert.equal(await theirs.textContent(), 'Confirm delete');
    await theirs.click();
    await until(async () => (await msg(page)).startsWith('Could not delete'), 'refusal shown');
    assert.equal(await msg(page), 'Could not delete “theirs.txt”: only the uploader or the node admin may delete this file');
    const listed = (await srv.api({ action: 'files' })).json.files.map((f) => f.file).sort();
    assert.deepEqual(listed, ['mine.txt', 'theirs.txt'], 'still stored');
    await page.unroute('**/cgi-bin/meshchat?action=files');

    const mine = page.locator('#files-list .file', { hasText: 'mine.txt' }).locator('.del');
    await mine.click();
    await mine.click();
    await until(async () => (await msg(page)) === 'Deleted “mine.txt”.', 'deleted');
    await until(async () => (await names(page)).join() === 'theirs.txt', 'list refreshed');
    assert.deepEqual((await srv.api({ action: 'files' })).json.files.map((f) => f.file), ['theirs.txt']);
    assertClean(page);
  } finally { await srv.close(); }
});
