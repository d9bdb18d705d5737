//! Delivery knowledge: for the newest messages of our log, which nodes of the zone are
//! known to hold each (docs/SYNC.md, "Delivery").
//!
//! [`Delivery`] is a pure type (no I/O, no clock): the daemon and the mesh simulator
//! feed it the same facts. Every fact it accepts is true when learnt, so a count never
//! exceeds the true number of holders:
//!
//! - we hold what our log holds;
//! - a peer holds every message it sent us, and every id it listed;
//! - a peer holds our messages in a range whose fingerprint equals ours, and all of them
//!   when its version (sum of ids) equals ours, the legacy test included;
//! - a holder set gossiped by a peer with the same roster was built from such facts.
//!
//! Sets only grow (a message trimmed away on some node is still counted there: the
//! count is of nodes that received it). Once every node holds a message, each knows it
//! holds it and the gossip that rides on every digest round carries that to all, so the
//! counts reach the true number.
//!
//! The rest of this module is the glue the sync rounds and the daemon call: a few
//! functions taking the [`Node`], so the protocol code carries one line per hook.

use super::local::Snapshot;
use super::sorted::SortedMap;
use super::Node;
use crate::protocol::delivery::{
    parse_entry, parse_roster_line, roster_crc, roster_name, write_entry, write_roster_line,
    DeliveryError, Holders, MAX_ROSTER,
};
use crate::protocol::digest::{self, Bound, Fingerprint, Key, Range};
use crate::protocol::MessageId;
use crate::store::delivery::{Followed, Report};

/// Newest messages of our log whose holders are followed.
pub const MAX_TRACKED: usize = 256;
/// Messages posted on this node still followed after they left the newest
/// [`MAX_TRACKED`] (so the page keeps showing how far they reached).
pub const MAX_OWN: usize = 64;
/// Entries one gossip section carries, whatever the zone's size (and at most
/// [`MAX_GOSSIP_BYTES`]): first the messages whose holders changed last, the rest taken
/// in turn from those not yet known to be held by every node (so every set keeps
/// spreading, a few per round).
pub const MAX_GOSSIP: usize = 16;
/// Entries of a section chosen for news (holders that changed last).
const GOSSIP_NEWS: usize = MAX_GOSSIP / 2;
/// Messages other than our own the API serves holders for: the newest this many.
pub const MAX_REPORTED: usize = 64;
/// A client asks a peer for its section (`d=`) on every this-many-th check (and on
/// the first): the section changes while sets spread, and each answer costs up to
/// [`MAX_GOSSIP`] entries.
pub const GOSSIP_EVERY: u32 = 3;
/// Bytes of entry lines one gossip section carries at most (one entry always fits):
/// at 1,000 nodes a half-known set is a 250-byte bitmap.
pub const MAX_GOSSIP_BYTES: usize = 1000;
/// Rounds a set complete here keeps taking turns in the section before it retires (the
/// peers that took it pass it on), so a settled mesh serves an unchanging section.
pub const RETIRE_ROUNDS: u32 = 30;

#[derive(Debug, Clone)]
struct Entry {
    holders: Holders,
    /// When its holders last grew (the tracker's change counter).
    seq: u64,
    /// Posted on this node.
    own: bool,
    /// Rounds since its set was found complete (every node of the roster holds it).
    complete_rounds: u32,
}

/// What this node knows of who holds its newest messages.
#[derive(Debug, Clone)]
pub struct Delivery {
    me: String,
    /// Lowercased, sorted, unique, `me` included.
    roster: Vec<String>,
    crc: u32,
    entries: SortedMap<Key, Entry>,
    /// The report changed since it was last taken.
    changed: bool,
    /// The section as last written for the API (empty: not written yet).
    served: String,
    /// Counts changes to holder sets; orders entries by news.
    seq: u64,
    /// Where the turn of the waiting sets stands (see [`Delivery::select`]).
    cursor: usize,
}

impl Delivery {
    /// A tracker for node `me`, knowing of no other node yet.
    pub fn new(me: &str) -> Delivery {
        let me = roster_name(me);
        let roster = vec![me.clone()];
        Delivery {
            crc: roster_crc(roster.iter().map(String::as_str)),
            me,
            roster,
            entries: SortedMap::new(),
            changed: true,
            served: String::new(),
            seq: 0,
            cursor: 0,
        }
    }

    /// The nodes of the zone this node knows of: `names` and itself (at most
    /// [`MAX_ROSTER`]). Holder sets keep the nodes still present.
    pub fn set_roster<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        let mut roster: Vec<String> = names.into_iter().map(roster_name).collect();
        roster.push(self.me.clone());
        crate::sort::sort(&mut roster);
        roster.dedup();
        if roster.len() > MAX_ROSTER {
            roster.retain(|n| *n != self.me);
            roster.truncate(MAX_ROSTER - 1);
            roster.push(self.me.clone());
            crate::sort::sort(&mut roster);
        }
        if roster == self.roster {
            return;
        }
        let n = roster.len();
        for e in self.entries.values_mut() {
            let mut h = Holders::new(n);
            for i in e.holders.indices() {
                if let Some(j) = self
                    .roster
                    .get(i)
                    .and_then(|name| roster.binary_search(name).ok())
                {
                    h.insert(j);
                }
            }
            e.holders = h;
        }
        self.crc = roster_crc(roster.iter().map(String::as_str));
        self.roster = roster;
        self.changed = true;
    }

    /// Names this node in the roster as the zone's service list does (an address, say,
    /// when its own entry names it so), so that every roster of the zone agrees and
    /// gossip flows. Every followed message is in our log, so we hold each of them.
    pub fn set_me(&mut self, name: &str) {
        let me = roster_name(name);
        if me == self.me {
            return;
        }
        let others: Vec<String> = self
            .roster
            .iter()
            .filter(|n| **n != self.me)
            .cloned()
            .collect();
        self.me = me;
        self.set_roster(others.iter().map(String::as_str));
        if let Some(i) = self.index(&self.me.clone()) {
            for e in self.entries.values_mut() {
                e.holders.insert(i);
            }
        }
        self.changed = true;
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.roster.binary_search(&roster_name(name)).ok()
    }

    /// Follows the newest messages of our log (`keys`: sorted, as a snapshot holds
    /// them), each held by us. Returns the keys newly followed, so the caller can say
    /// which were posted here ([`Delivery::set_own`]).
    pub fn track(&mut self, keys: &[Key]) -> Vec<Key> {
        let window = &keys[keys.len().saturating_sub(MAX_TRACKED)..];
        let oldest = window.first().copied();
        let in_log = |k: &Key| keys.binary_search(k).is_ok();
        // Leave what fell out of the window, but keep our own newest ones.
        let before = self.entries.len();
        self.entries
            .retain(|k, e| oldest.is_some_and(|o| *k >= o) && in_log(k) || e.own && in_log(k));
        let own_old: Vec<Key> = self
            .entries
            .iter()
            .filter(|(k, e)| e.own && oldest.is_none_or(|o| **k < o))
            .map(|(k, _)| *k)
            .collect();
        for k in own_old.iter().take(own_old.len().saturating_sub(MAX_OWN)) {
            self.entries.remove(k);
        }
        self.changed |= self.entries.len() != before;
        let me = self.index(&self.me);
        let n = self.roster.len();
        let mut fresh = Vec::new();
        for k in window {
            if self.entries.contains_key(k) {
                continue;
            }
            let mut holders = Holders::new(n);
            if let Some(i) = me {
                holders.insert(i);
            }
            fresh.push(*k);
            // A newly followed message is news: our own bit has to spread.
            self.seq += 1;
            self.entries.insert(
                *k,
                Entry {
                    holders,
                    seq: self.seq,
                    own: false,
                    complete_rounds: 0,
                },
            );
        }
        self.changed |= !fresh.is_empty();
        fresh
    }

    /// Marks the followed messages with these ids as posted on this node.
    pub fn set_own(&mut self, ids: &[MessageId]) {
        for (k, e) in self.entries.iter_mut() {
            if !e.own && ids.contains(&k.id) {
                e.own = true;
                self.changed = true;
            }
        }
    }

    fn mark(&mut self, peer: Option<usize>, key: &Key) {
        if let (Some(i), Some(e)) = (peer, self.entries.get_mut(key)) {
            if e.holders.insert(i) {
                self.seq += 1;
                e.seq = self.seq;
                self.changed = true;
            }
        }
    }

    /// `peer` holds every message of `ours` (its version equals ours).
    pub fn peer_holds_all(&mut self, peer: &str, ours: &[Key]) {
        let p = self.index(peer);
        let keys: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| ours.binary_search(k).is_ok())
            .copied()
            .collect();
        for k in &keys {
            self.mark(p, k);
        }
    }

    /// `peer` holds the messages with these ids (it sent or listed them).
    pub fn peer_holds_ids(&mut self, peer: &str, ids: &[MessageId]) {
        if ids.is_empty() {
            return;
        }
        let p = self.index(peer);
        let mut sorted = ids.to_vec();
        crate::sort::sort(&mut sorted);
        let keys: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| sorted.binary_search(&k.id).is_ok())
            .copied()
            .collect();
        for k in &keys {
            self.mark(p, k);
        }
    }

    /// `peer` sent these range fingerprints of its messages: where one equals the
    /// fingerprint of our keys in the same range (`ours`, sorted), it holds those.
    pub fn peer_holds_ranges(&mut self, peer: &str, ranges: &[Range], ours: &[Key]) {
        let p = self.index(peer);
        if p.is_none() {
            return;
        }
        for r in ranges {
            let lo = match r.lo {
                Bound::Key(k) => k,
                Bound::End => continue,
            };
            let hi = match r.hi {
                Bound::Key(k) => Some(k),
                Bound::End => None,
            };
            // Only ranges that reach a followed message are worth a fingerprint.
            if self.entries.range(&lo, hi.as_ref()).next().is_none() {
                continue;
            }
            let mine = digest::range(ours, r.lo, r.hi);
            if mine.is_empty() || Fingerprint::of(mine) != r.fp {
                continue;
            }
            let keys: Vec<Key> = self
                .entries
                .range(&lo, hi.as_ref())
                .map(|(k, _)| *k)
                .filter(|k| mine.binary_search(k).is_ok())
                .collect();
            for k in &keys {
                self.mark(p, k);
            }
        }
    }

    /// Merges a peer's gossip section (its lines, roster line first). A section about
    /// another roster is ignored (`Ok(false)`); a garbled one is refused whole.
    pub fn merge(&mut self, lines: &[&str]) -> Result<bool, DeliveryError> {
        let Some((first, rest)) = lines.split_first() else {
            return Err(DeliveryError::Roster);
        };
        let (crc, n) = parse_roster_line(first)?;
        let entries = rest
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| parse_entry(l, n))
            .collect::<Result<Vec<_>, _>>()?;
        if crc != self.crc || n != self.roster.len() {
            return Ok(false);
        }
        for (key, holders) in entries {
            if let Some(e) = self.entries.get_mut(&key) {
                // The peer knows of fewer holders than we do (the origin, say, while
                // the set was passed around behind it): ours takes turns again even
                // if it retired, so the peer learns it when it next pulls from us.
                if e.holders.indices().any(|i| !holders.contains(i)) {
                    e.complete_rounds = 0;
                    self.changed = true;
                }
                if e.holders.union(&holders) {
                    self.seq += 1;
                    e.seq = self.seq;
                    self.changed = true;
                }
            }
        }
        Ok(true)
    }

    /// The entry lines a gossip section carries, how many of them took a turn and how
    /// many sets wait for one.
    /// First the [`GOSSIP_NEWS`] entries whose holders changed last, then the sets that
    /// take turns ([`Delivery::turns`]) from the cursor, while the entries fit in
    /// [`MAX_GOSSIP`] and [`MAX_GOSSIP_BYTES`] (the first always does). A set complete
    /// here is sent as `*` for [`RETIRE_ROUNDS`] more rounds, then no more: the nodes
    /// that took it pass it on. So a section is bounded in any zone, and once every set
    /// has been complete a while (or nothing changes) it stays the same, which a
    /// client's `d=` finds unchanged: nothing is sent.
    fn select(&self) -> (SortedMap<Key, String>, usize, usize) {
        let mut lines = SortedMap::new();
        let mut bytes = 0;
        // News gets half the room, the turns the rest: neither starves the other.
        self.fill(&mut lines, &mut bytes, &self.news(), MAX_GOSSIP_BYTES / 2);
        let sent: Vec<Key> = lines.keys().copied().collect();
        let rest = self.turns(&sent);
        let start = if rest.is_empty() {
            0
        } else {
            self.cursor % rest.len()
        };
        let turns = rest.iter().cycle().skip(start).take(rest.len());
        let took = self.fill(&mut lines, &mut bytes, turns, MAX_GOSSIP_BYTES);
        (lines, took, rest.len())
    }

    /// Adds the entry lines of `keys` in order while they fit in [`MAX_GOSSIP`] lines
    /// and `budget` bytes in all (the first of `keys` always does); returns how many.
    fn fill<'k>(
        &self,
        lines: &mut SortedMap<Key, String>,
        bytes: &mut usize,
        keys: impl IntoIterator<Item = &'k Key>,
        budget: usize,
    ) -> usize {
        let n = self.roster.len();
        let mut took = 0;
        for k in keys {
            let Some(e) = self.entries.get(k) else {
                continue;
            };
            let mut line = String::new();
            write_entry(&mut line, *k, &e.holders, n);
            if lines.len() == MAX_GOSSIP || took > 0 && *bytes + line.len() > budget {
                break;
            }
            *bytes += line.len();
            took += 1;
            lines.insert(*k, line);
        }
        took
    }

    /// The [`GOSSIP_NEWS`] entries whose holders changed last, newest news first.
    fn news(&self) -> Vec<Key> {
        let mut by_news: Vec<(u64, Key)> = self.entries.iter().map(|(k, e)| (e.seq, *k)).collect();
        crate::sort::sort_by(&mut by_news, |a, b| b.cmp(a));
        by_news
            .into_iter()
            .take(GOSSIP_NEWS)
            .map(|(_, k)| k)
            .collect()
    }

    /// The sets that take turns in the section (not in `news`): the incomplete ones
    /// and those complete for less than [`RETIRE_ROUNDS`].
    fn turns(&self, news: &[Key]) -> Vec<Key> {
        let n = self.roster.len();
        self.entries
            .iter()
            .filter(|(k, e)| {
                (e.holders.count() < n || e.complete_rounds < RETIRE_ROUNDS) && !news.contains(k)
            })
            .map(|(k, _)| *k)
            .collect()
    }

    /// Once a round: counts the rounds of complete sets, and moves the turn on past
    /// the sets the section carries, only when some wait that it does not (so a
    /// settled mesh keeps serving the same section). The section's text changes then;
    /// the report ([`Delivery::take_changed`]) does not.
    pub fn advance(&mut self) {
        let n = self.roster.len();
        for e in self.entries.values_mut() {
            e.complete_rounds = if e.holders.count() < n {
                0
            } else {
                e.complete_rounds.saturating_add(1)
            };
        }
        let (_, took, waiting) = self.select();
        if waiting > took {
            self.cursor = self.cursor.wrapping_add(took.max(1));
        }
    }

    /// The gossip section this node serves: roster line, then the entries
    /// [`Delivery::select`] picks, oldest first.
    pub fn gossip(&self) -> String {
        let n = self.roster.len();
        let mut out = String::new();
        write_roster_line(&mut out, self.crc, n);
        for line in self.select().0.values() {
            out.push_str(line);
        }
        out
    }

    /// The names known to hold the message with this id, if it is followed (the API
    /// reads the files instead).
    #[cfg(test)]
    pub fn holders(&self, id: MessageId) -> Option<Vec<&str>> {
        let e = self.entries.iter().find(|(k, _)| k.id == id)?.1;
        Some(
            e.holders
                .indices()
                .filter_map(|i| self.roster.get(i).map(String::as_str))
                .collect(),
        )
    }

    /// How many nodes are known to hold the message with this id, if it is followed (the
    /// tests and the mesh simulator; the API reads the files instead).
    #[cfg(any(test, feature = "sim"))]
    pub fn count(&self, id: MessageId) -> Option<usize> {
        self.entries
            .iter()
            .find(|(k, _)| k.id == id)
            .map(|(_, e)| e.holders.count())
    }

    /// The state the API serves (`store::delivery`): the roster, the messages posted
    /// here and the newest [`MAX_REPORTED`] others, each with its holders.
    pub fn report(&self) -> Report {
        let skip = self.entries.len().saturating_sub(MAX_REPORTED);
        Report {
            roster_crc: self.crc,
            roster: self.roster.clone(),
            entries: self
                .entries
                .iter()
                .enumerate()
                .filter(|(i, (_, e))| e.own || *i >= skip)
                .map(|(_, (k, e))| Followed {
                    key: *k,
                    own: e.own,
                    holders: e.holders.clone(),
                })
                .collect(),
        }
    }

    /// True (once) when the report ([`Delivery::report`]) changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

// The glue: what the sync rounds and the daemon call.

fn with<T>(node: &Node, f: impl FnOnce(&mut Delivery) -> T) -> T {
    let mut d = node.delivery.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut d)
}

/// Follows our log's newest messages (from the cached snapshot); those posted here are
/// found in the log, read only when messages are newly followed.
pub fn observe(node: &Node) {
    let Ok(ours) = node.local.snapshot() else {
        return;
    };
    let fresh = with(node, |d| d.track(&ours.keys));
    if fresh.is_empty() {
        return;
    }
    if let Ok(own) = node.local.log.ids_from(node.cfg.node().as_str()) {
        let own: Vec<MessageId> = fresh
            .iter()
            .map(|k| k.id)
            .filter(|id| own.contains(id))
            .collect();
        with(node, |d| d.set_own(&own));
    }
}

/// What a `digest-v1` reply from `peer` shows it holds: ranges whose fingerprints equal
/// ours, listed ids, the lines it sent, or everything when its version equals ours.
pub fn learn_from_reply(node: &Node, peer: &str, reply: &digest::Reply, ours: &Snapshot) {
    with(node, |d| {
        if reply.header.is_some_and(|h| h.version == ours.version) {
            d.peer_holds_all(peer, &ours.keys);
        }
        d.peer_holds_ranges(peer, &reply.ranges, &ours.keys);
        for (_, _, ids) in &reply.id_lists {
            d.peer_holds_ids(peer, ids);
        }
        let sent: Vec<MessageId> = reply
            .messages
            .iter()
            .filter_map(|l| l.split('\t').next()?.parse().ok())
            .collect();
        d.peer_holds_ids(peer, &sent);
    });
}

/// A legacy peer's `messages_version` equals ours: it holds all of `ours`.
pub fn peer_holds_all(node: &Node, peer: &str, ours: &Snapshot) {
    with(node, |d| d.peer_holds_all(peer, &ours.keys));
}

/// A peer listed these ids in a body that matched its checksum.
pub fn peer_holds_ids(node: &Node, peer: &str, ids: &[MessageId]) {
    with(node, |d| d.peer_holds_ids(peer, ids));
}

/// Merges a peer's gossip section after the round's pulls (so the messages it speaks
/// of are followed by then). Returns the section's CRC to remember.
pub fn merge_gossip(node: &Node, lines: &[String]) -> Option<u32> {
    observe(node);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    with(node, |d| d.merge(&refs)).ok()?;
    Some(crate::protocol::delivery::section_crc(refs))
}

/// The zone's nodes as discovery found them this round.
/// [`Delivery::set_me`] on the node's tracker.
pub fn set_me(node: &Node, name: &str) {
    with(node, |d| d.set_me(name));
}

pub fn set_roster<'a>(node: &Node, names: impl IntoIterator<Item = &'a str>) {
    with(node, |d| d.set_roster(names));
}

/// Writes the RAM files the API serves, those whose contents changed: at the end of
/// each round (so whatever runs the rounds, the daemon or the mesh simulator, serves
/// what they learnt). The section changes with the turn; the report (the roster and up
/// to hundreds of holder sets, tens of KB at 1,000 nodes) only when a set grew. Under
/// the tracker's lock, so two workers never write at once. A failed write is not the
/// round's failure: the counts are only advice; the next round writes them again.
pub fn write(node: &Node) {
    let mut d = node.delivery.lock().unwrap_or_else(|e| e.into_inner());
    d.advance();
    let gossip = d.gossip();
    let report = d.take_changed().then(|| d.report());
    let section = (gossip != d.served).then_some(gossip.as_str());
    if report.is_none() && section.is_none() {
        return;
    }
    match crate::store::delivery::write(&node.cfg.paths, report.as_ref(), section) {
        Ok(()) => d.served = gossip,
        Err(e) => {
            eprintln!("meshchat sync: writing delivery counts: {e}");
            d.changed = true;
            d.served.clear();
        }
    }
}

/// How many nodes are known to hold a message (the simulator compares it with the
/// truth); `None` when not followed.
#[cfg(feature = "sim")]
pub fn reported(node: &Node, id: MessageId) -> Option<usize> {
    with(node, |d| d.count(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::digest::partition;
    use crate::protocol::Epoch;

    fn k(e: u64, id: u32) -> Key {
        Key::new(Epoch(e), MessageId(id))
    }

    #[test]
    fn a_node_listed_by_address_takes_that_name_and_keeps_what_it_holds() {
        let mut d = Delivery::new("mcl-h4");
        d.set_roster(["mcl-h3", "10.78.0.4", "mcl-h5"]);
        let key = k(5, 1);
        d.track(&[key]);
        // Until it knows what the zone calls it, its roster differs from its peers'.
        let peers_crc = roster_crc(["10.78.0.4", "mcl-h3", "mcl-h5"]);
        assert_ne!(d.crc, peers_crc);
        d.set_me("10.78.0.4");
        d.set_roster(["mcl-h3", "10.78.0.4", "mcl-h5"]);
        assert_eq!(d.roster, ["10.78.0.4", "mcl-h3", "mcl-h5"]);
        assert_eq!(d.crc, peers_crc);
        // Still counted as holding its own message, once.
        assert_eq!(d.entries[&key].holders.indices().count(), 1);
    }

    #[test]
    fn facts_add_holders_and_nothing_else() {
        let mut d = Delivery::new("A");
        d.set_roster(["b", "C.local.mesh", "d"]);
        let keys = vec![k(10, 1), k(11, 2), k(12, 3)];
        assert_eq!(d.track(&keys).len(), 3);
        d.set_own(&[MessageId(3)]);
        assert_eq!(d.count(MessageId(3)), Some(1));
        assert_eq!(d.holders(MessageId(3)), Some(vec!["a"]));
        // A peer listing id 3, one sending id 2, one whose version equals ours.
        d.peer_holds_ids("B", &[MessageId(3), MessageId(99)]);
        d.peer_holds_ids("c", &[MessageId(2)]);
        assert_eq!(d.count(MessageId(3)), Some(2));
        assert_eq!(d.count(MessageId(2)), Some(2));
        d.peer_holds_all("d", &keys[..2]);
        assert_eq!(d.holders(MessageId(1)), Some(vec!["a", "d"]));
        assert_eq!(d.count(MessageId(3)), Some(2), "3 was not in that version");
        // A stranger is not counted.
        d.peer_holds_all("zz", &keys);
        assert_eq!(d.count(MessageId(1)), Some(2));
        assert_eq!(d.roster.len(), 4);
    }

    #[test]
    fn ranges_count_only_where_fingerprints_match() {
        let mut d = Delivery::new("a");
        d.set_roster(["b"]);
        let ours: Vec<Key> = (0..40).map(|i| k(100 + i, i as u32 + 1)).collect();
        d.track(&ours);
        // The peer lacks our newest message: the newest range differs, the rest match.
        let theirs = &ours[..39];
        let ranges = partition(theirs);
        d.peer_holds_ranges("b", &ranges, &ours);
        assert_eq!(d.count(MessageId(40)), Some(1));
        assert_eq!(
            d.count(MessageId(36)),
            Some(1),
            "same range as the missing one"
        );
        assert_eq!(d.count(MessageId(30)), Some(2));
        assert_eq!(d.count(MessageId(1)), Some(2));
    }

    #[test]
    fn the_window_is_bounded_and_keeps_own_messages() {
        let mut d = Delivery::new("a");
        let mut keys: Vec<Key> = (0..10).map(|i| k(i, i as u32 + 1)).collect();
        d.track(&keys);
        d.set_own(&[MessageId(1)]);
        keys.extend((10..1000).map(|i| k(i, i as u32 + 1)));
        d.track(&keys);
        assert_eq!(d.entries.len(), MAX_TRACKED + 1);
        assert_eq!(d.count(MessageId(1)), Some(1));
        assert_eq!(d.count(MessageId(2)), None);
        // Trimmed from the log: forgotten.
        keys.remove(0);
        d.track(&keys);
        assert_eq!(d.count(MessageId(1)), None);
        // Alone in its roster every set is complete: turns a while, then news only.
        assert_eq!(d.gossip().lines().count(), MAX_GOSSIP + 1);
        (0..RETIRE_ROUNDS).for_each(|_| d.advance());
        assert_eq!(d.gossip().lines().count(), GOSSIP_NEWS + 1);
        // News about an older message rides along with the newest ones.
        d.set_roster(["b"]);
        let old = keys[keys.len() - MAX_TRACKED + 10];
        d.peer_holds_ids("b", &[old.id]);
        let g = d.gossip();
        assert_eq!(g.lines().count(), MAX_GOSSIP + 1);
        assert!(g.contains(&format!(".{} *", old.id)), "{g}");
    }

    /// In a zone of 1,000 nodes a section stays within [`MAX_GOSSIP`] entries, the
    /// incomplete sets take turns until each has been sent, and once every set is
    /// complete the section stops changing.
    #[test]
    fn sections_are_bounded_take_turns_and_settle() {
        let names: Vec<String> = (0..1000).map(|i| format!("n{i:04}")).collect();
        let mut d = Delivery::new("n0000");
        d.set_roster(names.iter().map(String::as_str));
        let keys: Vec<Key> = (0..300).map(|i| k(i, i as u32 + 1)).collect();
        d.track(&keys);
        let half: Vec<&str> = names.iter().step_by(2).map(String::as_str).collect();
        for n in &half {
            d.peer_holds_all(n, &keys);
        }
        let mut sent = std::collections::BTreeSet::new();
        for _ in 0..MAX_TRACKED {
            if sent.len() == MAX_TRACKED {
                break;
            }
            let g = d.gossip();
            assert!(g.lines().count() <= MAX_GOSSIP + 1);
            // Half the bits of 1,000 nodes: a bitmap of 250 digits, a line of 270.
            assert!(g.len() <= 20 + MAX_GOSSIP_BYTES + 270, "{}", g.len());
            for l in g.lines().skip(1) {
                sent.insert(l.split(' ').next().unwrap_or("").to_string());
            }
            d.advance();
            assert_ne!(d.gossip(), g, "more wait than fit: the turn moves on");
        }
        assert_eq!(sent.len(), MAX_TRACKED, "every followed set was sent");
        // Every node holds everything: complete sets take turns a while, then settle.
        for n in &names {
            d.peer_holds_all(n, &keys);
        }
        for _ in 0..RETIRE_ROUNDS {
            let g = d.gossip();
            assert!(g.lines().skip(1).all(|l| l.ends_with(" *")), "{g}");
            assert_eq!(g.lines().count(), MAX_GOSSIP + 1);
            d.advance();
        }
        let g = d.gossip();
        assert_eq!(g.lines().count(), GOSSIP_NEWS + 1);
        d.take_changed();
        d.advance();
        assert!(!d.take_changed());
        assert_eq!(d.gossip(), g);
    }

    /// A set complete everywhere but at its origin, which learnt of the last holder
    /// only through others: once retired, it would stay short there for good. The
    /// origin's own section shows it behind, so whoever reads it sends the set again.
    #[test]
    fn a_retired_set_is_sent_again_to_a_peer_that_is_behind() {
        let mut origin = Delivery::new("a");
        origin.set_roster(["b", "c"]);
        let mut relay = Delivery::new("b");
        relay.set_roster(["a", "c"]);
        let keys: Vec<Key> = (1..=2 * GOSSIP_NEWS as u32)
            .map(|i| k(u64::from(i), i))
            .collect();
        origin.track(&keys);
        relay.track(&keys);
        relay.peer_holds_ids("a", &[MessageId(1)]);
        relay.peer_holds_ids("c", &[MessageId(1)]);
        // Later news about the others pushes it out of the news half of the section.
        let others: Vec<MessageId> = keys[1..].iter().map(|k| k.id).collect();
        relay.peer_holds_ids("a", &others);
        relay.peer_holds_ids("c", &others);
        for _ in 0..=RETIRE_ROUNDS {
            relay.advance();
        }
        let retired = relay.gossip();
        assert!(!retired.contains(".00000001 "), "{retired}");
        // The relay pulls from the origin and reads its section: a and b only.
        let from_origin = origin.gossip();
        let lines: Vec<&str> = from_origin.lines().collect();
        assert_eq!(relay.merge(&lines), Ok(true));
        // The origin pulls from the relay: the whole set again.
        let again = relay.gossip();
        let lines: Vec<&str> = again.lines().collect();
        assert_eq!(origin.merge(&lines), Ok(true));
        assert_eq!(origin.count(MessageId(1)), Some(3), "{again}");
    }

    #[test]
    fn roster_changes_keep_names_and_gossip_needs_the_same_roster() {
        let mut a = Delivery::new("a");
        a.set_roster(["c", "d"]);
        a.track(&[k(1, 1)]);
        a.peer_holds_ids("d", &[MessageId(1)]);
        a.set_roster(["b", "c", "d"]);
        assert_eq!(a.holders(MessageId(1)), Some(vec!["a", "d"]));
        let mut b = Delivery::new("b");
        b.set_roster(["a", "c"]);
        b.track(&[k(1, 1)]);
        let g = a.gossip();
        let lines: Vec<&str> = g.lines().collect();
        assert_eq!(b.merge(&lines), Ok(false), "b does not know d yet");
        b.set_roster(["a", "c", "d"]);
        assert_eq!(b.merge(&lines), Ok(true));
        assert_eq!(b.holders(MessageId(1)), Some(vec!["a", "b", "d"]));
        assert!(b.merge(&["zz"]).is_err());
        assert!(b.merge(&[lines[0], "1.00000001 +9"]).is_err());
    }

    /// Random meshes: each node holds a growing set of messages, peers exchange the
    /// facts the sync rounds give (ranges, sent lines, versions, gossip). The count
    /// never exceeds the true number of holders, and reaches it once all hold.
    #[test]
    fn never_over_counts_and_converges() {
        let mut seed = 0x2545_f491_u64;
        let mut rnd = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for trial in 0..20 {
            let n = 3 + trial % 9;
            let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
            let mut held: Vec<Vec<Key>> = vec![Vec::new(); n];
            let mut trackers: Vec<Delivery> = names
                .iter()
                .map(|me| {
                    let mut d = Delivery::new(me);
                    d.set_roster(names.iter().map(String::as_str));
                    d
                })
                .collect();
            let posts = 6;
            for step in 0..400 {
                if step < posts * 10 && step % 10 == 0 {
                    let at = rnd(n);
                    let key = k(1000 + step as u64, 0x100 + step as u32);
                    held[at].push(key);
                    held[at].sort();
                }
                // One pull: `a` pulls from `b` and learns what the real round shows.
                let (a, b) = (rnd(n), rnd(n));
                if a == b {
                    continue;
                }
                let ours = held[a].clone();
                trackers[a].track(&ours);
                let theirs = held[b].clone();
                trackers[b].track(&theirs);
                trackers[a].peer_holds_ranges(&names[b], &partition(&theirs), &ours);
                if theirs.iter().map(|k| k.id.0 as u64).sum::<u64>()
                    == ours.iter().map(|k| k.id.0 as u64).sum::<u64>()
                {
                    trackers[a].peer_holds_all(&names[b], &ours);
                }
                let sent: Vec<Key> = theirs
                    .iter()
                    .filter(|k| ours.binary_search(k).is_err())
                    .copied()
                    .collect();
                held[a].extend(&sent);
                held[a].sort();
                let now = held[a].clone();
                trackers[a].track(&now);
                let ids: Vec<MessageId> = theirs.iter().map(|k| k.id).collect();
                if rnd(2) == 0 {
                    trackers[a].peer_holds_ids(&names[b], &ids);
                }
                let g = trackers[b].gossip();
                let lines: Vec<&str> = g.lines().collect();
                assert_eq!(trackers[a].merge(&lines), Ok(true));
                // Never more than the truth, on every node, for every message.
                for (t, tr) in trackers.iter().enumerate() {
                    for key in &held[t] {
                        let truth = held.iter().filter(|h| h.contains(key)).count();
                        let known = tr.count(key.id).unwrap_or(0);
                        assert!(
                            known <= truth,
                            "trial {trial} step {step}: {known} > {truth}"
                        );
                    }
                }
            }
            for (t, tr) in trackers.iter().enumerate() {
                for key in &held[t] {
                    assert_eq!(tr.count(key.id), Some(n), "trial {trial} node {t}");
                }
            }
        }
    }
}
