// DOM and format helpers. Server data enters the page only as text: h() sets textContent,
// attributes by fixed names, and listeners that are functions.

export const $ = (id) => document.getElementById(id);

// h('li', {class: 'x', onclick: f}, 'text', child)
export function h(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const k in props) {
    const v = props[k];
    if (v == null || v === false) continue;
    if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new TypeError(k);
      e.addEventListener(k.slice(2), v);
    } else e.setAttribute(k, v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) e.append(c); // strings: text nodes
  return e;
}

// localStorage that never throws (private windows, storage off).
export const store = {
  get(k) { try { return localStorage.getItem('meshchat_' + k); } catch { return null; } },
  set(k, v) { try { localStorage.setItem('meshchat_' + k, v); } catch { /* not kept */ } },
};

export const randomHex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');

// Letters, digits, '/' and '-', upper-cased; null when not a call sign.
export function cleanCallSign(s) {
  s = String(s || '').trim().toUpperCase();
  return /^(?=.*[A-Z0-9])[A-Z0-9/-]{1,32}$/.test(s) ? s : null;
}

// Legacy parsers split a channel at whitespace: spaces become '-'.
export function cleanChannel(s) {
  s = String(s).replace(/[\0-\x1f\x7f]/g, '').trim().replace(/^#+/, '').replace(/\s+/g, '-');
  while (utf8Len(s) > 64) s = s.slice(0, -1);
  return s;
}

export const utf8Len = (s) => new TextEncoder().encode(s).length;

// A node name fit for a URL host (DNS characters only), or null.
export function nodeHost(node) {
  node = String(node ?? '');
  if (!/^[A-Za-z0-9][\w-]{0,62}(\.[A-Za-z0-9][\w-]{0,62})*$/.test(node)) return null;
  return node.includes('.') ? node : node + '.local.mesh';
}

// A link to a node's web UI; plain text when the name is not a host name.
export function nodeLink(node, cls) {
  const host = nodeHost(node);
  return host ? h('a', { class: cls, href: 'http://' + host + ':8080/', target: '_blank', rel: 'noopener' }, node)
    : h('span', { class: cls }, String(node ?? '?'));
}

// "name:port" of a file entry -> {node, port}, or null.
export function splitNodePort(s) {
  const m = /^(.+):(\d{1,5})$/.exec(String(s));
  return m && nodeHost(m[1]) && m[2] > 0 && m[2] < 65536 ? { node: m[1], port: +m[2] } : null;
}

export function fmtSize(n) {
  n = Number(n) || 0;
  const [d, u] = n < 1024 ? [1, ' B'] : n < 1048576 ? [1024, ' KB'] : [1048576, ' MB'];
  return (n / d).toFixed(n / d < 10 && d > 1 ? 1 : 0) + u;
}

export function fmtAge(s) {
  s = Math.max(0, Math.round(s));
  return s < 60 ? s + ' s ago' : s < 3600 ? (s / 60 | 0) + ' min ago' : s < 172800 ? (s / 3600 | 0) + ' h ago' : (s / 86400 | 0) + ' days ago';
}

const pad = (n) => String(n).padStart(2, '0');
export const fmtTime = (d) => pad(d.getHours()) + ':' + pad(d.getMinutes());
export const dayKey = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());

export function fmtDay(d) {
  const t = new Date();
  if (dayKey(d) === dayKey(t)) return 'Today';
  t.setDate(t.getDate() - 1);
  return dayKey(d) === dayKey(t) ? 'Yesterday' : d.toLocaleDateString(undefined, { dateStyle: 'full' });
}
