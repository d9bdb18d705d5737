// DOM and formatting helpers. Everything from the server goes into the page as text:
// h() only ever sets textContent, attributes by fixed names, and listeners that are code.

export const $ = (id) => document.getElementById(id);

// h('li', {class: 'x', onclick: fn}, 'text', child): builds an element. Strings become
// text nodes; an `on...` prop must be a function (never a string built from data).
export function h(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const k in props || {}) {
    const v = props[k];
    if (v == null || v === false) continue;
    if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new TypeError('handler must be a function');
      e.addEventListener(k.slice(2), v);
    } else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) e.append(c);
  return e;
}

// Local storage that never throws (private windows, disabled storage).
export const store = {
  get(k) { try { return localStorage.getItem('meshchat_' + k); } catch { return null; } },
  set(k, v) { try { localStorage.setItem('meshchat_' + k, v); } catch { /* not kept */ } },
  del(k) { try { localStorage.removeItem('meshchat_' + k); } catch { /* nothing */ } },
};

// A legacy MeshChat cookie (the old UI kept the call sign and session id there).
export function legacyCookie(name) {
  const m = document.cookie.match(new RegExp('(?:^|; )meshchat_' + name + '=([^;]*)'));
  try { return m ? decodeURIComponent(m[1]) : null; } catch { return null; }
}

export function randomHex(bytes) {
  const a = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

// Call signs: letters, digits, '/' and '-', upper-cased; null when invalid.
export function cleanCallSign(s) {
  s = String(s || '').trim().toUpperCase();
  return /^(?=.*[A-Z0-9])[A-Z0-9/-]{1,32}$/.test(s) ? s : null;
}

// Channel names go to legacy parsers that split on whitespace: spaces become '-'.
export function cleanChannel(s) {
  s = String(s || '').replace(/[\u0000-\u001f\u007f]/g, '').trim().replace(/^#+/, '');
  s = s.replace(/\s+/g, '-');
  while (utf8Len(s) > 64) s = s.slice(0, -1);
  return s;
}

export const utf8Len = (s) => new TextEncoder().encode(s).length;

// A node name safe to put in a URL host: DNS-ish characters only, no leading dot or dash.
export function nodeHost(node) {
  node = String(node || '');
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9][A-Za-z0-9_-]{0,62})*$/.test(node)) return null;
  return node.includes('.') ? node : node + '.local.mesh';
}

// A link to a node's web UI, or plain text when the name is not a valid host name.
export function nodeLink(node, cls) {
  const host = nodeHost(node);
  const label = String(node || '?');
  if (!host) return h('span', { class: cls }, label);
  return h('a', { class: cls, href: 'http://' + host + ':8080/', target: '_blank', rel: 'noopener noreferrer' }, label);
}

// "name:port" of a file entry -> {node, port}; null when malformed.
export function splitNodePort(s) {
  const m = /^(.+):(\d{1,5})$/.exec(String(s || ''));
  return m && nodeHost(m[1]) && +m[2] > 0 && +m[2] < 65536 ? { node: m[1], port: +m[2] } : null;
}

export function fmtSize(n) {
  n = Number(n) || 0;
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KB';
  if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MB';
  return (n / 1073741824).toFixed(1) + ' GB';
}

export function fmtAge(secs) {
  secs = Math.max(0, Math.round(secs));
  if (secs < 60) return secs + ' s ago';
  if (secs < 3600) return Math.floor(secs / 60) + ' min ago';
  if (secs < 172800) return Math.floor(secs / 3600) + ' h ago';
  return Math.floor(secs / 86400) + ' days ago';
}

const pad = (n) => String(n).padStart(2, '0');
export const fmtTime = (d) => pad(d.getHours()) + ':' + pad(d.getMinutes());
export const dayKey = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());

export function fmtDay(d) {
  const today = new Date();
  if (dayKey(d) === dayKey(today)) return 'Today';
  today.setDate(today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
}
