//! Per-peer sync counters in RAM (`peer_stats`), written by the sync daemon after each
//! peer's round and read by the `sync_peers` action for the status page.
//!
//! One line per peer: `name \t port \t mode \t rounds \t pulled \t rejected \t errors \t
//! bytes \t last_sync \t last_error`. Only the daemon writes the file (whole, atomically);
//! the counters count since the daemon started.

use std::path::PathBuf;

use super::{atomic, read_optional, Paths, Result};
use crate::protocol::{Epoch, NodeName};

/// Bytes of a peer's last error kept in the file.
const MAX_ERROR: usize = 160;

/// How the daemon currently syncs with a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not contacted yet.
    New,
    /// The four legacy requests.
    Legacy,
    /// The `digest-v1` extension.
    Digest,
    /// Answered 404: left alone for a while.
    Backoff,
}

impl Mode {
    /// The word in the file and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::New => "new",
            Mode::Legacy => "legacy",
            Mode::Digest => "digest",
            Mode::Backoff => "backoff",
        }
    }

    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "new" => Mode::New,
            "legacy" => Mode::Legacy,
            "digest" => Mode::Digest,
            "backoff" => Mode::Backoff,
            _ => return None,
        })
    }
}

/// What the daemon counted for one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStats {
    /// The peer's name (its host, lowercased).
    pub name: NodeName,
    pub port: u16,
    pub mode: Mode,
    /// Rounds attempted.
    pub rounds: u64,
    /// Messages added to our log from this peer.
    pub pulled: u64,
    /// Lines refused (failed validation, too far ahead).
    pub rejected: u64,
    /// Rounds that failed (no answer, bad checksum, oversized body, ...).
    pub errors: u64,
    /// Bytes on the wire, both ways.
    pub bytes: u64,
    /// When the last round succeeded (0: never).
    pub last_sync: Epoch,
    /// Why the last failed round failed (empty when the last round succeeded).
    pub last_error: String,
}

impl PeerStats {
    /// Fresh counters.
    pub fn new(name: NodeName, port: u16) -> PeerStats {
        PeerStats {
            name,
            port,
            mode: Mode::New,
            rounds: 0,
            pulled: 0,
            rejected: 0,
            errors: 0,
            bytes: 0,
            last_sync: Epoch(0),
            last_error: String::new(),
        }
    }

    /// Records why a round failed, as one printable line of bounded length.
    pub fn set_error(&mut self, why: &str) {
        let mut s: String = why
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if s.len() > MAX_ERROR {
            let mut end = MAX_ERROR;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        self.last_error = s;
    }

    fn write_line(&self, out: &mut String) {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.name,
            self.port,
            self.mode.as_str(),
            self.rounds,
            self.pulled,
            self.rejected,
            self.errors,
            self.bytes,
            self.last_sync,
            self.last_error
        ));
    }

    fn parse(line: &str) -> Option<PeerStats> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 10 {
            return None;
        }
        Some(PeerStats {
            name: f[0].parse().ok()?,
            port: f[1].parse().ok()?,
            mode: Mode::parse(f[2])?,
            rounds: f[3].parse().ok()?,
            pulled: f[4].parse().ok()?,
            rejected: f[5].parse().ok()?,
            errors: f[6].parse().ok()?,
            bytes: f[7].parse().ok()?,
            last_sync: f[8].parse().ok()?,
            last_error: f[9].to_string(),
        })
    }
}

/// The counters file of one node.
#[derive(Debug, Clone)]
pub struct Peers {
    path: PathBuf,
}

impl Peers {
    /// The file described by `paths`.
    pub fn new(paths: &Paths) -> Peers {
        Peers {
            path: paths.peer_stats(),
        }
    }

    /// Replaces the file with `stats` (RAM: no fsync).
    pub fn write(&self, stats: &[PeerStats]) -> Result<()> {
        let mut out = String::with_capacity(stats.len() * 80);
        for s in stats {
            s.write_line(&mut out);
        }
        atomic::replace(&self.path, out.as_bytes(), false)
    }

    /// Every peer's counters; unreadable lines are skipped.
    pub fn read(&self) -> Result<Vec<PeerStats>> {
        let bytes = read_optional(&self.path)?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(PeerStats::parse)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::log::tests::temp_paths;

    #[test]
    fn counters_round_trip_and_errors_stay_one_line() {
        let p = temp_paths("peers");
        let peers = Peers::new(&p);
        assert!(peers.read().unwrap().is_empty());
        let mut a = PeerStats::new("node-a".parse().unwrap(), 8080);
        a.mode = Mode::Digest;
        a.rounds = 3;
        a.pulled = 7;
        a.bytes = 1234;
        a.last_sync = Epoch(99);
        a.set_error("bad\tchecksum\nfrom peer");
        let mut b = PeerStats::new("pi-1".parse().unwrap(), 80);
        b.set_error(&"é".repeat(200));
        peers.write(&[a.clone(), b.clone()]).unwrap();
        let back = peers.read().unwrap();
        assert_eq!(back[0], a);
        assert_eq!(back[0].last_error, "bad checksum from peer");
        assert!(back[1].last_error.len() <= MAX_ERROR);
        assert_eq!(back.len(), 2);
    }
}
