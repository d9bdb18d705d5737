// The files page: the node's shared files and its peers', upload, download, delete.

import { $, h, fmtSize, fmtAge, splitNodePort, nodeHost } from './util.js';
import { API, get, act, upload, query, now } from './net.js';

let data = { files: [], stats: null };

export async function loadFiles() {
  const d = await get({ action: 'files' });
  data = { files: Array.isArray(d.files) ? d.files : [], stats: d.stats || null };
  renderFiles();
}

function say(text, error) {
  const m = $('files-msg');
  m.textContent = text;
  m.className = error ? 'error' : 'note';
}

// Local files download from this origin; a peer's from that peer, by a checked name.
function href(f) {
  const q = API + '?' + query({ action: 'file_download', file: f.file });
  if (f.local == 1) return q;
  const np = splitNodePort(f.node);
  return np ? 'http://' + nodeHost(np.node) + ':' + np.port + q : null;
}

function delButton(f) {
  let armed = 0;
  const b = h('button', {
    type: 'button', class: 'del', 'aria-label': 'Delete ' + f.file,
    onclick: async () => {
      if (!armed) { // two clicks: no dialog box, and no mistakes with a thumb
        b.textContent = 'Confirm delete';
        armed = setTimeout(() => { armed = 0; b.textContent = 'Delete'; }, 5000);
        return;
      }
      clearTimeout(armed);
      b.disabled = true;
      const r = await act({ action: 'delete_file', file: f.file });
      say(r.ok ? 'Deleted “' + f.file + '”.' : 'Could not delete “' + f.file + '”: ' + r.reason, !r.ok);
      loadFiles().catch(() => {});
    },
  }, 'Delete');
  return b;
}

export function renderFiles() {
  const s = data.stats;
  if (s) {
    const allowed = Number(s.allowed) || 0;
    const used = Number(s.files) || 0;
    $('file-stats').textContent = fmtSize(used) + ' of ' + fmtSize(allowed) + ' used, ' +
      fmtSize(s.files_free) + ' free on this node.';
    const meter = $('file-meter');
    meter.max = allowed || 1;
    meter.value = used;
  }
  const t = now();
  const items = data.files.map((f) => {
    const name = String(f.file ?? '');
    const np = splitNodePort(f.node);
    const link = href({ ...f, file: name });
    // Missing `deletable` (a legacy node): offer it, the node decides.
    const canDelete = f.local == 1 && f.deletable !== 0;
    return h('li', { class: 'file' },
      link ? h('a', { class: 'name', href: link, download: name }, name) : h('span', { class: 'name' }, name),
      h('span', { class: 'info' }, fmtSize(f.size) + ' · ' + fmtAge(t - (Number(f.epoch) || 0)) + ' · ' +
        (np ? np.node : String(f.node ?? '?')) + (f.local == 1 ? ' (this node)' : '')),
      canDelete ? delButton({ ...f, file: name }) : null);
  });
  if (!items.length) items.push(h('li', { class: 'empty' }, 'No shared files.'));
  $('files-list').replaceChildren(...items);
}

async function doUpload(e) {
  e.preventDefault();
  const input = $('upload-file');
  const f = input.files[0];
  const bar = $('upload-progress');
  if (!f) return say('Choose a file first.', true);
  const free = data.stats ? Number(data.stats.files_free) : NaN;
  // Refuse here what the node would refuse: no point sending it over the radio first.
  if (f.size > free) {
    return say('Not enough storage: “' + f.name + '” is ' + fmtSize(f.size) + ' but only ' +
      fmtSize(free) + ' is free on this node. Delete some files first.', true);
  }
  const btn = $('upload-btn');
  btn.disabled = true;
  bar.value = 0;
  say('Uploading “' + f.name + '”…');
  const r = await upload(f, (x) => {
    bar.value = x;
    say('Uploading “' + f.name + '”… ' + Math.floor(x * 100) + '%');
  });
  btn.disabled = false;
  if (r.ok) {
    bar.value = 1;
    input.value = '';
    say('Uploaded “' + f.name + '”.');
  } else {
    bar.value = 0;
    say('Upload of “' + f.name + '” failed: ' + r.reason +
      (/storage/i.test(r.reason) ? ' (the node has ' + fmtSize(free) + ' free or less)' : ''), true);
  }
  loadFiles().catch(() => {});
}

export function initFiles() {
  $('upload').onsubmit = doUpload;
}
