//! Delivery knowledge in RAM (docs/SYNC.md, "Delivery"): the sync daemon writes it, the
//! API reads it. Two files in `ram_dir`, replaced whole (rename) when the daemon learnt
//! something, never on flash:
//!
//! - `delivery`: the roster and, per followed message, its holders ([`Report`]), for the
//!   `delivery` action;
//! - `delivery_counts`: how many hold each message posted here, and the roster's size
//!   ([`OwnCounts`]): all `messages_version_ui` and `messages` need, a few bytes per
//!   message however large the zone, since every open page asks every 5 s;
//! - `delivery_gossip`: the `D` section of a `sync_digest` reply, exactly as served.
//!
//! Neither exists before the daemon's first round; readers then know only this node.

use std::path::PathBuf;

use super::{atomic, read_optional, Paths, Result};
use crate::protocol::delivery::{
    parse_entry, parse_roster_line, write_entry, write_roster_line, Holders,
};
use crate::protocol::digest::Key;
use crate::protocol::MessageId;

/// Bytes of either file a reader accepts (a roster of 4096 names and 320 entries fit).
pub const MAX_FILE: usize = 1 << 20;

fn report_path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("delivery")
}

fn gossip_path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("delivery_gossip")
}

fn counts_path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("delivery_counts")
}

/// The counts of the messages posted here: `of <M>`, then `<id> <count>` per message,
/// oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnCounts {
    /// Nodes of the zone this node knows of, itself included.
    pub of: usize,
    pub counts: Vec<(MessageId, usize)>,
}

impl OwnCounts {
    /// Those of a report.
    pub fn of_report(r: &Report) -> OwnCounts {
        OwnCounts {
            of: r.roster.len(),
            counts: r
                .entries
                .iter()
                .filter(|e| e.own)
                .map(|e| (e.key.id, e.holders.count()))
                .collect(),
        }
    }

    /// The file's text.
    pub fn write(&self) -> String {
        let mut out = format!("of {}\n", self.of);
        for (id, n) in &self.counts {
            out.push_str(&format!("{id} {n}\n"));
        }
        out
    }

    /// Parses what [`OwnCounts::write`] wrote; `None` when damaged.
    pub fn parse(text: &str) -> Option<OwnCounts> {
        let mut lines = text.lines();
        let of = lines.next()?.strip_prefix("of ")?.parse().ok()?;
        let counts = lines
            .map(|l| {
                let (id, n) = l.split_once(' ')?;
                Some((id.parse().ok()?, n.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(OwnCounts { of, counts })
    }

    /// The count of one message.
    pub fn get(&self, id: MessageId) -> Option<usize> {
        self.counts.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
    }
}

/// One followed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub key: Key,
    /// Posted on this node.
    pub own: bool,
    pub holders: Holders,
}

/// What the daemon knows, as the API reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub roster_crc: u32,
    /// Lowercased, sorted, this node included.
    pub roster: Vec<String>,
    /// Oldest first.
    pub entries: Vec<Followed>,
}

impl Report {
    /// The file's text: the roster line, the names, then `=` (own) or `~` (other)
    /// followed by an entry line.
    pub fn write(&self) -> String {
        let n = self.roster.len();
        let mut out = String::new();
        write_roster_line(&mut out, self.roster_crc, n);
        for name in &self.roster {
            out.push_str(name);
            out.push('\n');
        }
        for e in &self.entries {
            out.push(if e.own { '=' } else { '~' });
            write_entry(&mut out, e.key, &e.holders, n);
        }
        out
    }

    /// Parses what [`Report::write`] wrote; `None` when damaged.
    #[cfg(test)]
    pub fn parse(text: &str) -> Option<Report> {
        Report::parse_only(text, None)
    }

    /// The same, keeping only the entry of message `only` when given: the `delivery`
    /// action decodes one holder set, not hundreds.
    pub fn parse_only(text: &str, only: Option<MessageId>) -> Option<Report> {
        let want = only.map(|id| id.to_string());
        let mut lines = text.lines();
        let (roster_crc, n) = parse_roster_line(lines.next()?).ok()?;
        let roster: Vec<String> = lines.by_ref().take(n).map(str::to_string).collect();
        if roster.len() != n {
            return None;
        }
        let mut entries = Vec::new();
        for l in lines {
            let own = match l.as_bytes().first() {
                Some(b'=') => true,
                Some(b'~') => false,
                _ => return None,
            };
            if let Some(w) = &want {
                // `<epoch>.<id> <holders>`: the id ends where the holders begin.
                let key = l.split(' ').next().unwrap_or("");
                if !key.ends_with(w.as_str()) {
                    continue;
                }
            }
            let (key, holders) = parse_entry(&l[1..], n).ok()?;
            entries.push(Followed { key, own, holders });
        }
        Some(Report {
            roster_crc,
            roster,
            entries,
        })
    }

    /// The entry of a message.
    pub fn find(&self, id: MessageId) -> Option<&Followed> {
        self.entries.iter().find(|e| e.key.id == id)
    }

    /// The names of a holder set.
    pub fn names<'a>(&'a self, holders: &'a Holders) -> impl Iterator<Item = &'a str> + 'a {
        holders
            .indices()
            .filter_map(|i| self.roster.get(i).map(String::as_str))
    }
}

/// Replaces the gossip file when given a section, and the report and the counts when
/// given a report (the daemon writes only what changed).
pub fn write(paths: &Paths, report: Option<&Report>, gossip: Option<&str>) -> Result<()> {
    if let Some(gossip) = gossip {
        atomic::replace(&gossip_path(paths), gossip.as_bytes(), false)?;
    }
    if let Some(report) = report {
        let counts = OwnCounts::of_report(report).write();
        atomic::replace(&counts_path(paths), counts.as_bytes(), false)?;
        atomic::replace(&report_path(paths), report.write().as_bytes(), false)?;
    }
    Ok(())
}

fn read_capped(path: &std::path::Path) -> Result<Vec<u8>> {
    let mut b = read_optional(path)?;
    if b.len() > MAX_FILE {
        b.clear();
    }
    Ok(b)
}

/// The daemon's report with the entry of message `id` only; `None` before its first
/// round (or when damaged).
pub fn read_report_of(paths: &Paths, id: MessageId) -> Result<Option<Report>> {
    let b = read_capped(&report_path(paths))?;
    Ok(Report::parse_only(&String::from_utf8_lossy(&b), Some(id)))
}

/// The counts of the messages posted here; `None` before the daemon's first round.
pub fn read_counts(paths: &Paths) -> Result<Option<OwnCounts>> {
    let b = read_capped(&counts_path(paths))?;
    Ok(OwnCounts::parse(&String::from_utf8_lossy(&b)))
}

/// The gossip section's lines, as the daemon wrote them (empty before its first round).
pub fn read_gossip(paths: &Paths) -> Result<String> {
    let b = read_capped(&gossip_path(paths))?;
    Ok(String::from_utf8(b).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Epoch;

    #[test]
    fn reports_round_trip_and_damage_reads_as_none() {
        let mut h = Holders::new(2);
        h.insert(1);
        let r = Report {
            roster_crc: 7,
            roster: vec!["a".into(), "b".into()],
            entries: vec![Followed {
                key: Key::new(Epoch(5), MessageId(9)),
                own: true,
                holders: h.clone(),
            }],
        };
        let text = r.write();
        assert_eq!(Report::parse(&text), Some(r.clone()));
        let none = Report::parse_only(&text, Some(MessageId(8))).unwrap();
        assert!(none.entries.is_empty() && none.roster.len() == 2);
        assert_eq!(
            Report::parse_only(&text, Some(MessageId(9))),
            Some(r.clone())
        );
        assert_eq!(r.names(&h).collect::<Vec<_>>(), ["b"]);
        assert_eq!(Report::parse(&text.replace('=', "?")), None);
        assert_eq!(Report::parse("00000007 3\na\n"), None);
        let c = OwnCounts::of_report(&r);
        assert_eq!(c.write(), "of 2\n00000009 1\n");
        assert_eq!(OwnCounts::parse(&c.write()), Some(c.clone()));
        assert_eq!(c.get(MessageId(9)), Some(1));
        assert_eq!(OwnCounts::parse("of x\n"), None);
        assert_eq!(OwnCounts::parse("of 2\nzz 1\n"), None);
    }

    #[test]
    fn files_are_replaced_and_missing_ones_read_empty() {
        let dir = std::env::temp_dir().join(format!("mc-delivery-{}", std::process::id()));
        let paths = Paths {
            data_dir: dir.join("d"),
            ram_dir: dir.join("r"),
            files_dir: dir.join("f"),
        };
        assert_eq!(read_report_of(&paths, MessageId(1)).unwrap(), None);
        assert_eq!(read_gossip(&paths).unwrap(), "");
        let r = Report {
            roster_crc: 1,
            roster: vec!["a".into()],
            entries: vec![],
        };
        assert_eq!(read_counts(&paths).unwrap(), None);
        write(&paths, Some(&r), Some("00000001 1\n")).unwrap();
        assert_eq!(
            read_report_of(&paths, MessageId(1)).unwrap(),
            Some(r.clone())
        );
        let counts = read_counts(&paths).unwrap().unwrap();
        assert_eq!((counts.of, counts.counts.len()), (1, 0));
        assert_eq!(read_gossip(&paths).unwrap(), "00000001 1\n");
        // Only what is given is replaced: the section alone, then the report alone.
        write(&paths, None, Some("00000001 1\n1.00000002 *\n")).unwrap();
        assert_eq!(read_gossip(&paths).unwrap(), "00000001 1\n1.00000002 *\n");
        assert_eq!(
            read_report_of(&paths, MessageId(1)).unwrap(),
            Some(r.clone())
        );
        let two = Report {
            roster: vec!["a".into(), "b".into()],
            ..r
        };
        write(&paths, Some(&two), None).unwrap();
        assert_eq!(read_report_of(&paths, MessageId(1)).unwrap(), Some(two));
        assert_eq!(read_counts(&paths).unwrap().unwrap().of, 2);
        assert_eq!(read_gossip(&paths).unwrap(), "00000001 1\n1.00000002 *\n");
        let _ = std::fs::remove_dir_all(dir);
    }
}
