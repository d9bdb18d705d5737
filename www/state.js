// What the page knows, shared by the modules. `hooks` lets a module ask the poller for an
// early round without importing it (no import cycles).

import { store } from './util.js';

export const S = {
  call: '',            // this user's call sign
  session: '',         // per-browser session id, sent as `id` like the legacy UI
  config: null,        // the node's `config` answer
  version: null,       // last messages_version seen
  msgs: [],            // messages, oldest first
  byId: new Map(),     // id -> message
  loaded: false,       // the first list arrived (nothing before it counts as unread)
  pending: [],         // messages sent from here not yet in the list
  users: [],
  channel: store.get('channel'), // selected channel ('' = Everything); null until decided
  extra: JSON.parse(store.get('channels') || '[]'), // channels created here, not yet used
  unread: new Map(),   // channel -> count of unread messages
  mentions: new Map(), // channel -> count of unread mentions
  search: '',
  page: 'chat',
  lastOk: 0,           // Date.now() of the last answered poll
  lost: false,
};

export const hooks = { pollNow() {} };
