// Shared by the browser tests: a real `meshchat serve` on an ephemeral port with its own
// data directory, the API as another user sees it, and headless Debian chromium.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, '..', '..');
export const BIN = process.env.MESHCHAT_BIN || join(ROOT, 'target', 'release', 'meshchat');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = join(here, 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`cargo build --release\` (make test-ui does)`);

export const nowSecs = () => Math.floor(Date.now() / 1000);

// Legacy database lines (id, epoch, message, call sign, node, platform, channel) put into
// the log with `meshchat import` before the server starts: old dates, other nodes.
export function importMessages(dataDir, msgs) {
  const file = join(dataDir, 'import.txt');
  writeFileSync(file, msgs.map((m) => [m.id, m.epoch, m.message.replace(/\n/g, '\\n'), m.call_sign,
    m.node, m.platform || 'node', m.channel || ''].join('\t') + '\n').join(''));
  execFileSync(BIN, ['import', '--data', dataDir, file], { stdio: 'pipe' });
}

// Starts `meshchat serve`; `restart()` brings it back on the same port and data.
export async function startServer({ node = 'test-node', options = [], dataDir, port = 0, seed, host = '127.0.0.1' } = {}) {
  dataDir = dataDir || mkdtempSync(join(tmpdir(), 'meshchat-ui-'));
  if (seed) seed(dataDir);
  const srv = { dataDir, node, proc: null, url: '', port };
  srv.start = async () => {
    const args = ['serve', '--listen', `${host}:${srv.port}`, '--data', dataDir, '--node', node,
      ...options.flatMap((o) => ['-o', o])];
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    srv.proc = proc;
    let err = '';
    proc.stderr.on('data', (d) => { err += d; });
    proc.on('exit', (code, sig) => { if (process.env.UI_DEBUG) console.error(`server exit ${code} ${sig}: ${err}`); });
    srv.url = await new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/127\.[0-9.]+:(\d+)\/)/.exec(out);
        if (m) { srv.port = +m[2]; resolve(m[1]); }
      });
      proc.on('exit', (code) => reject(new Error(`meshchat serve exited (${code}): ${err}`)));
    });
    return srv;
  };
  srv.stop = async () => {
    const p = srv.proc;
    if (!p || p.exitCode !== null || p.signalCode) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  };
  srv.restart = async () => { await srv.stop(); return srv.start(); };
  srv.close = async () => { await srv.stop(); rmSync(dataDir, { recursive: true, force: true }); };
  srv.api = (params, init) => api(srv, params, init);
  // Each message a second after the previous one: the chat order is then known.
  let last = 0;
  srv.send = (fields) => {
    last = Math.max(nowSecs(), last + 1);
    return srv.api({ action: 'send_message' }, { method: 'POST', form: { epoch: last, ...fields } });
  };
  return srv.start();
}

// One API call as another client (no browser, no cookie unless given).
export async function api(srv, params, { method = 'GET', form, body, headers = {} } = {}) {
  const q = new URLSearchParams(params).toString();
  if (form) {
    body = new URLSearchParams(form).toString();
    headers = { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' };
  }
  let res;
  try {
    res = await fetch(`${srv.url}cgi-bin/meshchat?${q}`, { method, body, headers });
  } catch (e) {
    throw new Error(`${method} ${q}: ${e.message} (${e.cause?.code || e.cause?.message || 'no cause'})`);
  }
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* text answer */ }
  return { status: res.status, text, json, headers: res.headers };
}

// Uploads a file as another browser session; returns the JSON verdict.
export async function apiUpload(srv, name, bytes) {
  const fd = new FormData();
  fd.append('uploadfile', new Blob([bytes]), name);
  const res = await fetch(`${srv.url}cgi-bin/meshchat?action=upload_file`, { method: 'POST', body: fd });
  return { status: res.status, json: await res.json() };
}

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true, // playwright also gives every launch a fresh, temporary profile
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Page instrumentation, installed before the UI's scripts run: requests in flight (a
// poll round is over when none is), the actions asked, dialogs, CSP reports.
const INSTRUMENT = () => {
  const net = { inflight: 0, actions: [] };
  window.__net = net;
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  const orig = window.fetch;
  window.fetch = function (input, init) {
    net.inflight++;
    const m = /[?&]action=([a-z_]+)/.exec(String(input));
    net.actions.push(m ? m[1] : String(input));
    return orig.call(this, input, init).then((res) => {
      const text = res.text.bind(res);
      res.text = () => text().finally(() => net.inflight--);
      return res;
    }, (e) => { net.inflight--; throw e; });
  };
};

// A fresh browser context and page with the UI's origin; collects what must not happen.
export async function openPage(browser, srv, { viewport = { width: 1280, height: 800 }, colorScheme = 'light', bypassCSP = false, clock = false, path = 'meshchat/', init } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, bypassCSP, acceptDownloads: true });
  const page = await context.newPage();
  page.problems = [];
  page.on('dialog', (d) => { page.problems.push('dialog: ' + d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => page.problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(m.text())) page.problems.push('console: ' + m.text()); });
  await page.addInitScript(INSTRUMENT);
  if (init) await page.addInitScript(init);
  if (clock) await page.clock.install({ time: new Date() });
  if (path != null) await page.goto(srv.url + path);
  return page;
}

export async function login(page, call = 'KN6PLV') {
  await page.fill('#login-call', call);
  await page.click('#login-form button');
  await page.waitForSelector('#login', { state: 'hidden' });
  await until(() => page.evaluate(() => document.querySelector('#conn-state').textContent === 'Online'), 'first poll answered');
}

// Waits for a condition (no fixed sleeps): polls `fn` until it returns truthy.
export async function until(fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A poll round started by a timer is over: no request in flight.
export const settled = (page) => until(() => page.evaluate(() => window.__net.inflight === 0), 'requests settled');

// Makes the page believe its tab is hidden (or visible again), as a browser does.
export async function setHidden(page, hidden) {
  await page.evaluate((h) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

export const texts = (page, sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent));

export function assertClean(page) {
  if (page.problems.length) throw new Error('page problems:\n' + page.problems.join('\n'));
}
