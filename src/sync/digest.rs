//! The `digest-v1` client (docs/SYNC.md): one small GET per round when nothing changed;
//! when the peer's messages changed, a top-down comparison of range fingerprints that
//! fetches only the lines we lack.
//!
//! The round: a check request carries what we last saw of the peer (its message version
//! and the CRC32s of its users and files lists). The peer answers with its current
//! values, the lists that changed, and, when its version differs, its first partition
//! (range fingerprints). We compare each range with our own messages in it and ask,
//! per differing range: "here are my ids, send what I lack" (few on our side), "list
//! your ids" (few on its side), or "split it" (many on both); until nothing differs.

use std::sync::TryLockError;

use super::discovery::Peer;
use super::local::{self, Snapshot};
use super::{delivery, Error, Learned, Memo, Node, Outcome};
use crate::http::client::Transport;
use crate::http::FetchError;
use crate::protocol::digest::{
    self, parse_reply, write_queries, Bound, Fingerprint, Query, Range, ACTION, MAX_IDS,
    MAX_QUERIES, SMALL,
};
use crate::protocol::form::percent_encode;
use crate::protocol::MessageId;

/// Query requests one round may make after the check (a 10,000-message log needs 4).
pub const MAX_REQUESTS: usize = 12;
/// Bytes of the `q` parameter of one request (the server reads form bodies up to 64 KB).
const MAX_Q_BYTES: usize = 24 * 1024;
/// Every this many rounds the peer's version is forgotten, so the next round compares
/// the whole range tree even if the peer seems unchanged: a cheap guard against
/// anything that slipped past the version (a lost message of ours, a collision).
pub const FULL_CHECK_ROUNDS: u32 = 360;

/// Message lines one answer may carry (about 110 KB): bounds what a reply costs in
/// memory, so even a fresh node pulling a 10,000-message database stays small.
pub const MAX_ANSWER_LINES: usize = 1000;

/// A round expecting more message lines than this is a catch-up (a fresh node, a long
/// partition healed): one peer at a time, so it is pulled once, not once per peer.
pub const BULK_LINES: usize = 100;

/// A query, and how many message lines its answer may hold at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub query: Query,
    pub lines: usize,
}

/// The questions to ask about the peer's ranges and id lists, given what we hold.
pub fn plan(
    ranges: &[Range],
    id_lists: &[(Bound, Bound, Vec<MessageId>)],
    ours: &Snapshot,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for r in ranges {
        let theirs = r.fp.count as usize;
        if theirs == 0 {
            continue;
        }
        let mine = digest::range(&ours.keys, r.lo, r.hi);
        if Fingerprint::of(mine) == r.fp {
            continue;
        }
        let (query, lines) = if mine.len() <= SMALL && theirs <= MAX_ANSWER_LINES {
            let ids = mine.iter().map(|k| k.id).collect();
            (Query::Have(r.lo, r.hi, ids), theirs)
        } else if theirs <= SMALL {
            (Query::List(r.lo, r.hi), 0)
        } else {
            (Query::Split(r.lo, r.hi), 0)
        };
        out.push(Planned { query, lines });
    }
    let missing: Vec<MessageId> = id_lists
        .iter()
        .flat_map(|(_, _, ids)| ids.iter().copied())
        .filter(|id| !ours.has(*id))
        .collect();
    for chunk in missing.chunks(MAX_ANSWER_LINES) {
        out.push(Planned {
            query: Query::Get(chunk.to_vec()),
            lines: chunk.len(),
        });
    }
    out
}

/// Groups queries into requests that stay within the server's limits and whose
/// answers stay within [`MAX_ANSWER_LINES`].
fn batches(planned: Vec<Planned>) -> Vec<Vec<Query>> {
    let mut out: Vec<Vec<Query>> = Vec::new();
    let (mut bytes, mut ids, mut lines) = (0, 0, 0);
    for p in planned {
        let n = p.query.id_count();
        let size = n * 8 + 48;
        let full = out.last().is_none_or(|b| {
            !b.is_empty()
                && (b.len() >= MAX_QUERIES
                    || bytes + size > MAX_Q_BYTES
                    || ids + n > MAX_IDS
                    || lines + p.lines > MAX_ANSWER_LINES)
        });
        if full {
            out.push(Vec::new());
            (bytes, ids, lines) = (0, 0, 0);
        }
        bytes += size;
        ids += n;
        lines += p.lines;
        if let Some(b) = out.last_mut() {
            b.push(p.query);
        }
    }
    out
}

/// Reads a reply body; a peer that answers without a checksum does not speak the
/// extension (any more): `None`.
fn fetch(reply: Result<crate::http::client::Reply, FetchError>) -> Result<Option<String>, Error> {
    match reply?.checked_bytes() {
        // Valid UTF-8 (the normal case) is taken over without a copy.
        Ok(b) => Ok(Some(String::from_utf8(b).unwrap_or_else(|e| {
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }))),
        Err(FetchError::NoChecksum) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One digest round with `peer`.
pub fn pull(
    node: &Node,
    peer: &Peer,
    client: &dyn Transport,
    memo: &mut Memo,
) -> Result<Outcome, Error> {
    let now = crate::protocol::Epoch::now();
    let cfg = &node.cfg;
    let mut out = Outcome::default();
    memo.rounds_since_full += 1;
    let full = memo.rounds_since_full >= FULL_CHECK_ROUNDS;
    if full {
        memo.rounds_since_full = 0;
        memo.version = None;
    }
    let mut ours = node.local.snapshot()?;

    let mut q = format!(
        "action={ACTION}&v=1&node={}&platform={}",
        percent_encode(cfg.node().as_str()),
        cfg.platform()
    );
    // A peer never compared yet is first assumed to hold what we hold: when its
    // version equals ours the check says "unchanged" and sends no ranges (with gossip
    // most contacts are first ones). Not on the periodic full comparison.
    let assumed = (!full && memo.version.is_none()).then_some(ours.version);
    if let Some(v) = memo.version.or(assumed) {
        q.push_str(&format!("&m={v}"));
    }
    for (name, crc) in [("u", memo.users_crc), ("f", memo.files_crc)] {
        if let Some(c) = crc {
            q.push_str(&format!("&{name}={}", digest::crc_param(c)));
        }
    }
    if let Some(floor) = ours.floor {
        q.push_str(&format!("&floor={}", Bound::Key(floor)));
    }
    // Asks for the delivery gossip (ignored by peers that do not keep it): on the
    // first check and then every few, so its cost per check stays small.
    let ask_gossip = memo.delivery_crc.is_none()
        || memo
            .rounds_since_full
            .is_multiple_of(delivery::GOSSIP_EVERY);
    if ask_gossip {
        q.push_str(&format!("&{}=", crate::protocol::delivery::PARAM));
        match memo.delivery_crc {
            Some(c) => q.push_str(&digest::crc_param(c)),
            None => q.push('-'),
        }
    }
    // The gossip hint: our newest key. A peer that lacks it pulls from us at once.
    if let Some(newest) = ours.keys.last() {
        q.push_str(&format!("&n={}", Bound::Key(*newest)));
    }
    delivery::observe(node);
    let Some(text) = fetch(client.get(&q))? else {
        out.downgrade = true;
        return Ok(out);
    };
    let reply = match parse_reply(&text) {
        Ok(r) => r,
        // A peer that answers `sync_digest` with something else has turned it off.
        Err(_) if !text.starts_with(digest::NAME) => {
            out.downgrade = true;
            return Ok(out);
        }
        Err(e) => return Err(e.into()),
    };
    let header = reply.header.ok_or(digest::DigestError("no header"))?;
    delivery::learn_from_reply(node, peer.name.as_str(), &reply, &ours);
    let gossip: Option<Vec<String>> = reply
        .delivery
        .as_ref()
        .map(|l| l.iter().map(|s| s.to_string()).collect());
    if let Some(lines) = &reply.users {
        out.tally += local::merge_users(&node.users, &lines.join("\n"), now)?;
        memo.users_crc = header.users;
    }
    if let Some(lines) = &reply.files {
        out.tally += local::replace_files(&node.files, &peer.key, &lines.join("\n"))?;
        memo.files_crc = header.files;
    }

    // News the peer sent unasked (its messages after our newest key).
    if !reply.messages.is_empty() {
        out.tally += local::merge_message_lines(&node.local, reply.messages.iter().copied(), now)?;
        ours = node.local.snapshot()?;
    }

    if memo.version != Some(header.version) || !reply.ranges.is_empty() {
        let mut ranges = reply.ranges;
        let mut id_lists = Vec::new();
        let mut converged = false;
        let mut turn = None;
        for _ in 0..=MAX_REQUESTS {
            let mut planned = plan(&ranges, &id_lists, &ours);
            // A catch-up: one peer at a time, and against what the others' catch-ups
            // brought meanwhile, so it is pulled once, not once per peer.
            // While another peer's catch-up runs, this one waits for a later round
            // (never blocks: a slow peer holding the turn delays no small sync).
            if turn.is_none() && planned.iter().map(|p| p.lines).sum::<usize>() > BULK_LINES {
                match node.bulk.try_lock() {
                    Ok(g) => turn = Some(g),
                    Err(TryLockError::Poisoned(p)) => turn = Some(p.into_inner()),
                    Err(TryLockError::WouldBlock) => break,
                }
                ours = node.local.snapshot()?;
                planned = plan(&ranges, &id_lists, &ours);
            }
            if planned.is_empty() {
                converged = true;
                break;
            }
            ranges.clear();
            id_lists.clear();
            for batch in batches(planned) {
                let form = format!("action={ACTION}&v=1&q={}", write_queries(&batch));
                let text = fetch(client.post(&form))?.ok_or(FetchError::NoChecksum)?;
                let r = parse_reply(&text)?;
                delivery::learn_from_reply(node, peer.name.as_str(), &r, &ours);
                out.tally +=
                    local::merge_message_lines(&node.local, r.messages.iter().copied(), now)?;
                ranges.extend(r.ranges);
                id_lists.extend(r.id_lists);
            }
        }
        drop(turn);
        if converged {
            memo.version = Some(header.version);
        }
    }
    if let Some(lines) = gossip {
        memo.delivery_crc = delivery::merge_gossip(node, &lines);
    }
    delivery::write(node);
    out.learned = Learned {
        version: Some(header.version),
        all_pulled: memo.version == Some(header.version),
    };
    node.status.record(&peer.key, now)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::digest::{partition, split, Key};
    use crate::protocol::Epoch;

    fn snap(keys: &[Key]) -> Snapshot {
        let mut ids: Vec<u32> = keys.iter().map(|k| k.id.0).collect();
        ids.sort_unstable();
        Snapshot {
            keys: keys.to_vec(),
            ids,
            floor: None,
            version: 0,
        }
    }

    fn k(e: u64, id: u32) -> Key {
        Key::new(Epoch(e), MessageId(id))
    }

    /// Runs the whole protocol between two key sets in memory (the server side being
    /// the same pure functions `api::digest` uses) and returns what the client fetched
    /// and how many query requests it took.
    fn reconcile(server: &[Key], client: &[Key]) -> (Vec<MessageId>, usize) {
        let ours = snap(client);
        let mut ranges = partition(server);
        let mut id_lists = Vec::new();
        let mut fetched = Vec::new();
        for round in 0..=MAX_REQUESTS {
            let planned = plan(&ranges, &id_lists, &ours);
            if planned.is_empty() {
                return (fetched, round);
            }
            ranges.clear();
            id_lists.clear();
            for batch in batches(planned) {
                let answer_lines = fetched.len();
                run_batch(server, batch, &mut ranges, &mut id_lists, &mut fetched);
                assert!(fetched.len() - answer_lines <= MAX_ANSWER_LINES);
            }
        }
        panic!("did not converge");
    }

    fn run_batch(
        server: &[Key],
        batch: Vec<Query>,
        ranges: &mut Vec<Range>,
        id_lists: &mut Vec<(Bound, Bound, Vec<MessageId>)>,
        fetched: &mut Vec<MessageId>,
    ) {
        {
            for q in batch {
                match q {
                    Query::Split(lo, hi) => ranges.extend(split(server, lo, hi)),
                    Query::List(lo, hi) => id_lists.push((
                        lo,
                        hi,
                        digest::range(server, lo, hi).iter().map(|k| k.id).collect(),
                    )),
                    Query::Have(lo, hi, ids) => fetched.extend(
                        digest::range(server, lo, hi)
                            .iter()
                            .filter(|k| !ids.contains(&k.id))
                            .map(|k| k.id),
                    ),
                    Query::Get(ids) => {
                        fetched.extend(server.iter().filter(|k| ids.contains(&k.id)).map(|k| k.id))
                    }
                }
            }
        }
    }

    fn base(n: u32) -> Vec<Key> {
        (0..n)
            .map(|i| k(1_000_000 + u64::from(i) * 60, i * 7 + 1))
            .collect()
    }

    #[test]
    fn equal_sets_need_no_query() {
        let b = base(500);
        assert_eq!(reconcile(&b, &b), (vec![], 0));
    }

    #[test]
    fn new_messages_at_the_end_cost_one_query() {
        let mut server = base(10_000);
        let client = server.clone();
        server.push(k(2_000_000, 0xabcdef01));
        let (got, rounds) = reconcile(&server, &client);
        assert_eq!(got, [MessageId(0xabcdef01)]);
        assert_eq!(rounds, 1);
    }

    #[test]
    fn an_old_message_deep_inside_is_found() {
        let client = base(10_000);
        let mut server = client.clone();
        server.push(k(1_000_000 + 1234 * 60 + 5, 0x0bad_cafe));
        server.sort();
        let (got, rounds) = reconcile(&server, &client);
        assert_eq!(got, [MessageId(0x0bad_cafe)]);
        assert!(rounds <= 5, "{rounds}");
    }

    #[test]
    fn a_hundred_new_and_extra_local_ones() {
        let mut server = base(2000);
        let mut client = server.clone();
        for i in 0..100 {
            server.push(k(3_000_000 + i, 0x1000_0000 + i as u32));
        }
        // The client also holds messages the server lacks: never fetched, never loop.
        for i in 0..300 {
            client.push(k(1_000_000 + i * 60 + 1, 0x2000_0000 + i as u32));
        }
        server.sort();
        client.sort();
        let (mut got, _) = reconcile(&server, &client);
        got.sort();
        let want: Vec<_> = (0..100).map(|i| MessageId(0x1000_0000 + i)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_fresh_node_fetches_everything_in_bounded_answers() {
        let server = base(700);
        let (got, rounds) = reconcile(&server, &[]);
        assert_eq!(got.len(), 700);
        assert_eq!(rounds, 1);
        let server = base(10_000);
        let (mut got, rounds) = reconcile(&server, &[]);
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 10_000);
        assert_eq!(rounds, 2, "one split of the big old ranges, then fetches");
    }

    #[test]
    fn batches_respect_limits() {
        let p = |query: Query, lines| Planned { query, lines };
        let qs: Vec<Planned> = (0..600)
            .map(|i| p(Query::List(Bound::Key(k(i, 0)), Bound::End), 0))
            .collect();
        let b = batches(qs);
        assert!(b.iter().all(|x| x.len() <= MAX_QUERIES));
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 600);
        let big = vec![
            p(Query::Get(vec![MessageId(1); MAX_IDS]), 0),
            p(Query::Get(vec![MessageId(2); 10]), 0),
        ];
        assert_eq!(batches(big).len(), 2);
        let lines = vec![
            p(Query::Have(Bound::START, Bound::End, vec![]), 600),
            p(Query::Have(Bound::START, Bound::End, vec![]), 600),
            p(Query::Have(Bound::START, Bound::End, vec![]), 2000),
        ];
        assert_eq!(batches(lines).len(), 3);
    }
}
