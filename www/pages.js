// The files page (upload, download, delete) and the status page (node, peers' last sync).

import { $, h, fmtSize, fmtAge, splitNodePort, nodeHost, nodeLink } from './util.js';
import { API, get, act, upload, query, now, requestsLastMinute } from './net.js';
import { S } from './state.js';

let files = [];
let stats = null;
let peers = [], raven;
let hooks = []; // action_log (legacy: [])

export async function loadFiles() {
  const d = await get({ action: 'files' });
  files = Array.isArray(d.files) ? d.files : [];
  stats = d.stats;
  renderFiles();
}

function say(text, error) {
  $('files-msg').textContent = text;
  $('files-msg').className = error ? 'error' : 'note';
}

// A local file downloads from here, a peer's from that peer, by a checked host name.
function href(f) {
  const q = API + '?' + query({ action: 'file_download', file: f.file });
  const np = splitNodePort(f.node);
  return f.local == 1 ? q : np && 'http://' + nodeHost(np.node) + ':' + np.port + q;
}

// Two clicks, no dialog box: no mistakes with a thumb.
function delButton(f) {
  let armed = 0;
  const label = (t) => { b.textContent = t; b.setAttribute('aria-label', t + ' ' + f.file); };
  const b = h('button', { type: 'button', class: 'del', onclick: async () => {
    if (!armed) {
      label('Confirm delete');
      armed = setTimeout(() => { armed = 0; label('Delete'); }, 5000);
      return;
    }
    clearTimeout(armed);
    b.disabled = true;
    const r = await act({ action: 'delete_file', file: f.file });
    say(r.ok ? 'Deleted “' + f.file + '”.' : 'Could not delete “' + f.file + '”: ' + r.reason, !r.ok);
    loadFiles().catch(() => {});
  } });
  label('Delete');
  return b;
}

export function renderFiles() {
  if (stats) {
    $('file-stats').textContent = fmtSize(stats.files) + ' of ' + fmtSize(stats.allowed) + ' used, ' + fmtSize(stats.files_free) + ' free on this node.';
  }
  const items = files.map((x) => {
    const f = { ...x, file: String(x.file ?? '') };
    const np = splitNodePort(f.node);
    const link = href(f);
    return h('li', { class: 'file' },
      h(link ? 'a' : 'span', { class: 'name', href: link, download: link && f.file }, f.file),
      h('span', { class: 'info' }, fmtSize(f.size) + ' · ' + fmtAge(now() - (Number(f.epoch) || 0)) + ' · ' +
        (np ? np.node : String(f.node)) + (f.local == 1 ? ' (this node)' : '')),
      // A legacy node sends no `deletable`: offer it, the node decides.
      f.local == 1 && f.deletable !== 0 && delButton(f));
  });
  $('files-list').replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, 'No shared files.')]));
}

async function doUpload(e) {
  e.preventDefault();
  const f = $('upload-file').files[0];
  const bar = $('upload-progress');
  if (!f) return say('Choose a file first.', true);
  const free = stats ? Number(stats.files_free) : NaN;
  const name = '“' + f.name + '”';
  // Refuse here what the node would refuse: no point in sending it over the radio first.
  if (f.size > free) return say('Not enough storage: ' + name + ' is ' + fmtSize(f.size) + ' but only ' + fmtSize(free) + ' is free on this node. Delete some files first.', true);
  $('upload-btn').disabled = true;
  bar.value = 0;
  say('Uploading ' + name + '…');
  const r = await upload(f, (x) => { bar.value = x; say('Uploading ' + name + '… ' + Math.floor(x * 100) + '%'); });
  $('upload-btn').disabled = false;
  bar.value = +r.ok;
  if (r.ok) $('upload-file').value = '';
  say(r.ok ? 'Uploaded ' + name + '.' : 'Upload of ' + name + ' failed: ' + r.reason +
    (/storage/i.test(r.reason) ? ' (the node has ' + fmtSize(free) + ' free or less)' : ''), !r.ok);
  loadFiles().catch(() => {});
}

export const initFiles = () => { $('upload').onsubmit = doUpload; };

export async function loadStatus() {
  const [p, a, sp] = await Promise.all([get({ action: 'sync_status' }), get({ action: 'action_log' }).catch(() => []),
    get({ action: 'sync_peers' }).catch(() => 0)]);
  peers = Array.isArray(p) ? p : [];
  hooks = Array.isArray(a) ? a.slice(0, 20) : [];
  raven = [].concat(sp).find((x) => x?.summary); // the Raven bridge's report
  renderStatus();
}

export function renderStatus() {
  const c = S.config || {};
  const t = now();
  $('node-info').replaceChildren(...[
    ['Node', c.node && nodeLink(c.node)], ['Zone', c.zone], ['Version', c.version],
    ['Protocol', c.protocol_version || c.protocol_verison], ['Platform', c.platform],
    ['Default channel', c.default_channel ? '#' + c.default_channel : 'Everything'],
    ['Messages', S.loaded ? S.msgs.length : '…'], ['Users active', S.users.filter((u) => t - u.epoch <= 120).length],
  ].flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '–')]));
  // A peer answers every sync round (10 s by default).
  const rows = peers.map((p) => {
    const age = t - (Number(p.epoch) || 0);
    const [cls, word] = p.raven ? ['ok', 'Raven'] : age <= 120 ? ['ok', 'in sync'] : age <= 600 ? ['late', 'late'] : ['down', 'not reached lately'];
    // Sync keeps a peer off port 8080 as NAME_PORT.
    const [, n, pt] = /^(.+)_(\d+)$/.exec(p.node) || [];
    return h('tr', null, h('td', null, pt ? h('a', { href: `http://${nodeHost(n)}:${pt}/meshchat/` }, n + ':' + pt) : nodeLink(p.node)), h('td', null, fmtAge(age)),
      h('td', { class: 'health ' + cls }, h('span', { class: 'dot' }), word));
  });
  $('peers').replaceChildren(...(rows.length ? rows : [h('tr', null, h('td', { colspan: 3, class: 'empty' }, 'No peer synced yet.'))]));
  $('raven').textContent = raven?.summary || '';
  $('hooks-box').hidden = !hooks.length;
  $('hooks').replaceChildren(...hooks.map((o) => h('li', { class: 'file' }, h('span', { class: 'name' }, o.hook + ' · ' + o.id),
    h('span', { class: 'info' }, o.result + ' (' + o.detail + ') · ' + o.ms + ' ms · ' + fmtAge(t - o.epoch)))));
  $('tab-cost').textContent = requestsLastMinute() + ' requests to the node in the last minute.';
}
