// What the page knows, shared by the modules. `hooks.pollNow` lets a module ask for an
// early poll round without importing the poller.

import { store } from './util.js';

function stored(k) {
  try { return JSON.parse(store.get(k)).filter((x) => typeof x === 'string'); } catch { return []; }
}

export const S = {
  call: '', session: '', config: null, version: null,
  msgs: [], byId: new Map(), loaded: false, // messages oldest first; none unread before the first list
  pending: [], // sent from here, not yet in the list
  reply: null, others: false, // the message being answered; show others' direct conversations
  users: [],
  channel: store.get('channel'), // '' = Everything; null: not chosen yet (the node's default)
  extra: stored('channels'), // channels created here
  unread: new Map(), mentions: new Map(), // channel -> count
  search: '', page: 'chat', lastOk: 0, lost: false,
};

export const hooks = { pollNow() {} };
