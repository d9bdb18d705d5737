// MeshChat web UI: login, pages, and a poller cheap for the node (docs/UI.md). Visible:
// messages_version_ui (the presence heartbeat too) every 5 s, users every 15 s, messages
// when the version changed, files or status every 30 s while shown. Hidden: one request
// every 30 s. Unreachable: retry after 5, 10, 20, then every 30 s (60 s hidden).

import { $, store, randomHex, cleanCallSign, nodeLink, fmtAge } from './util.js';
import { get, now } from './net.js';
import { S, hooks } from './state.js';
import { initChat, setCallSign, setMessages, setUsers, selectChannel, renderChannels, renderUsers, markRead, setDelivery } from './chat.js';
import { initFiles, loadFiles, loadStatus, renderStatus } from './pages.js';

const VISIBLE = 5000, HIDDEN = 30000, USERS = 15000, PAGE = 30000; // ms
let timer = 0, running = false, again = false, fails = 0, usersAt = 0, pageAt = 0, nextAt = 0, configP = null;

function loadConfig() {
  configP = configP || get({ action: 'config' }).then((c) => {
    S.config = c || {};
    $('node-name').replaceChildren(nodeLink(S.config.node, 'node'));
    if (S.channel == null) selectChannel(String(S.config.default_channel || ''));
    renderChannels();
  }, (e) => { configP = null; throw e; });
  return configP;
}

async function poll() {
  clearTimeout(timer);
  if (!$('login').hidden) return;
  if (running) { again = true; return; }
  running = true;
  try {
    await loadConfig();
    const r = await get({ action: 'messages_version_ui', call_sign: S.call, id: S.session, epoch: now(), delivery: 1 }, 10000);
    const v = r.messages_version;
    setDelivery(r.delivery);
    if (v !== S.version || !S.loaded) {
      setMessages(await get({ action: 'messages' }, 30000));
      S.version = v;
    }
    if (!document.hidden && Date.now() - usersAt >= USERS - 500) {
      setUsers(await get({ action: 'users' }));
      usersAt = Date.now();
    }
    if (!document.hidden && S.page !== 'chat' && Date.now() - pageAt >= PAGE - 500) {
      await (S.page === 'files' ? loadFiles() : loadStatus());
      pageAt = Date.now();
    }
    fails = 0;
    S.lastOk = Date.now();
  } catch {
    fails++;
  }
  S.lost = fails > 0;
  running = false;
  const ms = again ? 0 : fails ? Math.min(5000 * 2 ** (fails - 1), document.hidden ? 60000 : 30000) : document.hidden ? HIDDEN : VISIBLE;
  again = false;
  nextAt = Date.now() + ms;
  timer = setTimeout(poll, ms);
  if (S.page === 'status') renderStatus();
  tick();
}
hooks.pollNow = poll;

// The connection line on every page. Only the state is a live region (read out when it
// changes), not the ticking age.
function tick() {
  const state = S.lost ? 'Connection lost, retrying' : S.lastOk ? 'Online' : 'Connecting…';
  if ($('conn-state').textContent !== state) $('conn-state').textContent = state;
  $('conn').className = S.lost ? 'conn lost' : 'conn';
  $('retry').className = S.lost ? '' : 'off';
  $('conn-age').textContent = [S.lost && (running ? 'now…' : 'in ' + Math.max(0, Math.ceil((nextAt - Date.now()) / 1000)) + ' s'),
    S.lastOk && 'updated ' + fmtAge((Date.now() - S.lastOk) / 1000)].filter(Boolean).join(' · ');
}

function route() {
  const p = location.hash.slice(1);
  S.page = p === 'files' || p === 'status' ? p : 'chat';
  for (const n of ['chat', 'files', 'status']) {
    $('page-' + n).hidden = n !== S.page;
    if (n === S.page) $('nav-' + n).setAttribute('aria-current', 'page');
    else $('nav-' + n).removeAttribute('aria-current');
  }
  if (S.page === 'chat') return markRead();
  if (S.page === 'status') renderStatus();
  pageAt = 0;
  poll();
}

function showApp(on) {
  $('login').hidden = on;
  $('nav').hidden = $('me').hidden = $('conn').hidden = !on;
  for (const n of ['chat', 'files', 'status']) if (!on) $('page-' + n).hidden = true;
}

function start(call) {
  showApp(true);
  $('me-call').textContent = call;
  setCallSign(call);
  route();
  if (S.page === 'chat') poll(); // other pages poll when shown
}

function init() {
  let id = store.get('id');
  if (!/^[\w-]{1,32}$/.test(id || '')) id = randomHex(8);
  store.set('id', S.session = id);
  initChat();
  initFiles();
  $('login-form').onsubmit = (e) => {
    e.preventDefault();
    const call = cleanCallSign($('login-call').value);
    $('login-error').textContent = call ? '' : 'That is not a call sign: use letters, digits, / and - only.';
    $('login-call').setAttribute('aria-invalid', !call);
    if (call) { store.set('call', call); start(call); }
  };
  $('logout').onclick = () => {
    clearTimeout(timer);
    store.set('call', '');
    showApp(false);
    $('login-call').value = S.call;
    $('login-call').focus();
  };
  $('retry').onclick = poll;
  addEventListener('hashchange', () => $('login').hidden && route());
  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !$('login').hidden) return;
    markRead();
    renderUsers();
    if (Date.now() - S.lastOk > 2000 || Date.now() - usersAt > USERS) poll(); // catch up now
  });
  addEventListener('online', () => S.lost && poll());
  setInterval(tick, 1000);
  loadConfig().catch(() => {}); // node name and default channel, before login too
  const call = cleanCallSign(store.get('call'));
  if (call) start(call);
  else showApp(false);
}

init();
