// The chat page: channels, direct messages ('@A+B'), messages, replies ('> CALL (id): …'
// first: docs/API.md), composing, users, search, alerts.

import { $, h, store, randomHex, cleanChannel, cleanCallSign, utf8Len, nodeLink, fmtTime, fmtDay, dayKey } from './util.js';
import { act, now } from './net.js';
import { S, hooks } from './state.js';

const MAX = 4096; // bytes of a message the node accepts
const rows = new Map(); // message id -> its <li>, built once
const days = new Map(); // day -> its separator; relabelled each day ("Today" moves)
let daysOf = '', seq = 0, mentionRe = null, audio = null;
let stick = true; // follow new messages (the user has not scrolled up)

const str = (v) => String(v ?? '');
const mine = (m) => m.call_sign.toUpperCase() === S.call;
const mentions = (m) => !mine(m) && mentionRe && mentionRe.test(m.message);
const QUOTE = /^> (.+?) \(([0-9a-f]{8})\): (.*)\n/;
// A direct channel's other member if mine, '' if others'; else undefined. Only the exact
// form counts (upper-case, sorted): '@W2XYZ+K1ABC' is an ordinary channel.
function peer(ch) {
  const m = /^@([^+\s@a-z]+)\+([^+\s@a-z]+)$/.exec(ch);
  return !m || m[1] >= m[2] ? undefined : m[1] === S.call ? m[2] : m[2] === S.call ? m[1] : '';
}
const hiddenDM = (ch) => peer(ch) === '' && !S.others;
const tag = (ch) => (peer(ch) ? '@' + peer(ch) : peer(ch) === '' ? ch : '#' + ch);
const inView = (m) => (S.channel === '' ? !hiddenDM(m.channel) : m.channel === S.channel);
const bump = (map, k) => map.set(k, (map.get(k) || 0) + 1);
// Delivery of my messages posted on this node: the node's counts, a line under each.
const marks = new Map();
let held = { of: 1, held_by: {} };
const own = (m) => mine(m) && m.node.toLowerCase() === str(S.config?.node).toLowerCase();
const reach = (id) => {
  const n = Number(held.held_by?.[id]) || 1;
  return n > 1 ? 'reached ' + n + ' of ' + Math.max(n, Number(held.of) || n) + ' nodes' : 'on this node';
};

// The counts from messages_version_ui (delivery=1): updates the lines in place.
export function setDelivery(d) {
  if (d && typeof d === 'object') held = d;
  for (const [id, el] of marks) if (el.textContent !== reach(id)) el.textContent = reach(id);
}

export function setCallSign(call) {
  S.call = call;
  rows.clear();
  marks.clear();
  mentionRe = new RegExp('(^|[^A-Z0-9])' + call.replace(/[/-]/g, '\\$&') + '(?![A-Z0-9])', 'i');
  renderMessages();
}

// A new list from the node, newest first.
export function setMessages(list) {
  const all = list.map((m) => ({
    id: str(m.id), epoch: Number(m.epoch) || 0, message: str(m.message),
    call_sign: str(m.call_sign), node: str(m.node), channel: str(m.channel),
  })).reverse();
  // Within one second, the order they reached this page (the node sorts those by id).
  for (const m of all) m.seq = S.byId.get(m.id)?.seq ?? seq++;
  all.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
  const fresh = S.loaded ? all.filter((m) => !S.byId.has(m.id) && !mine(m)) : [];
  S.msgs = all;
  S.byId = new Map(all.map((m) => [m.id, m]));
  S.pending = S.pending.filter((p) => !S.byId.has(p.id));
  for (const id of rows.keys()) if (!S.byId.has(id)) rows.delete(id) && marks.delete(id);
  S.loaded = true;
  for (const m of fresh) {
    // Direct: unread until opened.
    if ((document.hidden || !inView(m) || (peer(m.channel) && m.channel !== S.channel)) && !hiddenDM(m.channel)) {
      bump(S.unread, m.channel);
      if (mentions(m) || peer(m.channel)) bump(S.mentions, m.channel);
    }
  }
  if (fresh.length && document.hidden) alertUser(fresh);
  renderChannels();
  renderMessages();
}

export const totalUnread = () => [...S.unread.values()].reduce((a, b) => a + b, 0);

// What is in view while the tab is visible has been read.
export function markRead() {
  if (document.hidden) return;
  for (const map of [S.unread, S.mentions]) for (const k of [...map.keys()]) if (S.channel ? k === S.channel : !peer(k)) map.delete(k);
  renderChannels();
}

export function selectChannel(ch) {
  S.channel = ch;
  store.set('channel', ch);
  stick = true;
  const p = peer(ch);
  $('text').placeholder = 'Message ' + (ch ? tag(ch) : 'Everything') + ' (Enter sends, Shift+Enter: new line)';
  $('conv').hidden = $('dm-note').hidden = p === undefined;
  $('conv').textContent = 'Direct: ' + (p || ch.slice(1)) + '. ' + $('dm-note').textContent;
  markRead();
  renderMessages();
}

export function renderChannels() {
  const set = new Set(S.extra);
  const last = new Map();
  for (const m of S.msgs) if (m.channel) set.add(m.channel), last.set(m.channel, m.epoch);
  if (S.config?.default_channel) set.add(str(S.config.default_channel));
  if (S.channel) set.add(S.channel);
  const total = totalUnread();
  const all = [...set].sort();
  const btn = (ch) => {
    const n = ch ? S.unread.get(ch) : total;
    const at = ch ? S.mentions.get(ch) : totalMentions();
    return h('li', null, h('button', { type: 'button', class: 'chan', 'aria-pressed': String(ch === S.channel), onclick: () => selectChannel(ch) },
      ch ? (peer(ch) || tag(ch)) : 'Everything', n ? h('span', { class: at ? 'badge at' : 'badge', 'aria-label': n + ' unread' }, n) : null));
  };
  $('channels').replaceChildren(...['', ...all.filter((c) => peer(c) === undefined)].map(btn));
  // Mine, newest first; others' when asked for.
  $('direct').replaceChildren(...all.filter((c) => peer(c) || (peer(c) === '' && (S.others || c === S.channel)))
    .sort((a, b) => (last.get(b) || 0) - (last.get(a) || 0)).map(btn));
  document.title = (total ? '(' + total + ') ' : '') + 'MeshChat' + (S.config ? ' · ' + S.config.node : '');
}

const totalMentions = () => [...S.mentions.values()].some(Boolean);

function newChannel(e) {
  e.preventDefault();
  const raw = $('new-channel-name').value;
  const ch = cleanChannel(raw);
  $('new-channel-note').textContent = !ch ? 'Type a channel name.' :
    ch !== raw.trim().replace(/^#+/, '') ? 'Created as #' + ch + ' (no spaces in channel names).' : '';
  if (!ch) return;
  if (!S.extra.includes(ch)) store.set('channels', JSON.stringify(S.extra = [...S.extra, ch].slice(-50)));
  $('new-channel-name').value = '';
  selectChannel(ch);
  renderChannels();
  $('text').focus();
}

function openDM(call) {
  const c = cleanCallSign(call);
  if (!c || c === S.call) return;
  selectChannel('@' + [S.call, c].sort().join('+')); // both upper-cased
  renderChannels();
  $('text').focus();
}

// A call sign, as a button that opens a direct conversation (not mine).
const who = (call) => h(cleanCallSign(call) && cleanCallSign(call) !== S.call ? 'button' : 'span',
  { class: 'who', onclick: () => openDM(call) }, call);

const meta = (call, node, ch, ...end) => h('div', { class: 'meta' }, who(call), node,
  ch ? h('span', { class: 'tag' }, tag(ch)) : null, end);

const excerpt = (t) => {
  const c = [...t.replace(QUOTE, '').replace(/\s+/g, ' ').trim()];
  return c.length > 60 ? c.slice(0, 60).join('') + '…' : c.join('');
};

// A reply's quote as a block (a jump to the original when here), then the text.
function body(text) {
  const q = QUOTE.exec(text);
  const o = q && S.byId.get(q[2]);
  return [q && h(o ? 'button' : 'blockquote', { class: 'quote', onclick: o && (() => jump(o)) }, q[1] + ': ' + q[3]),
    h('div', { class: 'text' }, q ? text.slice(q[0].length) : text)];
}

function jump(o) {
  if (!inView(o)) selectChannel(o.channel);
  if (S.search) S.search = $('search').value = '', renderMessages();
  const r = rows.get(o.id);
  r.scrollIntoView({ block: 'center' });
  r.classList.add('flash');
  setTimeout(() => r.classList.remove('flash'), 2000);
}

function replyTo(m) {
  S.reply = m;
  $('replying').hidden = false;
  $('reply-to').textContent = 'Reply to ' + m.call_sign + ': ' + excerpt(m.message);
  $('text').focus();
  count();
}

function row(m) {
  if (!rows.has(m.id)) {
    const d = new Date(m.epoch * 1000);
    rows.set(m.id, h('li', { class: 'msg' + (mine(m) ? ' mine' : '') + (mentions(m) ? ' mention' : '') },
      meta(m.call_sign, nodeLink(m.node, 'node'), m.channel, h('time', { datetime: d.toISOString(), title: d.toLocaleString() }, fmtTime(d)),
        h('button', { class: 're', onclick: () => replyTo(m) }, 'Reply')),
      body(m.message),
      own(m) && marks.set(m.id, h('div', { class: 'state reach' }, reach(m.id))).get(m.id)));
  }
  return rows.get(m.id);
}

function pendingRow(p) {
  const failed = p.state === 'failed';
  return h('li', { class: 'msg mine ' + (failed ? 'failed' : 'pending') },
    meta(S.call, null, p.channel, h('span', { class: 'state', role: failed ? 'alert' : null }, failed ? 'Not sent: ' + p.error : 'Sending…')),
    body(p.message),
    failed && h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => deliver(p) }, 'Retry'),
      h('button', { type: 'button', onclick: () => { S.pending = S.pending.filter((x) => x !== p); renderMessages(); } }, 'Discard')));
}

const matches = (m, q) => !q || [m.message, m.call_sign, m.channel, m.node].some((f) => f.toLowerCase().includes(q));

export function renderMessages() {
  const list = $('messages');
  const q = S.search.trim().toLowerCase();
  const nodes = [];
  const today = dayKey(new Date());
  if (daysOf !== today) { days.clear(); daysOf = today; }
  let day = '';
  let shown = 0;
  for (const m of S.msgs) {
    if (!inView(m) || !matches(m, q)) continue;
    const d = new Date(m.epoch * 1000);
    const k = dayKey(d);
    if (k !== day) {
      if (!days.has(k)) days.set(k, h('li', { class: 'day', role: 'separator' }, fmtDay(d)));
      nodes.push(days.get(day = k));
    }
    nodes.push(row(m));
    shown++;
  }
  for (const p of S.pending) if (inView(p) && matches({ ...p, call_sign: S.call, node: '' }, q)) nodes.push(pendingRow(p));
  if (!nodes.length) nodes.push(h('li', { class: 'empty' }, q ? 'No message matches.' : 'No messages yet.'));
  // Append when the list only grew, else rebuild; rows are reused either way.
  const cur = list.children;
  let i = 0;
  while (i < cur.length && cur[i] === nodes[i]) i++;
  if (i === cur.length) list.append(...nodes.slice(i));
  else list.replaceChildren(...nodes);
  $('search-count').textContent = q ? shown + (shown === 1 ? ' match' : ' matches') : '';
  if (stick) list.scrollTop = list.scrollHeight;
  else if (i < nodes.length) $('jump').hidden = false;
}

function deliver(p) {
  p.state = 'sending';
  renderMessages();
  act({ action: 'send_message' }, { message: p.message, call_sign: S.call, channel: p.channel, epoch: p.epoch, id: p.id }).then((r) => {
    p.state = r.ok ? 'sent' : 'failed';
    p.error = r.reason;
    renderMessages();
    if (r.ok) hooks.pollNow();
  });
}

function compose() {
  const t = $('text').value.trimEnd();
  const r = S.reply;
  return r && t.trim() ? '> ' + r.call_sign + ' (' + r.id + '): ' + excerpt(r.message) + '\n' + t : t;
}

function send() {
  const text = compose();
  if (!text.trim() || utf8Len(text) > MAX) return;
  // now(): the node's clock as far as known (the node raises an epoch behind its own)
  const p = { id: randomHex(4), epoch: now(), message: text, channel: S.reply ? S.reply.channel : S.channel };
  S.pending.push(p);
  $('text').value = '';
  $('replying').hidden = !(S.reply = null);
  count();
  stick = true;
  deliver(p);
}

function count() {
  const n = utf8Len(compose());
  $('counter').textContent = n + '/' + MAX;
  $('counter').classList.toggle('over', n > MAX);
  $('text').setAttribute('aria-invalid', n > MAX);
  $('send').disabled = n > MAX;
}

export function setUsers(list) {
  S.users = Array.isArray(list) ? list : [];
  renderUsers();
}

export function renderUsers() {
  const seen = new Map();
  for (const u of S.users) {
    const age = now() - (Number(u.epoch) || 0);
    const key = str(u.call_sign) + '\t' + str(u.node);
    if (age <= 240 && !(seen.get(key)?.age <= age)) seen.set(key, { call: str(u.call_sign), node: str(u.node), age });
  }
  const list = [...seen.values()].sort((a, b) => (a.age > 120) - (b.age > 120) || a.call.localeCompare(b.call));
  const active = list.filter((u) => u.age <= 120).length;
  $('users').replaceChildren(...list.map((u) => {
    const state = u.age <= 120 ? 'active' : 'idle';
    return h('li', { class: 'user ' + state }, h('span', { class: 'dot' }),
      who(u.call), nodeLink(u.node, 'node'), h('span', { class: 'vh' }, state));
  }));
  $('users-count').textContent = active + ' active · ' + (list.length - active) + ' idle';
}

function alertUser(fresh) {
  if ($('opt-sound').checked) beep();
  const m = fresh.at(-1);
  if ($('opt-notify').checked && window.Notification?.permission === 'granted') {
    try {
      new Notification(m.call_sign + (m.channel ? ' #' + m.channel : '') + (fresh.length > 1 ? ' (+' + (fresh.length - 1) + ' more)' : ''),
        { body: m.message.slice(0, 200), tag: 'meshchat' });
    } catch { /* some browsers notify only from a service worker */ }
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

export function initChat() {
  const list = $('messages');
  list.addEventListener('scroll', () => {
    stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (stick) $('jump').hidden = true;
  }, { passive: true });
  new ResizeObserver(() => { if (stick) list.scrollTop = list.scrollHeight; }).observe(list);
  $('jump').onclick = () => { stick = true; renderMessages(); };
  $('text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  $('text').addEventListener('input', count);
  $('compose').onsubmit = (e) => { e.preventDefault(); send(); };
  $('search').addEventListener('input', (e) => { S.search = e.target.value; renderMessages(); });
  $('new-channel').onsubmit = newChannel;
  $('reply-x').onclick = () => { $('replying').hidden = !(S.reply = null); count(); };
  $('new-dm').onsubmit = (e) => {
    e.preventDefault();
    const i = $('new-dm-call');
    const c = cleanCallSign(i.value);
    i.setCustomValidity(c && c !== S.call ? '' : 'Type the call sign of someone else.');
    if (i.reportValidity()) i.value = '', openDM(c);
  };
  const oth = $('opt-others');
  oth.checked = S.others = store.get('others') === '1';
  oth.onchange = () => { store.set('others', +(S.others = oth.checked)); renderChannels(); renderMessages(); };
  $('users-box').open = matchMedia('(min-width: 800px)').matches;
  const snd = $('opt-sound');
  const ntf = $('opt-notify');
  const note = $('notify-note');
  snd.checked = store.get('sound') === '1';
  snd.onchange = () => { store.set('sound', +snd.checked); if (snd.checked) beep(); };
  // Notifications need https or localhost: on a node's plain http they cannot be had.
  ntf.disabled = !window.Notification || !isSecureContext;
  if (ntf.disabled) note.textContent = 'Notifications need an https or localhost page.';
  ntf.checked = !ntf.disabled && store.get('notify') === '1' && Notification.permission === 'granted';
  ntf.onchange = async () => {
    if (ntf.checked) ntf.checked = (await Notification.requestPermission()) === 'granted';
    note.textContent = ntf.checked ? '' : 'Notifications are off.';
    store.set('notify', +ntf.checked);
  };
  count();
}
