//! The incremental sync extension `digest-v1` (docs/SYNC.md): keys, range bounds,
//! fingerprints, partitions, the client's queries and the server's response lines.
//!
//! In scope: the wire forms and the pure computations both sides must agree on (which
//! messages a range holds, its fingerprint, where a range is split). Out of scope: HTTP,
//! the log, the clock; `api::digest` serves these, `sync::digest` asks for them.
//!
//! Every token of a query is made of `[0-9a-f.~_-]` and the letters `s h l g`, so a query
//! travels in a URL or form body without escaping.

use std::fmt;
use std::str::FromStr;

use super::types::{Epoch, MessageId};

/// The extension's name, as `config` and the advertising header list it.
pub const NAME: &str = "digest-v1";
/// The action that serves it.
pub const ACTION: &str = "sync_digest";
/// The response header (on `users_raw`) that lists the extensions a peer speaks, so a
/// client learns it without an extra request.
pub const HEADER: &str = "X-Meshchat-Sync";
/// A range whose message count on one side is at most this is resolved with id lists.
pub const SMALL: usize = 32;
/// Sub-ranges a split produces (at most).
pub const SPLIT: usize = 16;
/// Size of the newest bucket of the first partition; each older bucket doubles.
pub const NEWEST: usize = 4;
/// Queries one request may carry.
pub const MAX_QUERIES: usize = 256;
/// Ids one request may carry, all queries together.
pub const MAX_IDS: usize = 6000;

/// Why a digest line or query was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestError(pub &'static str);

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad digest data: {}", self.0)
    }
}

impl std::error::Error for DigestError {}

fn bad(why: &'static str) -> DigestError {
    DigestError(why)
}

/// Where a message sorts in a log: by epoch, then id (the legacy trim order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub epoch: Epoch,
    pub id: MessageId,
}

impl Key {
    /// The key of a message.
    pub fn new(epoch: Epoch, id: MessageId) -> Key {
        Key { epoch, id }
    }

    /// This key's share of a fingerprint: CRC32 of epoch (8 bytes) and id (4 bytes),
    /// little-endian.
    pub fn hash(self) -> u32 {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.epoch.0.to_le_bytes());
        b[8..].copy_from_slice(&self.id.0.to_le_bytes());
        crate::protocol::crc32::hash(&b)
    }
}

/// A range boundary: a key, or the end of time. Ranges are `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    Key(Key),
    End,
}

impl Bound {
    /// The boundary below every key.
    pub const START: Bound = Bound::Key(Key {
        epoch: Epoch(0),
        id: MessageId(0),
    });

    fn admits(self, k: Key) -> bool {
        match self {
            Bound::Key(b) => k < b,
            Bound::End => true,
        }
    }
}

impl fmt::Display for Bound {
    /// `EPOCH` when the id is 0, else `EPOCH.ID`; `~` for the end.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::End => f.write_str("~"),
            Bound::Key(k) if k.id.0 == 0 => write!(f, "{}", k.epoch),
            Bound::Key(k) => write!(f, "{}.{}", k.epoch, k.id),
        }
    }
}

impl FromStr for Bound {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Bound, DigestError> {
        if s == "~" {
            return Ok(Bound::End);
        }
        let (epoch, id) = match s.split_once('.') {
            Some((e, i)) => (e, i.parse().map_err(|_| bad("bound id"))?),
            None => (s, MessageId(0)),
        };
        let epoch = epoch.parse().map_err(|_| bad("bound epoch"))?;
        Ok(Bound::Key(Key { epoch, id }))
    }
}

/// The positions of `[lo, hi)` in a sorted key list.
pub fn range_indices(keys: &[Key], lo: Bound, hi: Bound) -> std::ops::Range<usize> {
    let start = keys.partition_point(|k| !admits_from(lo, *k));
    let end = keys.partition_point(|k| hi.admits(*k));
    start..end.max(start)
}

/// The keys of `[lo, hi)` in a sorted key list.
pub fn range(keys: &[Key], lo: Bound, hi: Bound) -> &[Key] {
    &keys[range_indices(keys, lo, hi)]
}

/// True when `k` is at or above `lo`.
fn admits_from(lo: Bound, k: Key) -> bool {
    match lo {
        Bound::Key(b) => k >= b,
        Bound::End => false,
    }
}

/// What a range holds, in 12 bytes: how many messages, and the wrapping sum of their
/// key hashes. Two sides holding the same keys in a range have the same fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub count: u32,
    pub sum: u32,
}

impl Fingerprint {
    /// The fingerprint of a set of keys.
    pub fn of(keys: &[Key]) -> Fingerprint {
        keys.iter()
            .fold(Fingerprint::default(), |f, k| Fingerprint {
                count: f.count.wrapping_add(1),
                sum: f.sum.wrapping_add(k.hash()),
            })
    }
}

/// A range and its fingerprint on the side that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub lo: Bound,
    pub hi: Bound,
    pub fp: Fingerprint,
}

/// The shortest boundary between two neighbouring keys `a < b`: `b`'s epoch alone when
/// the epochs differ, else `b` itself.
fn between(a: Key, b: Key) -> Bound {
    if a.epoch < b.epoch {
        Bound::Key(Key::new(b.epoch, MessageId(0)))
    } else {
        Bound::Key(b)
    }
}

/// Cuts `keys` (all inside `[lo, hi)`) at the given indices into contiguous ranges
/// covering `[lo, hi)`. The indices are computed by [`partition`] and [`split`], never
/// taken from a request: strictly ascending, inside `1..keys.len()`.
fn cut(keys: &[Key], lo: Bound, hi: Bound, at: &[usize]) -> Vec<Range> {
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    let mut from = lo;
    for &i in at {
        let to = between(keys[i - 1], keys[i]);
        out.push(Range {
            lo: from,
            hi: to,
            fp: Fingerprint::of(&keys[start..i]),
        });
        start = i;
        from = to;
    }
    out.push(Range {
        lo: from,
        hi,
        fp: Fingerprint::of(&keys[start..]),
    });
    out
}

/// The first partition a server sends: its keys from the first one up, cut so that the
/// newest bucket holds [`NEWEST`] messages and each older one twice as many as the
/// next: new messages land in small buckets, an old one in few large ones.
pub fn partition(keys: &[Key]) -> Vec<Range> {
    let Some(first) = keys.first() else {
        return Vec::new();
    };
    let mut at = Vec::new();
    let mut size = NEWEST;
    let mut from_end = NEWEST;
    while from_end < keys.len() {
        at.push(keys.len() - from_end);
        size *= 2;
        from_end += size;
    }
    at.reverse();
    cut(keys, Bound::Key(*first), Bound::End, &at)
}

/// Splits the keys of `[lo, hi)` into at most [`SPLIT`] ranges of nearly equal counts.
pub fn split(keys: &[Key], lo: Bound, hi: Bound) -> Vec<Range> {
    let keys = range(keys, lo, hi);
    let parts = keys.len().clamp(1, SPLIT);
    // parts <= len, so the cut points strictly increase inside 1..len.
    let at: Vec<usize> = (1..parts).map(|p| p * keys.len() / parts).collect();
    cut(keys, lo, hi, &at)
}

/// One question a client asks about a range of the server's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `s<lo>-<hi>`: split the range and send the parts' fingerprints.
    Split(Bound, Bound),
    /// `h<lo>-<hi>-<ids>`: here are my ids in the range; send the lines I lack.
    Have(Bound, Bound, Vec<MessageId>),
    /// `l<lo>-<hi>`: send your ids in the range.
    List(Bound, Bound),
    /// `g<ids>`: send these lines.
    Get(Vec<MessageId>),
}

/// Writes ids as concatenated 8-digit hex, or `-` when there are none.
pub fn write_ids(out: &mut String, ids: &[MessageId]) {
    use std::fmt::Write;
    if ids.is_empty() {
        out.push('-');
    }
    for id in ids {
        let _ = write!(out, "{id}");
    }
}

/// Parses ids written by [`write_ids`].
pub fn parse_ids(s: &str) -> Result<Vec<MessageId>, DigestError> {
    if s == "-" {
        return Ok(Vec::new());
    }
    if s.is_empty() || !s.len().is_multiple_of(8) || !s.is_ascii() {
        return Err(bad("id list"));
    }
    (0..s.len() / 8)
        .map(|i| s[i * 8..i * 8 + 8].parse().map_err(|_| bad("id list")))
        .collect()
}

impl Query {
    /// Ids this query carries.
    pub fn id_count(&self) -> usize {
        match self {
            Query::Have(_, _, ids) | Query::Get(ids) => ids.len(),
            _ => 0,
        }
    }

    /// Appends the wire form.
    pub fn write(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = match self {
            Query::Split(lo, hi) => write!(out, "s{lo}-{hi}"),
            Query::List(lo, hi) => write!(out, "l{lo}-{hi}"),
            Query::Have(lo, hi, ids) => {
                let _ = write!(out, "h{lo}-{hi}-");
                write_ids(out, ids);
                Ok(())
            }
            Query::Get(ids) => {
                out.push('g');
                write_ids(out, ids);
                Ok(())
            }
        };
    }

    /// Parses one query.
    pub fn parse(s: &str) -> Result<Query, DigestError> {
        let kind = s.chars().next().ok_or(bad("empty query"))?;
        let rest = &s[kind.len_utf8()..];
        let bounds = |r: &str| -> Result<(Bound, Bound), DigestError> {
            let (lo, hi) = r.split_once('-').ok_or(bad("query range"))?;
            Ok((lo.parse()?, hi.parse()?))
        };
        match kind {
            's' => bounds(rest).map(|(lo, hi)| Query::Split(lo, hi)),
            'l' => bounds(rest).map(|(lo, hi)| Query::List(lo, hi)),
            'h' => {
                // Bounds hold no '-'; the id list may be the single '-' of "none".
                let mut parts = rest.splitn(3, '-');
                let (Some(lo), Some(hi), Some(ids)) = (parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad("query range"));
                };
                Ok(Query::Have(lo.parse()?, hi.parse()?, parse_ids(ids)?))
            }
            'g' => Ok(Query::Get(parse_ids(rest)?)),
            _ => Err(bad("unknown query")),
        }
    }
}

/// Writes queries as the value of the `q` parameter (`_`-separated).
pub fn write_queries(queries: &[Query]) -> String {
    let mut out = String::new();
    for (i, q) in queries.iter().enumerate() {
        if i > 0 {
            out.push('_');
        }
        q.write(&mut out);
    }
    out
}

/// Parses the `q` parameter, enforcing [`MAX_QUERIES`] and [`MAX_IDS`].
pub fn parse_queries(s: &str) -> Result<Vec<Query>, DigestError> {
    let mut out = Vec::new();
    let mut ids = 0;
    for part in s.split('_').filter(|p| !p.is_empty()) {
        if out.len() == MAX_QUERIES {
            return Err(bad("too many queries"));
        }
        let q = Query::parse(part)?;
        ids += q.id_count();
        if ids > MAX_IDS {
            return Err(bad("too many ids"));
        }
        out.push(q);
    }
    Ok(out)
}

/// The first line of every response: the server's message version (the legacy
/// `messages_version`), and the CRC32s of its `users_raw` and `local_files_raw` bodies
/// (`-` when not computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u64,
    pub users: Option<u32>,
    pub files: Option<u32>,
}

fn write_crc(c: Option<u32>) -> String {
    c.map_or_else(|| "-".to_string(), |c| format!("{c:08x}"))
}

fn parse_crc(s: &str) -> Result<Option<u32>, DigestError> {
    if s == "-" {
        return Ok(None);
    }
    if s.len() != 8 {
        return Err(bad("crc"));
    }
    u32::from_str_radix(s, 16).map(Some).map_err(|_| bad("crc"))
}

/// Parses a CRC as a client sends it (`u=`, `f=`): 8 hex digits.
pub fn parse_crc_param(s: &str) -> Option<u32> {
    parse_crc(s).ok().flatten()
}

/// Formats a CRC as a client sends it.
pub fn crc_param(c: u32) -> String {
    format!("{c:08x}")
}

impl Header {
    /// `digest-v1 VERSION USERS FILES\n`.
    pub fn write(&self, out: &mut String) {
        out.push_str(&format!(
            "{NAME} {} {} {}\n",
            self.version,
            write_crc(self.users),
            write_crc(self.files)
        ));
    }
}

/// Appends `R <lo> <hi> <count> <sum>`.
pub fn write_range(out: &mut String, r: &Range) {
    out.push_str(&format!(
        "R {} {} {} {:08x}\n",
        r.lo, r.hi, r.fp.count, r.fp.sum
    ));
}

/// Appends `I <lo> <hi> <ids>`.
pub fn write_id_list(out: &mut String, lo: Bound, hi: Bound, ids: &[MessageId]) {
    out.push_str(&format!("I {lo} {hi} "));
    write_ids(out, ids);
    out.push('\n');
}

/// A section of raw lines: `U`, `F` or `M`, then the count, then that many lines.
pub fn write_section<'a>(out: &mut String, tag: char, lines: impl IntoIterator<Item = &'a str>) {
    let lines: Vec<&str> = lines.into_iter().filter(|l| !l.is_empty()).collect();
    out.push_str(&format!("{tag} {}\n", lines.len()));
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
}

/// A parsed response body; raw lines are borrowed and still to be validated by the
/// line parsers of `protocol::lines`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub header: Option<Header>,
    /// `U` section: `users_raw` lines, present when the users changed.
    pub users: Option<Vec<&'a str>>,
    /// `F` section: `local_files_raw` lines, present when the files changed.
    pub files: Option<Vec<&'a str>>,
    pub ranges: Vec<Range>,
    pub id_lists: Vec<(Bound, Bound, Vec<MessageId>)>,
    /// `M` sections: message database lines.
    pub messages: Vec<&'a str>,
    /// `D` section: delivery gossip (`protocol::delivery`), sent only to a client that
    /// asked for it with `d=`.
    pub delivery: Option<Vec<&'a str>>,
}

/// Parses a whole response body. Anything malformed refuses the whole body: it was
/// checked against its Content-MD5, so damage means a broken or hostile peer.
pub fn parse_reply(text: &str) -> Result<Reply<'_>, DigestError> {
    let mut lines = text.split('\n');
    let first = lines.next().ok_or(bad("empty reply"))?;
    let mut head = first.split(' ');
    if head.next() != Some(NAME) {
        return Err(bad("not a digest-v1 reply"));
    }
    let (Some(v), Some(u), Some(f), None) = (head.next(), head.next(), head.next(), head.next())
    else {
        return Err(bad("header"));
    };
    let mut reply = Reply {
        header: Some(Header {
            version: v.parse().map_err(|_| bad("version"))?,
            users: parse_crc(u)?,
            files: parse_crc(f)?,
        }),
        ..Reply::default()
    };
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let mut w = line.split(' ');
        let tag = w.next().unwrap_or("");
        let mut take_section = |n: Option<&str>| -> Result<Vec<&str>, DigestError> {
            let n: usize = n.and_then(|n| n.parse().ok()).ok_or(bad("section size"))?;
            let mut v = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                v.push(lines.next().ok_or(bad("section cut short"))?);
            }
            Ok(v)
        };
        match tag {
            "U" => reply.users = Some(take_section(w.next())?),
            "F" => reply.files = Some(take_section(w.next())?),
            "M" => reply.messages.extend(take_section(w.next())?),
            "D" => reply.delivery = Some(take_section(w.next())?),
            "R" => {
                let (Some(lo), Some(hi), Some(c), Some(s), None) =
                    (w.next(), w.next(), w.next(), w.next(), w.next())
                else {
                    return Err(bad("range line"));
                };
                reply.ranges.push(Range {
                    lo: lo.parse()?,
                    hi: hi.parse()?,
                    fp: Fingerprint {
                        count: c.parse().map_err(|_| bad("range count"))?,
                        sum: u32::from_str_radix(s, 16).map_err(|_| bad("range sum"))?,
                    },
                });
            }
            "I" => {
                let (Some(lo), Some(hi), Some(ids), None) =
                    (w.next(), w.next(), w.next(), w.next())
                else {
                    return Err(bad("id line"));
                };
                reply
                    .id_lists
                    .push((lo.parse()?, hi.parse()?, parse_ids(ids)?));
            }
            _ => return Err(bad("unknown line")),
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(epoch: u64, id: u32) -> Key {
        Key::new(Epoch(epoch), MessageId(id))
    }

    fn keys(n: u32) -> Vec<Key> {
        (0..n).map(|i| k(1000 + u64::from(i / 2), i + 1)).collect()
    }

    #[test]
    fn bounds_round_trip_and_order() {
        for s in ["~", "1795661251", "1795661251.0a1b2c3d"] {
            assert_eq!(s.parse::<Bound>().unwrap().to_string(), s);
        }
        assert!("x".parse::<Bound>().is_err());
        assert!("1.zz".parse::<Bound>().is_err());
        assert!("-1".parse::<Bound>().is_err());
        assert!(Bound::Key(k(5, 1)) < Bound::End);
        assert_eq!("7".parse::<Bound>().unwrap(), Bound::Key(k(7, 0)));
    }

    #[test]
    fn partitions_cover_every_key_once_with_small_newest_buckets() {
        for n in [0u32, 1, 3, 4, 5, 17, 500, 10_000] {
            let ks = keys(n);
            let parts = partition(&ks);
            let total: u32 = parts.iter().map(|r| r.fp.count).sum();
            assert_eq!(total, n);
            for r in &parts {
                assert_eq!(Fingerprint::of(range(&ks, r.lo, r.hi)), r.fp, "n={n}");
            }
            if n > 0 {
                assert_eq!(parts.last().unwrap().hi, Bound::End);
                assert!(parts.last().unwrap().fp.count as usize <= NEWEST);
                assert!(parts.len() <= 14, "n={n}: {} parts", parts.len());
            }
            for w in parts.windows(2) {
                assert_eq!(w[0].hi, w[1].lo);
            }
        }
    }

    #[test]
    fn splits_are_even_and_exact() {
        let ks = keys(1000);
        let lo = Bound::Key(ks[100]);
        let hi = Bound::Key(ks[900]);
        let parts = split(&ks, lo, hi);
        assert_eq!(parts.len(), SPLIT);
        assert_eq!(parts[0].lo, lo);
        assert_eq!(parts.last().unwrap().hi, hi);
        assert_eq!(parts.iter().map(|r| r.fp.count).sum::<u32>(), 800);
        for r in &parts {
            assert!(r.fp.count == 50, "{r:?}");
            assert_eq!(Fingerprint::of(range(&ks, r.lo, r.hi)), r.fp);
        }
        // Fewer keys than parts, and none at all.
        assert_eq!(split(&ks[..3], Bound::START, Bound::End).len(), 3);
        let empty = split(&[], Bound::START, Bound::End);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].fp, Fingerprint::default());
    }

    #[test]
    fn fingerprints_see_a_single_difference() {
        let a = keys(300);
        let mut b = a.clone();
        b[150] = k(b[150].epoch.0, 0xdead_beef);
        assert_ne!(Fingerprint::of(&a), Fingerprint::of(&b));
        b.remove(150);
        assert_ne!(Fingerprint::of(&a), Fingerprint::of(&b));
    }

    #[test]
    fn queries_round_trip() {
        let qs = vec![
            Query::Split(Bound::Key(k(10, 0)), Bound::End),
            Query::Have(
                Bound::Key(k(10, 5)),
                Bound::Key(k(11, 0)),
                vec![MessageId(1)],
            ),
            Query::Have(Bound::Key(k(10, 5)), Bound::End, vec![]),
            Query::List(Bound::START, Bound::End),
            Query::Get(vec![MessageId(0xa), MessageId(0xffff_ffff)]),
        ];
        let s = write_queries(&qs);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)));
        assert_eq!(parse_queries(&s).unwrap(), qs);
        assert!(parse_queries("x1-2").is_err());
        assert!(parse_queries("g0a1b2c3").is_err());
        assert!(parse_queries(&"l0-~_".repeat(MAX_QUERIES + 1)).is_err());
    }

    #[test]
    fn replies_parse_and_refuse_damage() {
        let mut out = String::new();
        Header {
            version: 42,
            users: Some(7),
            files: None,
        }
        .write(&mut out);
        write_section(&mut out, 'U', ["K1ABC\tcafe0001\tn\t1\tnode"]);
        write_range(
            &mut out,
            &Range {
                lo: Bound::START,
                hi: Bound::End,
                fp: Fingerprint { count: 3, sum: 9 },
            },
        );
        write_id_list(&mut out, Bound::START, Bound::End, &[MessageId(5)]);
        write_section(&mut out, 'M', ["a\tb", "c\td"]);
        let r = parse_reply(&out).unwrap();
        assert_eq!(r.header.unwrap().version, 42);
        assert_eq!(r.header.unwrap().users, Some(7));
        assert_eq!(r.users.unwrap().len(), 1);
        assert!(r.files.is_none());
        assert_eq!(r.ranges[0].fp.count, 3);
        assert_eq!(r.id_lists[0].2, [MessageId(5)]);
        assert_eq!(r.messages, ["a\tb", "c\td"]);
        assert!(r.delivery.is_none());
        write_section(&mut out, 'D', ["00000001 2", "5.00000009 *"]);
        let r = parse_reply(&out).unwrap();
        assert_eq!(r.delivery.unwrap(), ["00000001 2", "5.00000009 *"]);
        assert!(parse_reply("error no action\n").is_err());
        assert!(parse_reply("digest-v1 1 - -\nM 3\nx\n").is_err());
        assert!(parse_reply("digest-v1 1 - -\nZ\n").is_err());
    }
}
