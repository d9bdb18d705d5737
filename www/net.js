// Talking to /cgi-bin/meshchat: only the actions of PROTOCOL.md. Counts requests (the
// status page shows what this tab costs the node) and learns the node's clock.

export const API = '/cgi-bin/meshchat';
const sent = [];
let offset = 0; // node clock minus browser clock, ms

// Requests this tab made in the last minute.
export function requestsLastMinute() {
  const t = Date.now() - 60000;
  while (sent.length && sent[0] < t) sent.shift();
  return sent.length;
}

// Unix seconds by the node's clock as far as we know it: the browser's clock is never
// trusted blindly (a phone set to the wrong zone or year is common on a mesh).
export const now = () => Math.floor((Date.now() + offset) / 1000);
export const nowMs = () => Date.now() + offset;

function learnClock(res, t0) {
  const d = Date.parse(res.headers.get('Date') || '');
  if (!d) return;
  const skew = d + 500 - (t0 + Date.now()) / 2; // Date has whole seconds
  offset = Math.abs(skew) > 3000 ? skew : 0;
}

export const query = (params) =>
  Object.entries(params).map(([k, v]) => k + '=' + encodeURIComponent(v)).join('&');

async function request(params, init, timeout) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  const t0 = Date.now();
  sent.push(t0);
  try {
    const res = await fetch(API + '?' + query(params), { ...init, signal: ctl.signal, cache: 'no-store' });
    learnClock(res, t0);
    const text = await res.text();
    return { res, text };
  } finally {
    clearTimeout(timer);
  }
}

// A read action; throws when the node cannot be reached or answers garbage.
export async function get(params, timeout = 15000) {
  const { res, text } = await request(params, {}, timeout);
  if (!res.ok) throw new Error('HTTP ' + res.status);
  return JSON.parse(text);
}

// The legacy status reply {"status":200,"response":"OK"}. `meshchat serve` sends
// refusals with HTTP 4xx, a CGI node with 200: the JSON status decides either way.
export function verdict(status, text) {
  try {
    const j = JSON.parse(text);
    if (j && typeof j === 'object' && 'status' in j) {
      return { ok: j.status == 200, reason: String(j.response || 'refused') };
    }
  } catch { /* not JSON */ }
  return { ok: false, reason: status ? 'unexpected answer (HTTP ' + status + ')' : 'no connection' };
}

// A write action with urlencoded fields; resolves to {ok, reason}; throws when offline.
export async function post(action, fields) {
  const { res, text } = await request({ action }, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: query(fields),
  }, 20000);
  return verdict(res.status, text);
}

// A write action by GET (legacy `delete_file` takes its fields from the query string).
export async function act(params) {
  try {
    const { res, text } = await request(params, {}, 20000);
    return verdict(res.status, text);
  } catch {
    return { ok: false, reason: 'no connection to the node' };
  }
}

// A multipart upload with progress (fetch cannot report upload progress).
export function upload(file, onProgress) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    sent.push(Date.now());
    x.open('POST', API + '?action=upload_file');
    x.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    x.onload = () => resolve(verdict(x.status, x.responseText));
    x.onerror = () => resolve({ ok: false, reason: 'no connection to the node' });
    const fd = new FormData();
    fd.append('uploadfile', file, file.name);
    x.send(fd);
  });
}
