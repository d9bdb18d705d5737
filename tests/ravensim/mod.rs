//! A Raven node simulator for the bridge tests, written from docs/RAVEN.md: it publishes
//! its arednlink entry, sends channel messages to the peers listening to their channel
//! (one unicast UDP datagram each, as Raven does), answers nodeinfo requests, and keeps
//! what it receives, de-duplicated by message id as Raven does. Its nodeinfo and entry
//! carry bytes that are not UTF-8, as ucode writes them.
//!
//! Also a stand-in for arednlink: a folder of entries files (one per hash bucket of the
//! publisher's address, ucode's trailing comma included) and, per meshchat node, a unix
//! socket that takes `upload publish FILE`.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TOPIC: &str = "KN6PLV.raven.v1";
pub const BROADCAST: u64 = 0xffff_ffff;
/// Raven's de-duplication window (its router remembers the last 128 ids).
const RECENT: usize = 128;

/// The mesh's published entries, by publisher address: what arednlink spreads.
#[derive(Clone, Default)]
pub struct Registry {
    dir: PathBuf,
    by_ip: Arc<Mutex<BTreeMap<Ipv4Addr, Vec<u8>>>>,
}

impl Registry {
    pub fn new(dir: &Path) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        Registry {
            dir: dir.to_path_buf(),
            by_ip: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets what `ip` publishes (a `{"v1":[...]}` document, raw bytes) and rewrites the
    /// bucket files the way arednlink does.
    pub fn set(&self, ip: Ipv4Addr, publish: Vec<u8>) {
        let mut map = self.by_ip.lock().unwrap();
        map.insert(ip, publish);
        let mut buckets: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for (ip, doc) in map.iter() {
            let f = buckets
                .entry(ip.octets()[1] & 15)
                .or_insert_with(|| b"{\n".to_vec());
            f.extend_from_slice(format!("\"{ip}\": ").as_bytes());
            f.extend_from_slice(doc);
            f.extend_from_slice(b",\n");
        }
        for (bucket, mut body) in buckets {
            body.extend_from_slice(b"}\n");
            let path = self.dir.join(bucket.to_string());
            let tmp = self.dir.join(format!(".{bucket}.tmp"));
            std::fs::write(&tmp, body).unwrap();
            std::fs::rename(tmp, path).unwrap();
        }
    }

    /// The Raven entries' data, as JSON (entries that are not valid UTF-8 JSON, such as a
    /// Raven node's with its binary key, are read with the bytes mapped to Latin-1).
    pub fn entries(&self) -> Vec<serde_json::Value> {
        let map = self.by_ip.lock().unwrap();
        let mut out = Vec::new();
        for doc in map.values() {
            let text: String = doc.iter().map(|&b| b as char).collect();
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            for e in v["v1"].as_array().into_iter().flatten() {
                if e["topic"] == TOPIC {
                    out.push(e["data"].clone());
                }
            }
        }
        out
    }
}

/// arednlink's control socket for one node: `upload publish FILE` makes the file that
/// node's published document.
pub struct FakeArednlink {
    pub socket: PathBuf,
    pub uploads: Arc<Mutex<u32>>,
    stop: Arc<AtomicBool>,
}

impl FakeArednlink {
    pub fn start(registry: &Registry, node_ip: Ipv4Addr, socket: &Path) -> FakeArednlink {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let uploads = Arc::new(Mutex::new(0));
        let (reg, st, up) = (registry.clone(), stop.clone(), uploads.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.write_all(b"AREDNLink 0.0.2\n");
                let mut line = String::new();
                let _ = BufReader::new(&s).read_line(&mut line);
                if let Some(path) = line.trim().strip_prefix("upload publish ") {
                    if let Ok(doc) = std::fs::read(path) {
                        reg.set(node_ip, doc);
                        *up.lock().unwrap() += 1;
                    }
                }
            }
        });
        FakeArednlink {
            socket: socket.to_path_buf(),
            uploads,
            stop,
        }
    }
}

impl Drop for FakeArednlink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One datagram a simulated node received.
#[derive(Clone, Debug)]
pub struct Received {
    pub from_addr: SocketAddrV4,
    pub json: serde_json::Value,
}

#[derive(Default)]
struct Inbox {
    all: Vec<Received>,
    /// Text messages kept, after Raven's de-duplication by id.
    texts: Vec<serde_json::Value>,
    recent: VecDeque<u64>,
    nodeinfo_answers: u32,
}

/// A simulated Raven node.
pub struct RavenSim {
    pub id: u32,
    pub ip: Ipv4Addr,
    pub long_name: String,
    pub channels: Vec<String>,
    /// More members of the entry's `data`, raw (`,"store":["*"]`).
    extra: String,
    sock: UdpSocket,
    registry: Registry,
    inbox: Arc<Mutex<Inbox>>,
    stop: Arc<AtomicBool>,
    next_id: Mutex<u32>,
}

/// Bytes that are not UTF-8, as ucode writes a binary key: 0x80..0xFF as they are.
const BINARY: &[u8] = &[0x9f, 0xff, 0x80, 0xc3, 0x28, 0xfe, 0xed];

fn push_json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b if b < 0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

impl RavenSim {
    /// Starts a node on `ip` (a loopback address), listening to `channels`.
    pub fn start(
        registry: &Registry,
        ip: Ipv4Addr,
        id: u32,
        long_name: &str,
        channels: &[&str],
    ) -> RavenSim {
        RavenSim::start_with(registry, ip, id, long_name, channels, "")
    }

    /// [`RavenSim::start`] with more members in the entry's `data`: `extra` is raw JSON
    /// that starts with a comma, e.g. `,"store":["*"]` or `,"bridge":[{"meshtastic":{}}]`
    /// (a store node, a node that bridges to a radio network).
    pub fn start_with(
        registry: &Registry,
        ip: Ipv4Addr,
        id: u32,
        long_name: &str,
        channels: &[&str],
        extra: &str,
    ) -> RavenSim {
        let sock = UdpSocket::bind(SocketAddrV4::new(ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let sim = RavenSim {
            id,
            ip,
            long_name: long_name.into(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            extra: extra.into(),
            sock,
            registry: registry.clone(),
            inbox: Arc::default(),
            stop: Arc::default(),
            next_id: Mutex::new(id.wrapping_mul(2_654_435_761) >> 1),
        };
        sim.spawn_receiver();
        sim.publish();
        sim
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    /// Publishes the entry: id, ip, channels, the private key (binary) and our port.
    pub fn publish(&self) {
        let mut data = format!(
            "{{\"id\":{},\"version\":\"0.0.0\",\"repo\":null,\"ip\":\"{}\",\"port\":{},\"private_key\":",
            self.id,
            self.ip,
            self.port()
        )
        .into_bytes();
        push_json_str(&mut data, BINARY);
        data.extend_from_slice(b",\"channels\":[");
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                data.push(b',');
            }
            push_json_str(&mut data, c.as_bytes());
        }
        data.push(b']');
        data.extend_from_slice(self.extra.as_bytes());
        data.push(b'}');
        let mut doc =
            b"{\"v1\":[{\"id\":\"KN6PLV.raven.v1.1\",\"topic\":\"KN6PLV.raven.v1\",\"data\":"
                .to_vec();
        doc.extend_from_slice(&data);
        doc.extend_from_slice(b"}]}");
        self.registry.set(self.ip, doc);
    }

    fn nodeinfo(
        &self,
        to: u64,
        namekey: &str,
        want_response: bool,
        reply_id: Option<u64>,
    ) -> Vec<u8> {
        let mut d = format!(
            "{{ \"from\": {}, \"to\": {to}, \"namekey\": \"{namekey}\", \"id\": {}, \"rx_time\": {}, \"priority\": 64, \"hop_limit\": 7, \"transport\": \"native\", \"originating_callsign\": \"RVN\", \"version\": \"0.0.0\", \"repo\": null, \"data\": {{ \"nodeinfo\": {{ \"id\": \"!{:08x}\", \"long_name\": ",
            self.id,
            self.fresh_id(),
            super_now(),
            self.id
        )
        .into_bytes();
        push_json_str(&mut d, self.long_name.as_bytes());
        d.extend_from_slice(b", \"short_name\": \"rvn\", \"macaddr\": ");
        push_json_str(&mut d, &BINARY[..6]);
        d.extend_from_slice(
            b", \"hw_model\": 254, \"platform\": \"native\", \"role\": 1, \"public_key\": ",
        );
        push_json_str(&mut d, BINARY);
        d.extend_from_slice(b", \"is_unmessagable\": false }");
        if want_response {
            d.extend_from_slice(b", \"want_response\": true");
        }
        if let Some(r) = reply_id {
            d.extend_from_slice(format!(", \"reply_id\": {r}").as_bytes());
        }
        d.extend_from_slice(b" } }");
        d
    }

    fn spawn_receiver(&self) {
        let sock = self.sock.try_clone().unwrap();
        let (inbox, stop) = (self.inbox.clone(), self.stop.clone());
        let me = RavenSimLite {
            id: self.id,
            long_name: self.long_name.clone(),
            ip: self.ip,
            channels: self.channels.clone(),
        };
        let reply_sock = self.sock.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 70_000];
            while !stop.load(Ordering::SeqCst) {
                let Ok((n, std::net::SocketAddr::V4(src))) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(&buf[..n]) else {
                    continue;
                };
                let mut ib = inbox.lock().unwrap();
                ib.all.push(Received {
                    from_addr: src,
                    json: json.clone(),
                });
                let id = json["id"].as_u64().unwrap_or(0);
                if ib.recent.contains(&id) {
                    continue;
                }
                ib.recent.push_back(id);
                if ib.recent.len() > RECENT {
                    ib.recent.pop_front();
                }
                let data = &json["data"];
                if data["text_message"].is_string()
                    && json["to"] == BROADCAST
                    && me.channels.iter().any(|c| json["namekey"] == c.as_str())
                {
                    ib.texts.push(json.clone());
                } else if data["nodeinfo"].is_object()
                    && data["want_response"] == true
                    && json["to"] == u64::from(me.id)
                {
                    ib.nodeinfo_answers += 1;
                    drop(ib);
                    let sim = RavenSimLite::answer(&me, &json);
                    let _ = reply_sock.send_to(&sim, src);
                }
            }
        });
    }

    fn fresh_id(&self) -> u32 {
        let mut n = self.next_id.lock().unwrap();
        *n = n.wrapping_mul(1_103_515_245).wrapping_add(12345) & 0x7fff_ffff;
        *n
    }

    /// The peers listening to `namekey`, from the entries: (address, id).
    pub fn targets(&self, namekey: &str) -> Vec<(SocketAddrV4, u64)> {
        self.registry
            .entries()
            .iter()
            .filter(|d| d["id"].as_u64() != Some(u64::from(self.id)))
            .filter(|d| {
                d["channels"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|n| n == namekey))
            })
            .filter_map(|d| {
                let ip: Ipv4Addr = d["ip"].as_str()?.parse().ok()?;
                let port = d["port"].as_u64().unwrap_or(4404) as u16;
                Some((SocketAddrV4::new(ip, port), d["id"].as_u64()?))
            })
            .collect()
    }

    /// A channel message with `text` (raw bytes: may be anything) sent to every peer
    /// listening to `namekey`; returns its Raven id and how many peers it went to.
    pub fn send_text(
        &self,
        namekey: &str,
        text: &[u8],
        callsign: Option<&[u8]>,
        rx_time: u64,
    ) -> (u32, usize) {
        let id = self.fresh_id();
        let d = self.text_datagram(id, namekey, text, callsign, rx_time, BROADCAST);
        let targets = self.targets(namekey);
        for (addr, _) in &targets {
            self.sock.send_to(&d, addr).unwrap();
        }
        (id, targets.len())
    }

    /// A channel message sent to one peer only, as if the others lost it.
    pub fn send_text_only(
        &self,
        to: SocketAddrV4,
        namekey: &str,
        text: &[u8],
        rx_time: u64,
    ) -> u32 {
        let id = self.fresh_id();
        let d = self.text_datagram(id, namekey, text, Some(b"RVN1"), rx_time, BROADCAST);
        self.sock.send_to(&d, to).unwrap();
        id
    }

    /// A text datagram as Raven writes it.
    pub fn text_datagram(
        &self,
        id: u32,
        namekey: &str,
        text: &[u8],
        callsign: Option<&[u8]>,
        rx_time: u64,
        to: u64,
    ) -> Vec<u8> {
        let mut d = format!(
            "{{ \"from\": {}, \"to\": {to}, \"namekey\": \"{namekey}\", \"id\": {id}, \"rx_time\": {rx_time}, \"priority\": 64, \"hop_limit\": 7, \"transport\": \"native\", \"originating_callsign\": ",
            self.id
        )
        .into_bytes();
        match callsign {
            Some(c) => push_json_str(&mut d, c),
            None => d.extend_from_slice(b"null"),
        }
        d.extend_from_slice(
            b", \"version\": \"0.0.0\", \"repo\": null, \"data\": { \"text_message\": ",
        );
        push_json_str(&mut d, text);
        d.extend_from_slice(b" } }");
        d
    }

    /// Sends raw bytes to an address from this node's socket.
    pub fn send_raw(&self, to: SocketAddrV4, bytes: &[u8]) {
        self.sock.send_to(bytes, to).unwrap();
    }

    /// Broadcasts our nodeinfo to the peers of `namekey` (as Raven does after start).
    pub fn announce(&self, namekey: &str) {
        for (addr, _) in self.targets(namekey) {
            let d = self.nodeinfo(BROADCAST, namekey, false, None);
            self.sock.send_to(&d, addr).unwrap();
        }
    }

    /// Asks `to` (node `to_id`) for its nodeinfo, as Raven asks an unknown sender.
    pub fn ask_nodeinfo(&self, to: SocketAddrV4, to_id: u64) {
        let d = self.nodeinfo(to_id, "AREDN og==", true, None);
        self.sock.send_to(&d, to).unwrap();
    }

    /// Every datagram received.
    pub fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().all.clone()
    }

    /// Text messages kept (after de-duplication).
    pub fn texts(&self) -> Vec<serde_json::Value> {
        self.inbox.lock().unwrap().texts.clone()
    }

    /// Nodeinfo requests answered.
    pub fn nodeinfo_answers(&self) -> u32 {
        self.inbox.lock().unwrap().nodeinfo_answers
    }
}

impl Drop for RavenSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What the receiver thread needs to answer a nodeinfo request.
struct RavenSimLite {
    id: u32,
    long_name: String,
    ip: Ipv4Addr,
    channels: Vec<String>,
}

impl RavenSimLite {
    fn answer(&self, req: &serde_json::Value) -> Vec<u8> {
        let to = req["from"].as_u64().unwrap_or(0);
        let namekey = req["namekey"].as_str().unwrap_or("AREDN og==");
        let mut d = format!(
            "{{ \"from\": {}, \"to\": {to}, \"namekey\": \"{namekey}\", \"id\": {}, \"rx_time\": {}, \"priority\": 64, \"hop_limit\": 7, \"transport\": \"native\", \"originating_callsign\": \"RVN\", \"version\": \"0.0.0\", \"repo\": null, \"data\": {{ \"nodeinfo\": {{ \"id\": \"!{:08x}\", \"long_name\": ",
            self.id,
            self.id ^ 0x5555,
            super_now(),
            self.id
        )
        .into_bytes();
        push_json_str(&mut d, self.long_name.as_bytes());
        d.extend_from_slice(b", \"short_name\": \"rvn\", \"macaddr\": ");
        push_json_str(&mut d, &BINARY[..6]);
        d.extend_from_slice(b", \"hw_model\": 254, \"platform\": \"native\", \"public_key\": ");
        push_json_str(&mut d, BINARY);
        d.extend_from_slice(
            format!(
                " }}, \"reply_id\": {} }} }}",
                req["id"].as_u64().unwrap_or(0)
            )
            .as_bytes(),
        );
        d
    }
}

fn super_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
