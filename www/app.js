// MeshChat web UI: login, pages, and the poller that keeps a tab cheap for the node.
//
// Budget: while visible, `messages_version_ui` (also the presence heartbeat) every 5 s,
// `users` every 15 s, `messages` only when the version changed, the files or status list
// every 30 s while that page is open. Hidden: one `messages_version_ui` every 30 s.
// Unreachable: 5, 10, 20, then every 30 s (60 s hidden), with "Retry now".

import { $, store, legacyCookie, randomHex, cleanCallSign, nodeLink, fmtAge } from './util.js';
import { get, now } from './net.js';
import { S, hooks } from './state.js';
import { initChat, setCallSign, setMessages, setUsers, selectChannel, renderChannels, renderUsers, markRead } from './chat.js';
import { initFiles, loadFiles } from './files.js';
import { loadStatus, renderStatus } from './status.js';

const VISIBLE = 5000;
const HIDDEN = 30000;
const USERS = 15000;
const PAGE = 30000;
let timer = 0;
let running = false;
let again = false;
let fails = 0;
let usersAt = 0;
let pageAt = 0;
let nextAt = 0;

let configP = null;
function loadConfig() {
  configP = configP || get({ action: 'config' }).then((c) => {
    S.config = c && typeof c === 'object' ? c : {};
    $('node-name').replaceChildren(nodeLink(S.config.node, 'node'));
    if (S.channel == null) selectChannel(String(S.config.default_channel || ''));
    renderChannels();
  }, (e) => { configP = null; throw e; });
  return configP;
}

async function poll() {
  clearTimeout(timer);
  if (running) { again = true; return; }
  running = true;
  try {
    if (!S.config) await loadConfig();
    const v = await get({ action: 'messages_version_ui', call_sign: S.call, id: S.session, epoch: now() }, 10000);
    const version = v && v.messages_version;
    if (version !== S.version || !S.loaded) {
      setMessages(await get({ action: 'messages' }, 30000));
      S.version = version;
    }
    if (!document.hidden) {
      if (Date.now() - usersAt >= USERS - 500) {
        setUsers(await get({ action: 'users' }));
        usersAt = Date.now();
      }
      if (S.page !== 'chat' && Date.now() - pageAt >= PAGE - 500) {
        await (S.page === 'files' ? loadFiles() : loadStatus());
        pageAt = Date.now();
      }
    }
    fails = 0;
    S.lost = false;
    S.lastOk = Date.now();
  } catch {
    fails++;
    S.lost = true;
  }
  running = false;
  schedule(again ? 0 : null);
  again = false;
  if (S.page === 'status') renderStatus();
  tick();
}
hooks.pollNow = poll;

function schedule(ms) {
  if (ms == null) {
    ms = fails ? Math.min(5000 * 2 ** (fails - 1), document.hidden ? 60000 : 30000) : document.hidden ? HIDDEN : VISIBLE;
  }
  clearTimeout(timer);
  nextAt = Date.now() + ms;
  timer = setTimeout(poll, ms);
}

// The connection line on every page: "updated N s ago" or "connection lost".
let shownState = '';
function tick() {
  const state = S.lost ? 'Connection lost, retrying' : S.lastOk ? 'Online' : 'Connecting…';
  if (state !== shownState) {
    $('conn-state').textContent = shownState = state; // role=status: read out on change only
    $('conn').className = 'conn' + (S.lost ? ' lost' : '');
    $('retry').className = S.lost ? '' : 'off';
  }
  const age = S.lost ? (running ? 'now…' : 'in ' + Math.max(0, Math.ceil((nextAt - Date.now()) / 1000)) + ' s') : '';
  const last = S.lastOk ? 'updated ' + fmtAge((Date.now() - S.lastOk) / 1000) : '';
  $('conn-age').textContent = [age, last].filter(Boolean).join(' · ');
}

function route() {
  const p = location.hash.slice(1);
  S.page = p === 'files' || p === 'status' ? p : 'chat';
  for (const n of ['chat', 'files', 'status']) {
    $('page-' + n).hidden = n !== S.page;
    if (n === S.page) $('nav-' + n).setAttribute('aria-current', 'page');
    else $('nav-' + n).removeAttribute('aria-current');
  }
  if (S.page === 'chat') { markRead(); return; }
  if (S.page === 'status') renderStatus();
  pageAt = 0;
  poll();
}

function start(call) {
  $('login').hidden = true;
  $('nav').hidden = false;
  $('me').hidden = false;
  $('me-call').textContent = call;
  setCallSign(call);
  route();
  poll();
}

function showLogin() {
  clearTimeout(timer);
  for (const n of ['chat', 'files', 'status']) $('page-' + n).hidden = true;
  $('nav').hidden = true;
  $('me').hidden = true;
  $('login').hidden = false;
  $('login-call').value = S.call;
  $('login-call').focus();
}

function init() {
  let id = store.get('id') || legacyCookie('id');
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(id || '')) id = randomHex(8);
  store.set('id', id);
  S.session = id;
  initChat();
  initFiles();
  $('login-form').onsubmit = (e) => {
    e.preventDefault();
    const call = cleanCallSign($('login-call').value);
    if (!call) {
      $('login-error').textContent = 'That is not a call sign: use letters, digits, / and - only.';
      $('login-call').setAttribute('aria-invalid', 'true');
      return;
    }
    $('login-error').textContent = '';
    $('login-call').removeAttribute('aria-invalid');
    store.set('call', call);
    start(call);
  };
  $('logout').onclick = () => { store.del('call'); showLogin(); };
  $('retry').onclick = () => poll();
  addEventListener('hashchange', () => S.call && $('login').hidden && route());
  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !S.call || !$('login').hidden) return;
    markRead();
    renderUsers();
    if (Date.now() - S.lastOk > 2000 || Date.now() - usersAt > USERS) poll(); // catch up now
  });
  addEventListener('online', () => S.lost && poll());
  setInterval(tick, 1000);
  // The config (node name, default channel) is public: show it before login too.
  loadConfig().catch(() => {});
  const call = cleanCallSign(store.get('call') || legacyCookie('call_sign'));
  if (call) start(call);
  else showLogin();
}

init();
