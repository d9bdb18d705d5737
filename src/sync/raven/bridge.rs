//! The bridge loop: one thread, one UDP socket, a few timers.
//!
//! Each turn it waits up to [`TICK`] for a datagram, then: follows the message log's
//! appends and sends the new messages of mapped channels to the Raven peers listening to
//! them; every [`RESCAN`] re-reads the arednlink entries if their folder changed; stores
//! the Raven messages whose sender's name it was waiting for; writes its status.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::arednlink::{self, Signature};
use super::map::ChannelMap;
use super::status::{PeerStatus, Reason as Why, Report};
use super::{ids, log};
use crate::protocol::lines::{Message, StoredText};
use crate::protocol::raven::{
    parse_packet, write_nodeinfo, write_text, Entry, Header, Namekey, NodeInfo, OwnEntry, Packet,
    Payload, AREDN_CHANNEL, BROADCAST, MAX_DATAGRAM, MAX_LONG_NAME, PORT,
};
use crate::protocol::{CallSign, Channel, Epoch, MessageId, NodeName, Platform};
use crate::store::log::IdSet;
use crate::sync::Node;
use crate::sys;

/// How long the loop waits for a datagram before looking at its timers.
pub const TICK: Duration = Duration::from_millis(200);
/// How often the entries folder is looked at.
pub const RESCAN: Duration = Duration::from_secs(1);
/// How often our entry is published again even if nothing changed (arednlink restarts).
pub const REPUBLISH: Duration = Duration::from_secs(600);
/// How long a Raven message waits for its sender's name (asked with a nodeinfo request)
/// before it is stored under a name made from the sender's id.
pub const NAME_WAIT: Duration = Duration::from_secs(2);
/// Raven messages waiting for a name at most; more are stored at once.
pub const MAX_PENDING: usize = 64;
/// Raven (sender, id) pairs remembered to drop repeats.
pub const RECENT: usize = 1024;
/// Senders whose names are remembered.
pub const MAX_NAMES: usize = 4096;
/// Namekeys we publish at most.
pub const MAX_NAMEKEYS: usize = 64;
/// A MeshChat message is carried to Raven if dated at most this long before the bridge
/// started (clocks on the mesh differ by a little).
pub const CLOCK_SLACK: u64 = 60;
/// How often a nodeinfo request to the same sender may be repeated.
const ASK_AGAIN: Duration = Duration::from_secs(60);
/// How many bridges a message we send may pass (Raven's own default).
const HOP_LIMIT: u64 = 7;
/// Status written at least this often (it carries its time).
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// A Raven message stored once its sender's name is known (or [`NAME_WAIT`] passed).
struct Pending {
    until: Instant,
    from: u32,
    id: MessageId,
    epoch: Epoch,
    text: StoredText,
    callsign: Option<CallSign>,
    channel: Channel,
    peer: Ipv4Addr,
}

/// Everything the bridge knows and counts.
pub struct Bridge {
    node: Arc<Node>,
    sock: UdpSocket,
    me: u32,
    ip: Ipv4Addr,
    port: u16,
    version: String,
    map: ChannelMap,
    /// Raven peers, from the entries (a few dozen: vectors cost less code than maps).
    peers: Vec<PeerStatus>,
    entries: Vec<Entry>,
    sig: Signature,
    /// Senders' names, from their nodeinfo.
    names: Vec<(u32, NodeName)>,
    /// When we last asked a sender for its nodeinfo.
    asked: Vec<(u32, Instant)>,
    /// Senders whose broadcast nodeinfo we answered.
    answered: Vec<u32>,
    recent: VecDeque<(u32, u32)>,
    pending: Vec<Pending>,
    /// MeshChat ids already looked at (present at start, sent, or from Raven).
    handled: IdSet,
    log_pos: (u64, u64),
    started: Epoch,
    /// Namekeys published last, and when.
    published: Vec<Namekey>,
    published_at: Option<Instant>,
    /// MeshChat channels seen in the log (for the automatic map).
    channels: Vec<String>,
    report: Report,
    dirty: bool,
    status_at: Instant,
}

/// A Raven long name as a MeshChat node name: letters, digits, `-`, `_`, `.`; anything
/// else becomes `-`.
pub fn node_name(long_name: &[u8]) -> Option<NodeName> {
    let s: String = String::from_utf8_lossy(long_name)
        .chars()
        .take(MAX_LONG_NAME)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_start_matches(['-', '.']).parse().ok()
}

/// The name a sender gets when it never told us its own.
fn fallback_name(from: u32) -> NodeName {
    format!("raven-{from:08x}")
        .parse()
        .unwrap_or_else(|_| NodeName::from_static("raven"))
}

impl Bridge {
    /// A bridge on a bound socket.
    pub fn new(node: Arc<Node>, sock: UdpSocket, me: u32, ip: Ipv4Addr, report: Report) -> Bridge {
        let port = sock.local_addr().map_or(PORT, |a| a.port());
        let map = ChannelMap::new(
            node.cfg.raven.channels.clone(),
            node.cfg.raven.auto_channels,
        );
        Bridge {
            sock,
            me,
            ip,
            port,
            version: format!("meshchat {}", env!("CARGO_PKG_VERSION")),
            map,
            peers: Vec::new(),
            entries: Vec::new(),
            sig: (0, Vec::new()),
            names: Vec::new(),
            asked: Vec::new(),
            answered: Vec::new(),
            recent: VecDeque::new(),
            pending: Vec::new(),
            handled: IdSet::default(),
            log_pos: (0, 0),
            started: Epoch::now(),
            published: Vec::new(),
            published_at: None,
            channels: Vec::new(),
            report,
            dirty: true,
            status_at: Instant::now(),
            node,
        }
    }

    /// Runs until SIGTERM/SIGINT.
    pub fn run(mut self) {
        self.report.on = true;
        self.report.map = self.map.describe();
        self.start_log();
        let _ = self.sock.set_read_timeout(Some(TICK));
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        let mut next_rescan = Instant::now();
        while !sys::stop_requested() {
            match self.sock.recv_from(&mut buf) {
                Ok((n, SocketAddr::V4(src))) => self.datagram(&buf[..n], src),
                Ok((_, SocketAddr::V6(_))) => self.drop_packet(None, Why::UnknownPeer),
                Err(_) => {}
            }
            let now = Instant::now();
            if now >= next_rescan {
                self.rescan();
                next_rescan = now + RESCAN;
            }
            self.follow_log();
            self.flush_pending(false);
            self.write_status();
        }
        self.flush_pending(true);
        let r = &self.node.cfg.raven;
        if let Err(e) = arednlink::publish_own(&r.publish_file, &r.socket, None) {
            log(&format!("withdrawing our entry: {e}"));
        }
        self.report.on = false;
        self.report.reason = "stopped".into();
        self.dirty = true;
        self.status_at = Instant::now() - STATUS_EVERY;
        self.write_status();
    }

    fn peer(&mut self, ip: Ipv4Addr) -> Option<&mut PeerStatus> {
        self.peers.iter_mut().find(|p| p.ip == ip)
    }

    fn name_of(&self, from: u32) -> Option<&NodeName> {
        self.names
            .iter()
            .find(|(id, _)| *id == from)
            .map(|(_, n)| n)
    }

    /// True (and noted) when `from` may be sent a nodeinfo request now.
    fn may_ask(&mut self, from: u32) -> bool {
        match self.asked.iter_mut().find(|(id, _)| *id == from) {
            Some((_, at)) if at.elapsed() < ASK_AGAIN => false,
            Some((_, at)) => {
                *at = Instant::now();
                true
            }
            None => {
                if self.asked.len() >= MAX_NAMES {
                    self.asked.remove(0);
                }
                self.asked.push((from, Instant::now()));
                true
            }
        }
    }

    fn error(&mut self, what: String) {
        log(&what);
        self.report.errors += 1;
        self.report.last_error = what;
        self.dirty = true;
    }

    // ----- MeshChat to Raven -----

    /// Remembers every message already in the log: only newer ones are carried.
    fn start_log(&mut self) {
        let log = &self.node.local.log;
        let ino = std::fs::metadata(log.path()).map_or(0, |m| m.ino());
        let mut handled = IdSet::default();
        let mut channels: Vec<String> = Vec::new();
        match log.scan_from(0, |_, _, m| {
            handled.insert(m.id.0);
            if !channels.iter().any(|c| c == m.channel) {
                channels.push(m.channel.to_string());
            }
        }) {
            Ok(end) => self.log_pos = (ino, end),
            Err(e) => self.error(format!("reading the log: {e}")),
        }
        self.handled = handled;
        self.channels = channels;
    }

    /// Sends what was appended to the log since the last look.
    fn follow_log(&mut self) {
        let log = self.node.local.log.clone();
        let Ok(meta) = std::fs::metadata(log.path()) else {
            return;
        };
        let (ino, pos) = self.log_pos;
        if meta.ino() == ino && meta.len() == pos {
            return;
        }
        // Rewritten (compaction): read it again from the start; `handled` keeps us from
        // sending anything twice.
        let (start, full) = if meta.ino() != ino || meta.len() < pos {
            (0, true)
        } else {
            (pos, false)
        };
        let mut fresh = Vec::new();
        let mut present = IdSet::default();
        let handled = &self.handled;
        let result = log.scan_from(start, |_, _, m| {
            if full {
                present.insert(m.id.0);
            }
            if !handled.contains(&m.id.0) {
                if let Ok(m) = m.to_message() {
                    fresh.push(m);
                }
            }
        });
        match result {
            Ok(end) => self.log_pos = (meta.ino(), end),
            Err(e) => return self.error(format!("reading the log: {e}")),
        }
        if full {
            self.handled.retain(|id| present.contains(id));
        }
        for m in fresh {
            if self.handled.insert(m.id.0) {
                self.carry_to_raven(&m);
            }
        }
    }

    fn carry_to_raven(&mut self, m: &Message) {
        if !self.channels.iter().any(|c| c == m.channel.as_str()) {
            self.channels.push(m.channel.as_str().to_string());
            self.dirty = true;
        }
        let Some(namekey) = self.map.to_raven(m.channel.as_str()) else {
            return;
        };
        if m.epoch.0 + CLOCK_SLACK < self.started.0 {
            return;
        }
        if ids::came_from_raven(m.id, m.epoch, m.text.as_str()) {
            // Raven has it already: another bridge (or we) brought it from there.
            self.report.not_returned += 1;
            return;
        }
        let text = m.text.unescape();
        let datagram = write_text(
            &Header {
                from: self.me,
                to: BROADCAST,
                namekey: namekey.as_str(),
                id: ids::raven_id(m.id),
                rx_time: m.epoch.0,
                hop_limit: HOP_LIMIT,
                callsign: Some(m.call_sign.as_str()),
                version: &self.version,
            },
            &text,
        );
        let targets: Vec<(Ipv4Addr, u16)> = self
            .entries
            .iter()
            .filter(|e| !e.meshchat && e.id != self.me && e.ip != self.ip)
            .filter(|e| {
                let nk = namekey.as_str().as_bytes();
                // As Raven sends: the channel's listeners, its stores, and radio bridges.
                e.channels.iter().any(|c| c == nk)
                    || e.store.iter().any(|c| c == nk || c == b"*")
                    || e.bridge
            })
            .map(|e| (e.ip, e.port.unwrap_or(PORT)))
            .collect();
        self.report.to_raven += 1;
        self.dirty = true;
        for (ip, port) in targets {
            match self.sock.send_to(&datagram, SocketAddrV4::new(ip, port)) {
                Ok(_) => {
                    if let Some(p) = self.peer(ip) {
                        p.sent += 1;
                    }
                }
                Err(e) => {
                    if let Some(p) = self.peer(ip) {
                        p.errors += 1;
                    }
                    self.error(format!("sending to {ip}: {e}"));
                }
            }
        }
    }

    // ----- Raven to MeshChat -----

    fn drop_packet(&mut self, peer: Option<Ipv4Addr>, why: Why) {
        self.report.dropped[why as usize] += 1;
        if let Some(p) = peer.and_then(|ip| self.peer(ip)) {
            p.dropped += 1;
        }
        self.dirty = true;
    }

    fn datagram(&mut self, bytes: &[u8], src: SocketAddrV4) {
        let ip = *src.ip();
        if self.peer(ip).is_none() {
            return self.drop_packet(None, Why::UnknownPeer);
        }
        if bytes.len() > MAX_DATAGRAM {
            return self.drop_packet(Some(ip), Why::TooLarge);
        }
        let p = match parse_packet(bytes) {
            Ok(p) => p,
            Err(_) => return self.drop_packet(Some(ip), Why::Malformed),
        };
        if let Some(peer) = self.peer(ip) {
            peer.last_heard = Epoch::now();
            peer.port_seen = src.port();
        }
        self.dirty = true;
        if p.from == self.me {
            return self.drop_packet(Some(ip), Why::Echo);
        }
        match &p.payload {
            Payload::NodeInfo {
                long_name,
                want_response,
                reply_id,
            } => {
                if let Some(name) = long_name.as_deref().and_then(node_name) {
                    let full = self.names.len() >= MAX_NAMES;
                    match self.names.iter_mut().find(|(id, _)| *id == p.from) {
                        Some(entry) => entry.1 = name,
                        None if !full => self.names.push((p.from, name)),
                        None => {}
                    }
                }
                let asked_us = *want_response && p.to == self.me;
                let stranger = p.to == BROADCAST && reply_id.is_none();
                if asked_us || (stranger && !self.answered.contains(&p.from)) {
                    if self.answered.len() < MAX_NAMES && !self.answered.contains(&p.from) {
                        self.answered.push(p.from);
                    }
                    let nk = p
                        .namekey
                        .as_deref()
                        .and_then(|n| std::str::from_utf8(n).ok())
                        .and_then(|n| n.parse::<Namekey>().ok());
                    self.send_nodeinfo(src, p.from, nk, false, Some(p.id));
                }
            }
            Payload::Text(_) => self.text(&p, src),
            Payload::Other => {}
        }
    }

    fn text(&mut self, p: &Packet, src: SocketAddrV4) {
        let ip = *src.ip();
        let Payload::Text(raw) = &p.payload else {
            return;
        };
        if p.to != BROADCAST {
            return self.drop_packet(Some(ip), Why::Direct);
        }
        let from_bridge = self
            .entries
            .iter()
            .any(|e| e.meshchat && (e.id == p.from || e.ip == ip));
        let ours = self
            .node
            .local
            .snapshot()
            .is_ok_and(|s| s.has(ids::meshchat_of(p.id)));
        if from_bridge || ours {
            return self.drop_packet(Some(ip), Why::Echo);
        }
        let key = (p.from, p.id);
        if self.recent.contains(&key) {
            return self.drop_packet(Some(ip), Why::Repeat);
        }
        self.recent.push_back(key);
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
        let Some(channel) = p.namekey.as_deref().and_then(|n| self.map.to_meshchat(n)) else {
            return self.drop_packet(Some(ip), Why::Unmapped);
        };
        let Some(rx) = p.rx_time else {
            return self.drop_packet(Some(ip), Why::Malformed);
        };
        let epoch = Epoch(rx);
        if epoch.too_far_ahead(Epoch::now()) {
            return self.drop_packet(Some(ip), Why::Invalid);
        }
        let Ok(text) = StoredText::escape(&String::from_utf8_lossy(raw)) else {
            return self.drop_packet(Some(ip), Why::Invalid);
        };
        let callsign = p
            .callsign
            .as_deref()
            .and_then(|c| String::from_utf8_lossy(c).parse::<CallSign>().ok());
        let pending = Pending {
            until: Instant::now() + NAME_WAIT,
            from: p.from,
            id: ids::meshchat_id(p.from, p.id, epoch, text.as_str()),
            epoch,
            text,
            callsign,
            channel,
            peer: ip,
        };
        if self.name_of(p.from).is_some() || self.pending.len() >= MAX_PENDING {
            self.store(pending);
        } else {
            if self.may_ask(p.from) {
                self.send_nodeinfo(src, p.from, None, true, None);
            }
            self.pending.push(pending);
        }
    }

    fn flush_pending(&mut self, all: bool) {
        let now = Instant::now();
        let (ready, wait): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| all || now >= p.until || self.name_of(p.from).is_some());
        self.pending = wait;
        for p in ready {
            self.store(p);
        }
    }

    fn store(&mut self, p: Pending) {
        let node = self
            .name_of(p.from)
            .cloned()
            .unwrap_or_else(|| fallback_name(p.from));
        let call_sign = match p.callsign {
            Some(c) => c,
            None => match node.as_str().parse() {
                Ok(c) => c,
                Err(_) => return self.drop_packet(Some(p.peer), Why::Invalid),
            },
        };
        let m = Message {
            id: p.id,
            epoch: p.epoch,
            text: p.text,
            call_sign,
            node,
            platform: Platform::Node,
            channel: p.channel,
        };
        // Never sent back: it is Raven's already.
        self.handled.insert(m.id.0);
        match self.node.local.merge(std::slice::from_ref(&m)) {
            Ok(added) => {
                self.report.from_raven += added;
                self.report.known += 1 - added.min(1);
                if let Some(peer) = self.peer(p.peer) {
                    peer.received += 1;
                }
                self.dirty = true;
            }
            Err(e) => self.error(format!("storing a message: {e}")),
        }
    }

    fn send_nodeinfo(
        &mut self,
        to: SocketAddrV4,
        to_id: u32,
        namekey: Option<Namekey>,
        want_response: bool,
        reply_id: Option<u32>,
    ) {
        let name = self.node.cfg.node().as_str();
        let long_name = &name[..name
            .char_indices()
            .nth(MAX_LONG_NAME)
            .map_or(name.len(), |(i, _)| i)];
        // Raven's short name: the last 4 characters of the call sign part.
        let call = name.split('-').next().unwrap_or(name);
        let short_name = &call[call.char_indices().rev().nth(3).map_or(0, |(i, _)| i)..];
        let mut id = [0u8; 4];
        let _ = sys::random(&mut id);
        let namekey = namekey.map_or_else(|| AREDN_CHANNEL.to_string(), |n| n.to_string());
        let d = write_nodeinfo(
            &Header {
                from: self.me,
                to: to_id,
                namekey: &namekey,
                id: u32::from_be_bytes(id),
                rx_time: Epoch::now().0,
                hop_limit: 0,
                callsign: None,
                version: &self.version,
            },
            &NodeInfo {
                long_name,
                short_name,
                want_response,
                reply_id,
            },
        );
        if let Err(e) = self.sock.send_to(&d, to) {
            self.error(format!("sending nodeinfo to {}: {e}", to.ip()));
        }
    }

    // ----- Peers and our entry -----

    fn rescan(&mut self) {
        let dir = &self.node.cfg.raven.entries_dir;
        let sig = arednlink::signature(dir);
        if sig != self.sig {
            let (entries, bad) = arednlink::read_entries(&sig);
            self.sig = sig;
            self.report.bad_entries = bad as u64;
            let mine = |e: &Entry| e.id == self.me || e.ip == self.ip;
            self.entries = entries.into_iter().filter(|e| !mine(e)).collect();
            for e in self.entries.clone() {
                let port = e.port.unwrap_or(PORT);
                let new = self.peer(e.ip).is_none();
                if new {
                    self.peers.push(PeerStatus::new(e.ip));
                }
                let Some(p) = self.peer(e.ip) else { continue };
                p.id = e.id;
                p.meshchat = e.meshchat;
                p.channels = e
                    .channels
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                if new && !e.meshchat && self.may_ask(e.id) {
                    // Learn its name now, and tell it ours.
                    self.send_nodeinfo(SocketAddrV4::new(e.ip, port), e.id, None, true, None);
                }
            }
            let entries = &self.entries;
            self.peers.retain(|p| entries.iter().any(|e| e.ip == p.ip));
            self.dirty = true;
        }
        let want = self.namekeys();
        let due = self.published_at.is_none_or(|t| t.elapsed() >= REPUBLISH);
        if want != self.published || due {
            let r = &self.node.cfg.raven;
            let own = OwnEntry {
                id: self.me,
                ip: self.ip,
                channels: &want,
                port: self.port,
                version: &self.version,
            };
            match arednlink::publish_own(&r.publish_file, &r.socket, Some(&own)) {
                Ok(()) => self.report.published = true,
                Err(e) => self.error(format!("publishing our entry: {e}")),
            }
            self.published = want;
            self.published_at = Some(Instant::now());
            self.dirty = true;
        }
    }

    /// The namekeys we listen to: the map's own, then (automatic map) those of the
    /// channels in our log and those Raven peers listen to, that map to a channel.
    fn namekeys(&self) -> Vec<Namekey> {
        let mut out = self.map.fixed();
        let more = self
            .channels
            .iter()
            .filter_map(|c| self.map.to_raven(c))
            .chain(
                self.entries
                    .iter()
                    .flat_map(|e| e.channels.iter())
                    .filter(|n| self.map.to_meshchat(n).is_some())
                    .filter_map(|n| std::str::from_utf8(n).ok()?.parse().ok()),
            );
        for n in more {
            if out.len() >= MAX_NAMEKEYS {
                break;
            }
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }

    fn write_status(&mut self) {
        if !self.dirty && self.status_at.elapsed() < STATUS_EVERY {
            return;
        }
        if self.dirty && self.status_at.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.report.id = self.me;
        self.report.port = self.port;
        self.report.ip = Some(self.ip);
        self.report.started = self.started;
        self.report.namekeys = self.published.iter().map(|n| n.to_string()).collect();
        let mut peers = self.peers.clone();
        for p in &mut peers {
            p.name = self.name_of(p.id).map(|n| n.to_string());
        }
        self.report.peers = peers;
        if let Err(e) = self.report.write(&self.node.cfg.paths) {
            log(&format!("writing the status: {e}"));
        }
        self.dirty = false;
        self.status_at = Instant::now();
    }
}
