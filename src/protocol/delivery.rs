//! The wire form of delivery knowledge (docs/SYNC.md, "Delivery"): which nodes of the
//! zone are known to hold a message, as it rides on a `digest-v1` check reply in a `D`
//! section that only a client asking with `d=` ever receives.
//!
//! Nodes are named by their index in the zone's *roster*: every node name of the zone
//! this node knows of, its own included, lowercased and sorted. Two nodes exchange holder
//! sets only when their rosters are the same (same CRC32), so an index means the same
//! node on both sides. A holder set is written in whichever of four forms is shortest:
//!
//! - `*`: every node of the roster;
//! - `+I.I.I`: these indices (hex), for few holders;
//! - `-I.I`: every index but these, for nearly all;
//! - `xHHHH`: a bitmap in hex, four indices per digit (index 0 is the low bit of the
//!   first digit), trailing zero digits left out.
//!
//! The section's lines: first `<roster crc> <roster size>`, then one
//! `<epoch>.<id> <holders>` per message. In scope: these forms. Out of scope: what the
//! sets mean and how they merge (`sync::delivery`).

use std::fmt;

use super::digest::Key;
use super::{Epoch, MessageId};

/// Nodes a roster may hold: a zone of a thousand nodes with room to spare. Indices past
/// it are refused on the wire.
pub const MAX_ROSTER: usize = 4096;
/// The tag of the section in a `sync_digest` reply.
pub const SECTION: char = 'D';
/// The request parameter a client sends (the CRC of the last section it received from
/// this peer, or `-`) to say it wants the section.
pub const PARAM: &str = "d";

/// Why a delivery line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// The section's first line is not `<crc> <size>`.
    Roster,
    /// An entry line is not `<epoch>.<id> <holders>`.
    Entry,
    /// A holder set is garbled or names an index outside the roster.
    Holders,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeliveryError::Roster => "bad delivery data: roster line",
            DeliveryError::Entry => "bad delivery data: entry line",
            DeliveryError::Holders => "bad delivery data: holder set",
        })
    }
}

impl std::error::Error for DeliveryError {}

/// A set of roster indices, as a bitmap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    words: Vec<u64>,
}

impl Holders {
    /// The empty set, sized for a roster of `n`.
    pub fn new(n: usize) -> Holders {
        Holders {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// Adds index `i` (ignored when outside the set's roster); true when it was new.
    pub fn insert(&mut self, i: usize) -> bool {
        let Some(w) = self.words.get_mut(i / 64) else {
            return false;
        };
        let bit = 1u64 << (i % 64);
        let new = *w & bit == 0;
        *w |= bit;
        new
    }

    /// True when index `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// How many indices the set holds.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Adds every index of `other`; true when the set grew.
    pub fn union(&mut self, other: &Holders) -> bool {
        let mut grew = false;
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            grew |= *b & !*a != 0;
            *a |= *b;
        }
        grew
    }

    /// The indices in the set, ascending.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(wi, &w)| Bits(w).map(move |b| wi * 64 + b))
    }

    /// Word `wi` of the set, or of its complement, with only indices below `n` kept.
    fn word(&self, wi: usize, keep: bool, n: usize) -> u64 {
        let w = self.words.get(wi).copied().unwrap_or(0);
        let w = if keep { w } else { !w };
        let below = n.saturating_sub(wi * 64);
        if below >= 64 {
            w
        } else {
            w & ((1u64 << below) - 1)
        }
    }

    /// How many indices in `lo..hi` (and below `n`) are in the set (`keep`) or not.
    fn count_in(&self, lo: usize, hi: usize, keep: bool, n: usize) -> usize {
        let hi = hi.min(n);
        (lo / 64..hi.div_ceil(64))
            .map(|wi| {
                let base = wi * 64;
                let mut w = self.word(wi, keep, hi);
                if lo > base {
                    w &= !((1u64 << (lo - base)) - 1);
                }
                w.count_ones() as usize
            })
            .sum()
    }

    /// The wire form for a roster of `n` nodes (the shortest of the four). Sizes are
    /// counted a word at a time: the daemon writes sets of a 1,000-node roster after
    /// every round.
    pub fn write(&self, n: usize, out: &mut String) {
        let count = self.count();
        if n > 0 && count == n {
            out.push('*');
            return;
        }
        let list = |out: &mut String, tag: char, keep: bool| {
            out.push(tag);
            let mut first = true;
            for wi in 0..n.div_ceil(64) {
                for b in Bits(self.word(wi, keep, n)) {
                    if !first {
                        out.push('.');
                    }
                    first = false;
                    push_hex(out, wi * 64 + b);
                }
            }
        };
        // Sizes of each form, to pick the shortest without writing all three: an
        // index below 16 takes 1 hex digit, below 256 2, below 4096 3, and so on.
        let listed = |keep: bool| -> usize {
            let (mut lo, mut digits, mut size) = (0, 1, 0);
            while lo < n {
                let hi = 1usize << (4 * digits);
                size += self.count_in(lo, hi, keep, n) * (digits + 1);
                lo = hi;
                digits += 1;
            }
            size
        };
        let top = self.words.iter().rposition(|&w| w != 0).map_or(0, |wi| {
            (wi * 64 + 63 - self.words[wi].leading_zeros() as usize) / 4 + 1
        });
        let (plus, minus) = (listed(true), listed(false));
        if plus <= minus && plus <= top + 1 {
            list(out, '+', true);
        } else if minus <= top + 1 {
            list(out, '-', false);
        } else {
            out.push('x');
            for d in 0..top {
                let w = self.words.get(d / 16).copied().unwrap_or(0);
                let nibble = (w >> ((d % 16) * 4)) & 0xf;
                out.push(char::from(HEX[nibble as usize]));
            }
        }
    }

    /// Parses the wire form for a roster of `n` nodes.
    pub fn parse(s: &str, n: usize) -> Result<Holders, DeliveryError> {
        let mut h = Holders::new(n);
        let index = |t: &str| -> Result<usize, DeliveryError> {
            if t.is_empty() || t.len() > 4 {
                return Err(DeliveryError::Holders);
            }
            usize::from_str_radix(t, 16)
                .ok()
                .filter(|&i| i < n)
                .ok_or(DeliveryError::Holders)
        };
        let (tag, rest) = s.split_at_checked(1).ok_or(DeliveryError::Holders)?;
        match tag {
            "*" if rest.is_empty() => (0..n).for_each(|i| {
                h.insert(i);
            }),
            "+" if !rest.is_empty() => {
                for t in rest.split('.') {
                    h.insert(index(t)?);
                }
            }
            "+" => {}
            "-" => {
                let mut all = Holders::new(n);
                (0..n).for_each(|i| {
                    all.insert(i);
                });
                if !rest.is_empty() {
                    for t in rest.split('.') {
                        let i = index(t)?;
                        if let Some(w) = all.words.get_mut(i / 64) {
                            *w &= !(1u64 << (i % 64));
                        }
                    }
                }
                h = all;
            }
            "x" => {
                if rest.len() > n.div_ceil(4) {
                    return Err(DeliveryError::Holders);
                }
                for (d, c) in rest.chars().enumerate() {
                    let v = c.to_digit(16).ok_or(DeliveryError::Holders)?;
                    for b in 0..4 {
                        if v & (1 << b) != 0 {
                            if d * 4 + b >= n {
                                return Err(DeliveryError::Holders);
                            }
                            h.insert(d * 4 + b);
                        }
                    }
                }
            }
            _ => return Err(DeliveryError::Holders),
        }
        Ok(h)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `i` in lowercase hex.
fn push_hex(out: &mut String, i: usize) {
    let digits = if i == 0 {
        1
    } else {
        (i.ilog2() as usize) / 4 + 1
    };
    for d in (0..digits).rev() {
        out.push(char::from(HEX[(i >> (4 * d)) & 0xf]));
    }
}

/// The set bits of a word, ascending.
struct Bits(u64);

impl Iterator for Bits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let b = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(b)
    }
}

/// A node's name as a roster holds it: lowercased, without the `.local.mesh` an
/// advertised host may carry (AREDN resolves both).
pub fn roster_name(s: &str) -> String {
    let s = s.to_ascii_lowercase();
    match s.strip_suffix(".local.mesh") {
        Some(short) if !short.is_empty() => short.to_string(),
        _ => s,
    }
}

/// The CRC32 that names a roster: over its names, each followed by `\n`.
pub fn roster_crc<'a>(names: impl IntoIterator<Item = &'a str>) -> u32 {
    let mut h = super::crc32::Hasher::new();
    for n in names {
        h.update(n.as_bytes());
        h.update(b"\n");
    }
    h.finalize()
}

/// The first line of a section.
pub fn write_roster_line(out: &mut String, crc: u32, size: usize) {
    out.push_str(&format!("{crc:08x} {size}\n"));
}

/// Parses the first line of a section: (roster crc, roster size).
pub fn parse_roster_line(line: &str) -> Result<(u32, usize), DeliveryError> {
    let (crc, size) = line.split_once(' ').ok_or(DeliveryError::Roster)?;
    if crc.len() != 8 {
        return Err(DeliveryError::Roster);
    }
    let crc = u32::from_str_radix(crc, 16).map_err(|_| DeliveryError::Roster)?;
    let size: usize = size.parse().map_err(|_| DeliveryError::Roster)?;
    if size == 0 || size > MAX_ROSTER {
        return Err(DeliveryError::Roster);
    }
    Ok((crc, size))
}

/// Appends one entry line.
pub fn write_entry(out: &mut String, key: Key, holders: &Holders, n: usize) {
    out.push_str(&format!("{}.{} ", key.epoch, key.id));
    holders.write(n, out);
    out.push('\n');
}

/// Parses one entry line for a roster of `n` nodes.
pub fn parse_entry(line: &str, n: usize) -> Result<(Key, Holders), DeliveryError> {
    let (key, holders) = line.split_once(' ').ok_or(DeliveryError::Entry)?;
    let (epoch, id) = key.split_once('.').ok_or(DeliveryError::Entry)?;
    let epoch: Epoch = epoch.parse().map_err(|_| DeliveryError::Entry)?;
    let id: MessageId = id.parse().map_err(|_| DeliveryError::Entry)?;
    Ok((Key::new(epoch, id), Holders::parse(holders, n)?))
}

/// The CRC32 a client remembers of a section: over its lines, each followed by `\n`
/// (the bytes the server keeps them in).
pub fn section_crc<'a>(lines: impl IntoIterator<Item = &'a str>) -> u32 {
    roster_crc(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize, idx: &[usize]) -> Holders {
        let mut h = Holders::new(n);
        for &i in idx {
            h.insert(i);
        }
        h
    }

    fn round_trip(n: usize, idx: &[usize]) -> String {
        let h = set(n, idx);
        let mut s = String::new();
        h.write(n, &mut s);
        assert_eq!(Holders::parse(&s, n).unwrap(), h, "{s}");
        s
    }

    #[test]
    fn holder_sets_take_the_shortest_form() {
        assert_eq!(round_trip(7, &[0, 1, 2, 3, 4, 5, 6]), "*");
        assert_eq!(round_trip(7, &[]), "+");
        assert_eq!(round_trip(1000, &[3, 700]), "+3.2bc");
        let all_but: Vec<usize> = (0..1000).filter(|&i| i != 17).collect();
        assert_eq!(round_trip(1000, &all_but), "-11");
        let half: Vec<usize> = (0..1000).step_by(2).collect();
        let s = round_trip(1000, &half);
        assert!(s.starts_with('x') && s.len() <= 251, "{}", s.len());
        round_trip(64, &[63]);
        round_trip(65, &[64, 0]);
    }

    #[test]
    fn garbled_sets_are_refused() {
        for bad in ["", "?", "+zz", "+8", "x1ff", "-8", "+1..2", "*x", "+12345"] {
            assert!(Holders::parse(bad, 8).is_err(), "{bad}");
        }
        assert!(parse_roster_line("0000000g 3").is_err());
        assert!(parse_roster_line("00000001 0").is_err());
        assert!(parse_roster_line("00000001 99999").is_err());
        assert_eq!(parse_roster_line("0000000a 3"), Ok((10, 3)));
        assert!(parse_entry("17.0000000z +1", 3).is_err());
        assert!(parse_entry("17 +1", 3).is_err());
        let (k, h) = parse_entry("17.0000000a +1.2", 3).unwrap();
        assert_eq!(k, Key::new(Epoch(17), MessageId(10)));
        assert_eq!(h.count(), 2);
    }

    /// The form as first written, a bit at a time: the word-wise writer must agree.
    fn write_bitwise(h: &Holders, n: usize) -> String {
        let mut out = String::new();
        if n > 0 && h.count() == n {
            return "*".into();
        }
        let digits = |i: usize| {
            if i < 16 {
                1
            } else {
                (i.ilog2() as usize) / 4 + 1
            }
        };
        let kept = |keep: bool| (0..n).filter(move |&i| h.contains(i) == keep);
        let listed = |keep: bool| -> usize { kept(keep).map(|i| digits(i) + 1).sum() };
        let top = (0..h.words.len() * 64)
            .rfind(|&i| h.contains(i))
            .map_or(0, |i| i / 4 + 1);
        let list = |tag: char, keep: bool| {
            let v: Vec<String> = kept(keep).map(|i| format!("{i:x}")).collect();
            format!("{tag}{}", v.join("."))
        };
        let (plus, minus) = (listed(true), listed(false));
        if plus <= minus && plus <= top + 1 {
            out = list('+', true);
        } else if minus <= top + 1 {
            out = list('-', false);
        } else {
            out.push('x');
            for d in 0..top {
                let nibble = (0..4).fold(0u32, |a, b| a | (u32::from(h.contains(d * 4 + b)) << b));
                out.push(char::from_digit(nibble, 16).unwrap_or('0'));
            }
        }
        out
    }

    #[test]
    fn the_word_wise_writer_gives_the_bitwise_form() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [1, 5, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 4096] {
            for density in [0, 1, 3, 50, 97, 99, 100] {
                let idx: Vec<usize> = (0..n).filter(|_| (next() % 100) < density as u64).collect();
                let h = set(n, &idx);
                let mut s = String::new();
                h.write(n, &mut s);
                assert_eq!(s, write_bitwise(&h, n), "n={n} density={density}");
                assert_eq!(h.indices().collect::<Vec<_>>(), idx);
            }
        }
    }

    #[test]
    fn union_reports_growth() {
        let mut a = set(100, &[1, 70]);
        assert!(!a.union(&set(100, &[1])));
        assert!(a.union(&set(100, &[2, 99])));
        assert_eq!(a.indices().collect::<Vec<_>>(), [1, 2, 70, 99]);
    }
}
