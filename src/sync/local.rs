//! This node's side of a sync: a cached snapshot of what our log holds (keys only), and
//! the checks and merges that every pulled line goes through, whichever protocol
//! brought it.
//!
//! The snapshot is rebuilt only when the log file changed (inode, size, mtime), so an
//! idle round never reads the log.

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use crate::protocol::digest::Key;
use crate::protocol::lines::{parse_all, FileEntry, Message, User};
use crate::protocol::{Epoch, MessageId, NodeName};
use crate::store::files::Files;
use crate::store::log::Log;
use crate::store::users::Users;
use crate::store::Result;

/// Messages handed to one `Log::merge` call: bounds the memory a big pull needs.
const MERGE_CHUNK: usize = 500;

/// What our log held when it was last read.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The logical database's keys, oldest first (the log's own view order).
    pub keys: Vec<Key>,
    /// The same messages' ids, sorted, for membership tests.
    pub ids: Vec<u32>,
    /// The oldest key we keep when the database is full: anything older would be
    /// trimmed straight away, so it is not worth pulling.
    pub floor: Option<Key>,
    /// The legacy version number (sum of ids).
    pub version: u64,
}

impl Snapshot {
    /// True when we hold a message with this id.
    pub fn has(&self, id: MessageId) -> bool {
        self.ids.binary_search(&id.0).is_ok()
    }

    /// True when a message with this key would be kept by our trim.
    pub fn above_floor(&self, key: Key) -> bool {
        self.floor.is_none_or(|f| key >= f)
    }
}

type Identity = (u64, u64, i64, i64);

/// Our log, with its snapshot cached between rounds.
pub struct Local {
    pub log: Log,
    cache: Mutex<Option<(Identity, Arc<Snapshot>)>>,
}

impl Local {
    pub fn new(log: Log) -> Local {
        Local {
            log,
            cache: Mutex::new(None),
        }
    }

    fn identity(&self) -> Option<Identity> {
        let m = std::fs::metadata(self.log.path()).ok()?;
        Some((m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
    }

    /// Merges validated messages into the log in bounded chunks. Merges and snapshot
    /// rebuilds each scan the log's keys: they take turns, so the daemon's memory peak is
    /// one set of keys, whatever the number of workers.
    pub fn merge(&self, messages: &[Message]) -> Result<u64> {
        let mut added = 0;
        for chunk in messages.chunks(MERGE_CHUNK) {
            let _turn = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            added += self.log.merge(chunk)?.added as u64;
        }
        Ok(added)
    }

    /// The current snapshot, read from the log only when it changed since the last one.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let ident = self.identity();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(id), Some((cached_id, snap))) = (ident, cache.as_ref()) {
            if id == *cached_id {
                return Ok(snap.clone());
            }
        }
        // Keys only, streamed: the log itself is never held in memory here.
        let keys: Vec<Key> = self
            .log
            .keys()?
            .into_iter()
            .map(|(e, id)| Key::new(e, id))
            .collect();
        let version = keys.iter().map(|k| u64::from(k.id.0)).sum();
        let mut ids: Vec<u32> = keys.iter().map(|k| k.id.0).collect();
        crate::sort::sort(&mut ids);
        let floor = (keys.len() >= self.log.max())
            .then(|| keys.first().copied())
            .flatten();
        let snap = Arc::new(Snapshot {
            keys,
            ids,
            floor,
            version,
        });
        // Only cache what we know matches a file state: the identity taken before the
        // read may already be stale if a writer appended meanwhile, so check again.
        if ident.is_some() && ident == self.identity() {
            *cache = ident.map(|i| (i, snap.clone()));
        }
        Ok(snap)
    }
}

/// What one pull added and refused.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Messages added to our log.
    pub pulled: u64,
    /// Lines refused: failed validation, or dated too far ahead.
    pub rejected: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.pulled += o.pulled;
        self.rejected += o.rejected;
    }
}

/// Parses one pulled message line: `Some` when valid and not dated more than 30 days
/// ahead of `now`.
pub fn accept_message(line: &str, now: Epoch) -> Option<Message> {
    Message::parse(line)
        .ok()
        .filter(|m| !m.epoch.too_far_ahead(now))
}

/// Validates message lines and merges the good ones, a chunk at a time (a fresh node
/// pulling a whole database never holds it all parsed): the tally of what happened.
pub fn merge_message_lines<'a>(
    local: &Local,
    lines: impl IntoIterator<Item = &'a str>,
    now: Epoch,
) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut good = Vec::with_capacity(64);
    for line in lines {
        if line.is_empty() {
            continue;
        }
        match accept_message(line, now) {
            Some(m) => good.push(m),
            None => tally.rejected += 1,
        }
        if good.len() == MERGE_CHUNK {
            tally.pulled += local.merge(&good)?;
            good.clear();
        }
    }
    tally.pulled += local.merge(&good)?;
    Ok(tally)
}

/// Merges a peer's `users_raw` lines into our remote users.
pub fn merge_users(users: &Users, text: &str, now: Epoch) -> Result<Tally> {
    let (list, bad) = parse_all(text, User::parse);
    if !list.is_empty() {
        users.merge_remote(&list, now)?;
    }
    Ok(Tally {
        pulled: 0,
        rejected: bad as u64,
    })
}

/// Replaces a peer's file list with its `local_files_raw` lines.
pub fn replace_files(files: &Files, peer: &NodeName, text: &str) -> Result<Tally> {
    let (list, bad) = parse_all(text, FileEntry::parse);
    files.set_remote(peer, &list)?;
    Ok(Tally {
        pulled: 0,
        rejected: bad as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::tests::{msg, temp_paths};

    #[test]
    fn snapshot_is_cached_until_the_log_changes() {
        let p = temp_paths("sync-local");
        let local = Local::new(Log::new(&p, 3));
        assert!(local.snapshot().unwrap().keys.is_empty());
        local
            .log
            .append(&[msg(1, 10, "a"), msg(2, 20, "b")])
            .unwrap();
        let a = local.snapshot().unwrap();
        assert_eq!(a.keys.len(), 2);
        assert_eq!(a.floor, None);
        assert!(Arc::ptr_eq(&a, &local.snapshot().unwrap()));
        local
            .log
            .append(&[msg(3, 30, "c"), msg(4, 5, "d")])
            .unwrap();
        let b = local.snapshot().unwrap();
        assert_eq!(b.keys.iter().map(|k| k.id.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(b.floor, Some(Key::new(Epoch(10), MessageId(1))));
        assert!(b.has(MessageId(3)) && !b.has(MessageId(4)));
        assert!(!b.above_floor(Key::new(Epoch(9), MessageId(9))));
        assert_eq!(b.version, 6);
    }

    #[test]
    fn lines_are_validated_before_merging() {
        let p = temp_paths("sync-merge");
        let local = Local::new(Log::new(&p, 500));
        let now = Epoch(1_795_661_251);
        let lines = [
            "0a1b2c3d\t1795661251\thello\tK1ABC\tnode-a\tnode\t",
            "0a1b2c3e\t1795661251\thello\textra\tK1ABC\tnode-a\tnode\t",
            "0a1b2c3f\t1895661251\tfrom the future\tK1ABC\tnode-a\tnode\t",
            "garbage",
            "0a1b2c3d\t1795661251\tdup\tK1ABC\tnode-a\tnode\t",
        ];
        let t = merge_message_lines(&local, lines, now).unwrap();
        assert_eq!(
            t,
            Tally {
                pulled: 1,
                rejected: 3
            }
        );
        let c = local.log.read().unwrap();
        assert_eq!(c.view(500).messages.len(), 1);
    }
}
