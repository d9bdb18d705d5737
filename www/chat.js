// The chat page: channels, messages, composing, users, search, alerts.

import { $, h, store, randomHex, cleanChannel, utf8Len, nodeLink, fmtTime, fmtDay, dayKey } from './util.js';
import { post, now } from './net.js';
import { S, hooks } from './state.js';

const MAX = 4096; // bytes of a message the node accepts
const rows = new Map(); // message id -> its <li>, built once
const days = new Map(); // day -> its separator <li>
let daysOf = ''; // the day `days` was labelled on
let seq = 0; // arrival order of messages
let stick = true; // follow new messages (the user has not scrolled up)
let mentionRe = null;
let audio = null;

const norm = (m) => ({
  id: String(m.id), epoch: Number(m.epoch) || 0, message: String(m.message ?? ''),
  call_sign: String(m.call_sign ?? ''), node: String(m.node ?? ''), channel: String(m.channel ?? ''),
});

export function setCallSign(call) {
  S.call = call;
  rows.clear();
  const esc = call.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  mentionRe = new RegExp('(^|[^A-Z0-9])' + esc + '(?![A-Z0-9])', 'i');
  renderMessages();
}

const mine = (m) => m.call_sign.toUpperCase() === S.call;
const mentions = (m) => !mine(m) && mentionRe && mentionRe.test(m.message);
const inView = (m) => S.channel === '' || m.channel === S.channel;

// A new list from the node (newest first, as `messages` sends it).
export function setMessages(list) {
  const fresh = [];
  const all = list.map(norm).reverse();
  // Within one second, the order they reached this page (the node sorts those by id).
  for (const m of all) m.seq = S.byId.get(m.id)?.seq ?? seq++;
  all.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
  const byId = new Map();
  for (const m of all) {
    byId.set(m.id, m);
    if (S.loaded && !S.byId.has(m.id) && !mine(m)) fresh.push(m);
  }
  S.msgs = all;
  S.byId = byId;
  S.pending = S.pending.filter((p) => !byId.has(p.id));
  for (const id of rows.keys()) if (!byId.has(id)) rows.delete(id);
  const first = !S.loaded;
  S.loaded = true;
  for (const m of fresh) {
    if (document.hidden || !inView(m)) {
      bump(S.unread, m.channel);
      if (mentions(m)) bump(S.mentions, m.channel);
    }
  }
  if (fresh.length && document.hidden) alertUser(fresh);
  if (first) stick = true;
  renderChannels();
  renderMessages();
}

const bump = (map, k) => map.set(k, (map.get(k) || 0) + 1);

export function totalUnread() {
  let n = 0;
  for (const v of S.unread.values()) n += v;
  return n;
}

// The messages in view became visible: they are read.
export function markRead() {
  if (document.hidden) return;
  if (S.channel === '') { S.unread.clear(); S.mentions.clear(); }
  else { S.unread.delete(S.channel); S.mentions.delete(S.channel); }
  renderChannels();
}

// ---- channels

function channels() {
  const set = new Set(S.extra);
  for (const m of S.msgs) if (m.channel) set.add(m.channel);
  const d = S.config && S.config.default_channel;
  if (d) set.add(String(d));
  if (S.channel) set.add(S.channel);
  return ['', ...[...set].sort((a, b) => a.localeCompare(b))];
}

export function selectChannel(ch) {
  S.channel = ch;
  store.set('channel', ch);
  stick = true;
  $('text').placeholder = 'Message ' + (ch ? '#' + ch : 'Everything') + ' (Enter sends, Shift+Enter: new line)';
  markRead();
  renderMessages();
}

export function renderChannels() {
  const ul = $('channels');
  const total = totalUnread();
  ul.replaceChildren(...channels().map((ch) => {
    const n = ch === '' ? total : S.unread.get(ch) || 0;
    const at = ch === '' ? [...S.mentions.values()].some(Boolean) : S.mentions.get(ch) > 0;
    return h('li', null, h('button', {
      type: 'button', class: 'chan', 'aria-pressed': String(ch === S.channel),
      onclick: () => selectChannel(ch),
    }, ch ? '#' + ch : 'Everything', n ? h('span', { class: at ? 'badge at' : 'badge', 'aria-label': n + ' unread' }, String(n)) : null));
  }));
  const title = (total ? '(' + total + ') ' : '') + 'MeshChat' + (S.config ? ' · ' + S.config.node : '');
  if (document.title !== title) document.title = title;
}

function newChannel(e) {
  e.preventDefault();
  const input = $('new-channel-name');
  const raw = input.value;
  const ch = cleanChannel(raw);
  const note = $('new-channel-note');
  if (!ch) { note.textContent = 'Type a channel name.'; return; }
  note.textContent = ch !== raw.trim().replace(/^#+/, '') ? 'Created as #' + ch + ' (no spaces in channel names).' : '';
  if (!S.extra.includes(ch)) { S.extra.push(ch); store.set('channels', JSON.stringify(S.extra.slice(-50))); }
  input.value = '';
  selectChannel(ch);
  renderChannels();
  $('text').focus();
}

// ---- messages

function row(m) {
  let li = rows.get(m.id);
  if (li) return li;
  const d = new Date(m.epoch * 1000);
  li = h('li', { class: 'msg' + (mine(m) ? ' mine' : '') + (mentions(m) ? ' mention' : '') },
    h('div', { class: 'meta' },
      h('span', { class: 'who' }, m.call_sign),
      nodeLink(m.node, 'node'),
      m.channel ? h('span', { class: 'tag' }, '#' + m.channel) : null,
      h('time', { datetime: d.toISOString(), title: d.toLocaleString() }, fmtTime(d))),
    h('div', { class: 'text' }, m.message));
  rows.set(m.id, li);
  return li;
}

function pendingRow(p) {
  const failed = p.state === 'failed';
  return h('li', { class: 'msg mine ' + (failed ? 'failed' : 'pending') },
    h('div', { class: 'meta' },
      h('span', { class: 'who' }, S.call),
      p.channel ? h('span', { class: 'tag' }, '#' + p.channel) : null,
      h('span', { class: 'state', role: failed ? 'alert' : null }, failed ? 'Not sent: ' + p.error : 'Sending…')),
    h('div', { class: 'text' }, p.message),
    failed ? h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => deliver(p) }, 'Retry'),
      h('button', { type: 'button', onclick: () => discard(p) }, 'Discard')) : null);
}

function matches(m, q) {
  return !q || m.message.toLowerCase().includes(q) || m.call_sign.toLowerCase().includes(q) ||
    m.channel.toLowerCase().includes(q) || m.node.toLowerCase().includes(q);
}

export function renderMessages() {
  const list = $('messages');
  const q = S.search.trim().toLowerCase();
  const nodes = [];
  const today = dayKey(new Date());
  if (daysOf !== today) { days.clear(); daysOf = today; } // "Today" became "Yesterday"
  let day = '';
  let shown = 0;
  for (const m of S.msgs) {
    if (!inView(m) || !matches(m, q)) continue;
    const k = dayKey(new Date(m.epoch * 1000));
    if (k !== day) {
      day = k;
      if (!days.has(k)) days.set(k, h('li', { class: 'day', role: 'separator' }, fmtDay(new Date(m.epoch * 1000))));
      nodes.push(days.get(k));
    }
    nodes.push(row(m));
    shown++;
  }
  for (const p of S.pending) if (inView(p) && matches({ ...p, call_sign: S.call, node: '' }, q)) nodes.push(pendingRow(p));
  if (!nodes.length) nodes.push(h('li', { class: 'empty' }, q ? 'No message matches.' : 'No messages yet.'));
  // Append when the list only grew, rebuild otherwise; rows are reused either way.
  const cur = list.children;
  let i = 0;
  while (i < cur.length && i < nodes.length && cur[i] === nodes[i]) i++;
  if (i === cur.length) list.append(...nodes.slice(i));
  else list.replaceChildren(...nodes);
  $('search-count').textContent = q ? shown + (shown === 1 ? ' match' : ' matches') : '';
  if (stick) list.scrollTop = list.scrollHeight;
  else if (i < nodes.length) $('jump').hidden = false;
}

// ---- sending

function deliver(p) {
  p.state = 'sending';
  renderMessages();
  post('send_message', { message: p.message, call_sign: S.call, channel: p.channel, epoch: p.epoch, id: p.id })
    .then((r) => { p.state = r.ok ? 'sent' : 'failed'; p.error = r.reason; },
      () => { p.state = 'failed'; p.error = 'no connection to the node'; })
    .then(() => { renderMessages(); if (p.state === 'sent') hooks.pollNow(); });
}

function discard(p) {
  S.pending = S.pending.filter((x) => x !== p);
  renderMessages();
}

function send() {
  const ta = $('text');
  const text = ta.value.replace(/\s+$/, '');
  if (!text.trim() || utf8Len(text) > MAX) return;
  // The node raises an epoch that is behind its clock; `now()` is already corrected.
  const p = { id: randomHex(4), epoch: now(), message: text, channel: S.channel, state: 'sending' };
  S.pending.push(p);
  ta.value = '';
  count();
  stick = true;
  deliver(p);
}

function count() {
  const n = utf8Len($('text').value);
  const c = $('counter');
  c.textContent = n + '/' + MAX;
  c.classList.toggle('over', n > MAX);
  $('text').setAttribute('aria-invalid', String(n > MAX));
  $('send').disabled = n > MAX;
}

// ---- users

export function setUsers(list) {
  S.users = Array.isArray(list) ? list : [];
  renderUsers();
}

export function renderUsers() {
  const t = now();
  const seen = new Map();
  for (const u of S.users) {
    const age = t - (Number(u.epoch) || 0);
    const key = String(u.call_sign) + '\t' + String(u.node);
    if (age > 240 || (seen.has(key) && seen.get(key).age <= age)) continue;
    seen.set(key, { call: String(u.call_sign ?? ''), node: String(u.node ?? ''), age });
  }
  const list = [...seen.values()].sort((a, b) => (a.age > 120) - (b.age > 120) || a.call.localeCompare(b.call));
  $('users').replaceChildren(...list.map((u) => {
    const state = u.age <= 120 ? 'active' : 'idle';
    return h('li', { class: 'user ' + state }, h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('span', { class: 'who' }, u.call), nodeLink(u.node, 'node'), h('span', { class: 'vh' }, ' ' + state));
  }));
  if (!list.length) $('users').append(h('li', { class: 'empty' }, 'Nobody active.'));
  const active = list.filter((u) => u.age <= 120).length;
  $('users-count').textContent = '(' + active + ' active, ' + (list.length - active) + ' idle)';
}

// ---- alerts while the tab is hidden

function alertUser(fresh) {
  if ($('opt-sound').checked) beep();
  if ($('opt-notify').checked && window.Notification && Notification.permission === 'granted') {
    const m = fresh[fresh.length - 1];
    const more = fresh.length > 1 ? ' (+' + (fresh.length - 1) + ' more)' : '';
    try {
      new Notification(m.call_sign + (m.channel ? ' #' + m.channel : '') + more, { body: m.message.slice(0, 200), tag: 'meshchat' });
    } catch { /* some browsers only notify from a service worker */ }
  }
}

function beep() {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator();
    const g = audio.createGain();
    g.gain.value = 0.08;
    o.frequency.value = 880;
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.15);
  } catch { /* no audio */ }
}

function initAlerts() {
  const snd = $('opt-sound');
  const ntf = $('opt-notify');
  snd.checked = store.get('sound') === '1';
  ntf.checked = store.get('notify') === '1' && window.Notification && Notification.permission === 'granted';
  snd.onchange = () => { store.set('sound', snd.checked ? '1' : '0'); if (snd.checked) beep(); };
  if (!window.Notification || !window.isSecureContext) {
    ntf.disabled = true;
    $('notify-note').textContent = 'This browser allows notifications only on https or localhost pages.';
  }
  ntf.onchange = async () => {
    if (ntf.checked && Notification.permission !== 'granted') {
      ntf.checked = (await Notification.requestPermission()) === 'granted';
      if (!ntf.checked) $('notify-note').textContent = 'Notifications were not allowed.';
    }
    store.set('notify', ntf.checked ? '1' : '0');
  };
}

export function initChat() {
  const list = $('messages');
  list.addEventListener('scroll', () => {
    stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (stick) $('jump').hidden = true;
  }, { passive: true });
  new ResizeObserver(() => { if (stick) list.scrollTop = list.scrollHeight; }).observe(list);
  $('jump').onclick = () => { stick = true; list.scrollTop = list.scrollHeight; $('jump').hidden = true; };
  const ta = $('text');
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  ta.addEventListener('input', count);
  $('compose').onsubmit = (e) => { e.preventDefault(); send(); };
  $('search').addEventListener('input', (e) => { S.search = e.target.value; renderMessages(); });
  $('new-channel').onsubmit = newChannel;
  if (matchMedia('(min-width: 800px)').matches) $('users-box').open = true;
  initAlerts();
  count();
}
