//! What the bridge reports: counters, peers, the channel map, its state; written to the
//! RAM files of `store::raven`, which the `sync_peers` and `sync_status` actions show.

use std::net::Ipv4Addr;

use crate::protocol::json::{self, push_array, Object};
use crate::protocol::lines::SyncStatus;
use crate::protocol::{Epoch, NodeName};
use crate::store::{Paths, Result};

/// Bytes of the last error kept.
const MAX_ERROR: usize = 160;

/// Why a datagram was dropped (never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
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
        let summary = self.summary(total);
        Object::new(&mut out)
            .str("node", &self.node)
            .num("port", u64::from(self.port))
            .str("mode", "raven")
            .num("pulled", self.from_raven)
            .num("rejected", total)
            .num("errors", self.errors)
            .str("last_error", &self.last_error)
            .str("summary", &summary)
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

    /// One line for the status page: state, map, counts, the last error.
    fn summary(&self, dropped: u64) -> String {
        if !self.on {
            return format!("Raven bridge off: {}", self.reason);
        }
        let map: Vec<String> = self
            .map
            .iter()
            .map(|(c, n)| match c.as_str() {
                "" => format!("Everything \u{2194} {n}"),
                c => format!("#{c} \u{2194} {n}"),
            })
            .collect();
        let mut s = format!(
            "Raven bridge on: {}; {} to Raven, {} from Raven, {dropped} dropped, {} errors",
            map.join(", "),
            self.to_raven,
            self.from_raven,
            self.errors
        );
        if !self.last_error.is_empty() {
            s.push_str(&format!(" (last: {})", self.last_error));
        }
        s
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
        let peers: Vec<SyncStatus> = self
            .peers
            .iter()
            .filter(|p| p.last_heard.0 > 0)
            .filter_map(|p| {
                Some(SyncStatus {
                    node: p.node().parse::<NodeName>().ok()?,
                    epoch: p.last_heard,
                })
            })
            .collect();
        crate::store::raven::write(paths, &self.to_json(), &peers)
    }
}
