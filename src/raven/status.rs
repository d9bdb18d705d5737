//! What the bridge reports, in two RAM files the actions read: `raven.json` (the whole
//! report, one object, appended to `sync_peers`) and `raven_peers` (each Raven peer and
//! when it was last heard, in the `sync_status` line format, appended to `sync_status`).
//! Only the bridge writes them, whole and atomically.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::protocol::json::{self, push_array, Object};
use crate::protocol::lines::{parse_all, SyncStatus};
use crate::protocol::{Epoch, NodeName};
use crate::store::{atomic, read_optional, Paths, Result};

/// Bytes of `raven.json` an action embeds at most.
pub const MAX_REPORT: usize = 256 * 1024;
/// Bytes of the last error kept.
const MAX_ERROR: usize = 160;

/// Why a datagram was dropped (never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Not JSON, not an object, or a needed field missing or mistyped.
    Malformed,
    /// Larger than a Raven node can receive.
    TooLarge,
    /// From an address that is not a Raven peer's.
    UnknownPeer,
    /// A direct message (not carried).
    Direct,
    /// On a channel the map does not carry.
    Unmapped,
    /// One of ours, or a meshchat bridge's, coming back.
    Echo,
    /// A (sender, id) already received.
    Repeat,
    /// Text or date MeshChat refuses (empty, too long, control characters, > 30 days ahead).
    Invalid,
}

const DROPS: [&str; 8] = [
    "malformed",
    "too_large",
    "unknown_peer",
    "direct",
    "unmapped",
    "echo",
    "repeat",
    "invalid",
];

/// One Raven peer as the report shows it.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    pub ip: Ipv4Addr,
    pub id: u32,
    /// Its long name, once it told us.
    pub name: Option<String>,
    pub channels: Vec<String>,
    /// It is a meshchat bridge.
    pub meshchat: bool,
    pub last_heard: Epoch,
    /// The source port of its last datagram.
    pub port_seen: u16,
    /// Messages stored from it.
    pub received: u64,
    /// Datagrams sent to it.
    pub sent: u64,
    pub dropped: u64,
    pub errors: u64,
}

impl PeerStatus {
    pub fn new(ip: Ipv4Addr) -> PeerStatus {
        PeerStatus {
            ip,
            id: 0,
            name: None,
            channels: Vec::new(),
            meshchat: false,
            last_heard: Epoch(0),
            port_seen: 0,
            received: 0,
            sent: 0,
            dropped: 0,
            errors: 0,
        }
    }

    fn node(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("raven-{:08x}", self.id))
    }
}

/// The bridge's report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub node: String,
    pub on: bool,
    /// Why it is off.
    pub reason: String,
    pub id: u32,
    pub ip: Option<Ipv4Addr>,
    pub port: u16,
    pub started: Epoch,
    pub map: Vec<(String, String)>,
    pub namekeys: Vec<String>,
    /// Our entry was published at least once.
    pub published: bool,
    /// MeshChat messages carried to Raven.
    pub to_raven: u64,
    /// Raven messages added to the log.
    pub from_raven: u64,
    /// Raven messages the log already had (another bridge brought them first).
    pub known: u64,
    /// MeshChat messages not sent because they came from Raven.
    pub not_returned: u64,
    pub dropped: [u64; 8],
    pub bad_entries: u64,
    pub errors: u64,
    pub last_error: String,
    pub peers: Vec<PeerStatus>,
}

/// `raven.json` in the RAM directory.
pub fn report_path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("raven.json")
}

/// `raven_peers` in the RAM directory.
pub fn peers_path(paths: &Paths) -> PathBuf {
    paths.ram_dir.join("raven_peers")
}

impl Report {
    /// The report as one JSON object (the `sync_peers` fields first).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + 256 * self.peers.len());
        let mut dropped = Vec::with_capacity(160);
        {
            let mut o = Object::new(&mut dropped);
            for (name, n) in DROPS.iter().zip(self.dropped) {
                o.num(name, n);
            }
            o.end();
        }
        let mut map = Vec::new();
        push_array(&mut map, &self.map, |out, (c, n)| {
            Object::new(out).str("channel", c).str("namekey", n).end();
        });
        let mut namekeys = Vec::new();
        push_array(&mut namekeys, &self.namekeys, |out, n| {
            json::push_str(out, n)
        });
        let mut peers = Vec::new();
        push_array(&mut peers, &self.peers, |out, p| {
            let mut ch = Vec::new();
            push_array(&mut ch, &p.channels, |out, c| json::push_str(out, c));
            Object::new(out)
                .str("node", &p.node())
                .num("raven_id", u64::from(p.id))
                .str("ip", &p.ip.to_string())
                .raw("channels", &ch)
                .num("meshchat", u64::from(p.meshchat))
                .num("last_heard", p.last_heard.0)
                .num("received", p.received)
                .num("sent", p.sent)
                .num("dropped", p.dropped)
                .num("errors", p.errors)
                .end();
        });
        let total: u64 = self.dropped.iter().sum();
        Object::new(&mut out)
            .str("node", &self.node)
            .num("port", u64::from(self.port))
            .str("mode", "raven")
            .num("pulled", self.from_raven)
            .num("rejected", total)
            .num("errors", self.errors)
            .str("last_error", &self.last_error)
            .str("state", if self.on { "on" } else { "off" })
            .str("reason", &self.reason)
            .num("raven_id", u64::from(self.id))
            .str("ip", &self.ip.map(|i| i.to_string()).unwrap_or_default())
            .num("started", self.started.0)
            .num("updated", Epoch::now().0)
            .num("published", u64::from(self.published))
            .raw("map", &map)
            .raw("namekeys", &namekeys)
            .num("to_raven", self.to_raven)
            .num("from_raven", self.from_raven)
            .num("known", self.known)
            .num("not_returned", self.not_returned)
            .raw("dropped", &dropped)
            .num("bad_entries", self.bad_entries)
            .raw("peers", &peers)
            .end();
        out
    }

    /// Writes both files (RAM: no fsync).
    pub fn write(&mut self, paths: &Paths) -> Result<()> {
        if self.last_error.len() > MAX_ERROR {
            let mut end = MAX_ERROR;
            while !self.last_error.is_char_boundary(end) {
                end -= 1;
            }
            self.last_error.truncate(end);
        }
        let mut lines = String::new();
        for p in &self.peers {
            if let Ok(node) = p.node().parse::<NodeName>() {
                SyncStatus {
                    node,
                    epoch: p.last_heard,
                }
                .write_line(&mut lines);
            }
        }
        atomic::replace(&peers_path(paths), lines.as_bytes(), false)?;
        atomic::replace(&report_path(paths), &self.to_json(), false)
    }
}

/// The report as the bridge last wrote it, if any: embedded as it is in `sync_peers`.
pub fn read_report(paths: &Paths) -> Option<Vec<u8>> {
    let bytes = read_optional(&report_path(paths)).ok()?;
    let ok = bytes.len() <= MAX_REPORT && bytes.starts_with(b"{") && bytes.ends_with(b"}");
    ok.then_some(bytes)
}

/// The Raven peers and when each was last heard, for `sync_status`.
pub fn read_peers(paths: &Paths) -> Vec<SyncStatus> {
    let bytes = read_optional(&peers_path(paths)).unwrap_or_default();
    parse_all(&String::from_utf8_lossy(&bytes), SyncStatus::parse).0
}
