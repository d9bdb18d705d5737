// The status page: this node, its peers' last sync, and what this tab costs the node.

import { $, h, nodeLink, fmtAge } from './util.js';
import { get, now, requestsLastMinute } from './net.js';
import { S } from './state.js';

let peers = [];

export async function loadStatus() {
  const p = await get({ action: 'sync_status' });
  peers = Array.isArray(p) ? p : [];
  renderStatus();
}

// A peer is synced every poll round (10 s by default) when it answers.
function health(age) {
  if (age <= 120) return ['ok', 'in sync'];
  if (age <= 600) return ['late', 'late'];
  return ['down', 'not reached lately'];
}

export function renderStatus() {
  const c = S.config || {};
  const active = S.users.filter((u) => now() - Number(u.epoch) <= 120).length;
  const rowsOf = [
    ['Node', c.node ? nodeLink(c.node) : '…'],
    ['Zone', c.zone], ['Version', c.version],
    ['Protocol', c.protocol_version || c.protocol_verison],
    ['Platform', c.platform], ['Default channel', c.default_channel ? '#' + c.default_channel : 'Everything'],
    ['Messages', S.loaded ? String(S.msgs.length) : '…'],
    ['Users active', String(active)],
  ];
  $('node-info').replaceChildren(...rowsOf.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v == null ? '–' : v)]));
  const t = now();
  const items = peers.map((p) => {
    const age = t - (Number(p.epoch) || 0);
    const [cls, word] = health(age);
    return h('tr', null, h('td', null, nodeLink(p.node)), h('td', null, fmtAge(age)),
      h('td', { class: 'health ' + cls }, h('span', { class: 'dot', 'aria-hidden': 'true' }), word));
  });
  if (!items.length) items.push(h('tr', null, h('td', { colspan: '3', class: 'empty' }, 'No peer synced yet.')));
  $('peers').replaceChildren(...items);
  $('tab-cost').textContent = requestsLastMinute() + ' requests to the node in the last minute. ' +
    'While visible: messages_version_ui every 5 s, users every 15 s, messages only when they changed; ' +
    'hidden: one request every 30 s.';
}
