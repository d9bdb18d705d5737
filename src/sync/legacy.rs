//! The legacy pull, exactly as docs/PROTOCOL.md ("How a legacy node pulls") describes, against
//! any peer: `users_raw`, `local_files_raw`, `messages_version`, then `messages_raw` only
//! when the version says something changed. Four CGI processes on the peer at most,
//! three when nothing changed.
//!
//! Each body is accepted only when its MD5 equals `Content-MD5`. A step whose body is
//! refused (bad checksum, oversized) is skipped and reported, and the next step still
//! runs, as the legacy client does; a peer that cannot be reached ends the round. A
//! `404` is the legacy back-off signal and ends the round too.

use std::sync::TryLockError;

use super::discovery::Peer;
use super::local::{self, Tally};
use super::{delivery, Error, Memo, Node, Outcome};
use crate::http::client::Transport;
use crate::http::FetchError;
use crate::protocol::digest::{Key, NAME};
use crate::protocol::form::percent_encode;
use crate::protocol::Epoch;

/// Messages pulled but not yet merged, kept as their raw lines in one buffer (about half
/// the memory of parsed messages), trimmed to the newest `keep`.
struct Candidates {
    buf: String,
    items: Vec<(Key, u32, u32)>,
    keep: usize,
    /// Some were left out by the trim.
    dropped: bool,
}

/// Sorts candidates by key, oldest first (one function for both callers: one copy of
/// the sort in the binary).
fn oldest_first(items: &mut [(Key, u32, u32)]) {
    crate::sort::sort_by_key(items, |i| i.0);
}

/// Candidates a worker may hold while another one pulls a whole database.
const SHARED_CANDIDATES: usize = 1000;

impl Candidates {
    fn new(keep: usize) -> Candidates {
        Candidates {
            buf: String::new(),
            items: Vec::new(),
            keep: keep.max(1),
            dropped: false,
        }
    }

    fn push(&mut self, key: Key, line: &str) {
        let at = self.buf.len() as u32;
        self.buf.push_str(line);
        self.items.push((key, at, line.len() as u32));
        // More than our database can keep: only the newest can survive the trim.
        if self.items.len() >= 2 * self.keep {
            self.trim();
        }
    }

    fn trim(&mut self) {
        // The newest `keep`: the last ones in key order.
        oldest_first(&mut self.items);
        let extra = self.items.len().saturating_sub(self.keep);
        self.dropped |= extra > 0;
        self.items.drain(..extra);
        let mut buf = String::with_capacity(self.buf.len() / 2);
        for item in &mut self.items {
            let line = &self.buf[item.1 as usize..(item.1 + item.2) as usize];
            item.1 = buf.len() as u32;
            buf.push_str(line);
        }
        self.buf = buf;
    }

    /// Merges everything, oldest first, in bounded chunks.
    fn merge(mut self, node: &Node, now: Epoch) -> crate::store::Result<u64> {
        if self.items.len() > self.keep {
            self.trim();
        }
        oldest_first(&mut self.items);
        let mut added = 0;
        for chunk in self.items.chunks(500) {
            let msgs: Vec<_> = chunk
                .iter()
                .filter_map(|(_, at, len)| {
                    local::accept_message(&self.buf[*at as usize..(*at + *len) as usize], now)
                })
                .collect();
            added += node.local.merge(&msgs)?;
        }
        Ok(added)
    }
}

/// True for failures that spoil one body but say nothing about the connection.
fn body_refused(e: &FetchError) -> bool {
    matches!(
        e,
        FetchError::BadChecksum
            | FetchError::NoChecksum
            | FetchError::TooLarge
            | FetchError::LineTooLong
    )
}

/// A step's failure: reported in the outcome when the body was refused, else the end of
/// the round.
fn step<T>(r: Result<T, FetchError>, out: &mut Outcome) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if body_refused(&e) => {
            out.refused.get_or_insert(e);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// One legacy round with `peer`. When the peer turns out to speak `digest-v1` (and we
/// do), stops after the users and says so: the caller continues with the extension.
pub fn pull(
    node: &Node,
    peer: &Peer,
    client: &dyn Transport,
    memo: &mut Memo,
) -> Result<Outcome, Error> {
    let now = crate::protocol::Epoch::now();
    let cfg = &node.cfg;
    let mut out = Outcome::default();

    // 1. Users; the reply's headers also tell whether the peer speaks the extension.
    let reply = client.get(&format!(
        "action=users_raw&platform={}&node={}",
        cfg.platform(),
        percent_encode(cfg.node().as_str())
    ))?;
    let digest = cfg.digest_sync
        && reply
            .extensions
            .as_deref()
            .is_some_and(|e| e.split(',').any(|x| x.trim() == NAME));
    if let Some(body) = step(reply.checked_bytes(), &mut out)? {
        if !body.is_empty() {
            out.tally += local::merge_users(&node.users, &String::from_utf8_lossy(&body), now)?;
        }
        if digest {
            memo.users_crc = Some(crate::protocol::crc32::hash(&body));
        }
    }
    if digest {
        out.upgrade = true;
        return Ok(out);
    }

    // 2. Files: the peer's list is replaced (an empty, well-formed body empties it).
    let reply = client.get("action=local_files_raw")?;
    if let Some(body) = step(reply.checked_bytes(), &mut out)? {
        out.tally += local::replace_files(&node.files, &peer.key, &String::from_utf8_lossy(&body))?;
    }

    // 3. Version: nothing to pull when it equals ours, or what we last pulled from it.
    let version = client.get("action=messages_version")?.bytes()?;
    let version = String::from_utf8_lossy(&version).trim().to_string();
    // From the snapshot: rebuilt once per change of our log, not once per peer.
    let snap = node.local.snapshot()?;
    let ours = snap.version.to_string();
    if version == ours {
        delivery::observe(node);
        delivery::peer_holds_all(node, peer.name.as_str(), &snap);
        delivery::write(node);
    }
    drop(snap);
    out.learned.version = version.parse().ok();
    if version == ours || memo.legacy_version.as_deref() == Some(version.as_str()) {
        out.learned.all_pulled = true;
        // Equal to ours: we hold all of it, so later rounds may skip it while it stays.
        memo.legacy_version = Some(version);
        if out.refused.is_none() {
            node.status.record(&peer.key, now)?;
        }
        return Ok(out);
    }

    // 4. Messages: streamed; only lines we lack and would keep are held, and nothing is
    // merged before the whole body matched its checksum. One worker at a time may hold
    // a whole database's worth of candidates (a fresh node); the others hold at most
    // SHARED_CANDIDATES each and finish in a later round, against what the first
    // brought meanwhile. Nobody waits for anybody.
    let turn = match node.bulk.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    let max = node.local.log.max();
    let keep = if turn.is_some() {
        max
    } else {
        max.min(SHARED_CANDIDATES)
    };
    let snap = node.local.snapshot()?;
    let mut fresh = Candidates::new(keep);
    let mut rejected = 0u64;
    // The ids of ours it holds too, for delivery counts (at most our database's size).
    let mut held = Vec::new();
    let reply = client.get("action=messages_raw")?;
    let streamed = reply.checked_lines(|line| {
        if line.is_empty() {
            return;
        }
        match local::accept_message(line, now) {
            Some(m) => {
                let key = Key::new(m.epoch, m.id);
                if !snap.has(m.id) && snap.above_floor(key) {
                    fresh.push(key, line);
                } else if snap.has(m.id) && held.len() < max {
                    held.push(m.id);
                }
            }
            None => rejected += 1,
        }
    });
    drop(snap);
    if step(streamed, &mut out)?.is_some() {
        let complete = !fresh.dropped || keep == max;
        let sent: Vec<_> = fresh.items.iter().map(|i| i.0.id).collect();
        out.tally += Tally {
            pulled: fresh.merge(node, now)?,
            rejected,
        };
        delivery::observe(node);
        delivery::peer_holds_ids(node, peer.name.as_str(), &held);
        delivery::peer_holds_ids(node, peer.name.as_str(), &sent);
        delivery::write(node);
        if complete {
            memo.legacy_version = Some(version);
            out.learned.all_pulled = true;
        }
    }
    drop(turn);
    if out.refused.is_none() {
        node.status.record(&peer.key, now)?;
    }
    Ok(out)
}
