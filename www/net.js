// The node's API: only actions of docs/PROTOCOL.md. Counts requests (the status page shows what
// this tab costs the node) and learns the node's clock.

export const API = '/cgi-bin/meshchat';
const sent = [];
let offset = 0; // node clock minus browser clock, ms

export function requestsLastMinute() {
  while (sent.length && sent[0] < Date.now() - 60000) sent.shift();
  return sent.length;
}

// Unix seconds by the node's clock: a phone set to the wrong year is common on a mesh, so
// the browser's clock is corrected by the Date of the node's answers.
export const now = () => Math.floor((Date.now() + offset) / 1000);

export const query = (p) => Object.entries(p).map(([k, v]) => k + '=' + encodeURIComponent(v)).join('&');

async function request(params, init, timeout) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  const t0 = Date.now();
  sent.push(t0);
  try {
    const res = await fetch(API + '?' + query(params), { ...init, signal: ctl.signal, cache: 'no-store' });
    const d = Date.parse(res.headers.get('Date'));
    const skew = d + 500 - (t0 + Date.now()) / 2; // Date has whole seconds
    if (d) offset = Math.abs(skew) > 3000 ? skew : 0;
    return { status: res.status, ok: res.ok, text: await res.text() };
  } finally {
    clearTimeout(timer);
  }
}

// A read action's JSON; throws when the node is unreachable or answers nonsense.
export async function get(params, timeout = 15000) {
  const r = await request(params, {}, timeout);
  if (!r.ok) throw new Error('HTTP ' + r.status);
  return JSON.parse(r.text);
}

// The legacy reply {"status":200,"response":"OK"}: `serve` sends a refusal with HTTP 4xx,
// a CGI node with 200; the JSON status decides.
export function verdict(status, text) {
  try {
    const j = JSON.parse(text);
    if ('status' in j) return { ok: j.status == 200, reason: String(j.response) };
  } catch { /* not JSON */ }
  return { ok: false, reason: status ? 'unexpected answer (HTTP ' + status + ')' : 'no connection to the node' };
}

// A write action: fields by POST (send_message) or in the query (delete_file, as legacy).
export async function act(params, fields) {
  try {
    const r = await request(params, fields && {
      method: 'POST', body: query(fields), headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }, 20000);
    return verdict(r.status, r.text);
  } catch {
    return verdict(0);
  }
}

// Multipart upload with progress (fetch cannot report upload progress).
export function upload(file, onProgress) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    sent.push(Date.now());
    x.open('POST', API + '?action=upload_file');
    x.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    x.onload = () => resolve(verdict(x.status, x.responseText));
    x.onerror = () => resolve(verdict(0));
    const fd = new FormData();
    fd.append('uploadfile', file);
    x.send(fd);
  });
}
