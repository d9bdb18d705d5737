//! The Raven bridge, black box: real `meshchat serve` + `meshchat sync` nodes on loopback
//! addresses (127.77.x.y, each node its own) with the bridge on, simulated Raven nodes
//! (tests/ravensim) and a stand-in for arednlink. Loopback addresses rather than network
//! namespaces: the bridge's checks depend on source addresses, which 127/8 gives without
//! root, and every socket binds port 0 (`raven_listen`, and the `port` our entries carry).
#![cfg(feature = "raven")]
#![allow(clippy::unwrap_used)]

mod common;
mod ravensim;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use common::*;
use ravensim::{FakeArednlink, RavenSim, Registry};

/// Seconds any convergence may take (sync every second, entries re-read every second).
const CONVERGE: u64 = 30;

struct McNode {
    name: String,
    ip: Ipv4Addr,
    node: Node,
    server: Server,
    sync: Option<Child>,
    /// Its arednlink stand-in (dropped: arednlink is gone).
    link: Option<FakeArednlink>,
}

fn node_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("meshchat-it-{tag}-{}", std::process::id()))
}

impl McNode {
    /// A node named `name` whose bridge (when `listen` is given) binds that address.
    fn start(
        tag: &str,
        name: &str,
        ip: Ipv4Addr,
        listen: Option<String>,
        digest: bool,
        reg: &Registry,
    ) -> McNode {
        McNode::start_with(tag, name, ip, listen, digest, reg, &[])
    }

    /// [`McNode::start`] with more options.
    fn start_with(
        tag: &str,
        name: &str,
        ip: Ipv4Addr,
        listen: Option<String>,
        digest: bool,
        reg: &Registry,
        options: &[(&str, &str)],
    ) -> McNode {
        let dir = node_dir(tag);
        let (publish, socket) = (dir.join("publish"), dir.join("arednlink.sock"));
        let entries = reg.dir().display().to_string();
        let mut extra: Vec<(String, String)> = vec![
            ("poll_interval".into(), "1".into()),
            ("digest_sync".into(), if digest { "1" } else { "0" }.into()),
        ];
        if let Some(listen) = &listen {
            extra.extend([
                ("raven".into(), "1".into()),
                ("raven_listen".into(), listen.clone()),
                ("raven_ip".into(), ip.to_string()),
                ("raven_entries_dir".into(), entries),
                ("raven_publish_file".into(), publish.display().to_string()),
                ("raven_socket".into(), socket.display().to_string()),
            ]);
        }
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(options.iter().copied())
            .collect();
        let node = Node::new(tag, name, &extra);
        assert_eq!(node.dir, dir);
        let link = listen.map(|_| FakeArednlink::start(reg, ip, &socket));
        let server = Server::start(&node, "127.0.0.1:0");
        McNode {
            name: name.into(),
            ip,
            node,
            server,
            sync: None,
            link,
        }
    }

    fn port(&self) -> u16 {
        self.server
            .addr
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn sync_log(&self) -> PathBuf {
        self.node.dir.join("sync.log")
    }

    fn start_sync(&mut self) {
        let log = std::fs::File::create(self.sync_log()).unwrap();
        self.sync = Some(spawn_sync(&[], &self.node.config, log));
    }

    fn stop_sync(&mut self) {
        if let Some(mut c) = self.sync.take() {
            terminate(&mut c);
        }
    }

    /// Lists the other nodes as its MeshChat peers.
    fn advertise(&self, others: &[&McNode]) {
        let dir = self.node.dir.join("services");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for o in others {
            text.push_str(&format!(
                "##{}##\nhttp://127.0.0.1:{}/meshchat|tcp|MeshChat\n",
                o.name,
                o.port()
            ));
        }
        std::fs::write(dir.join("0"), text).unwrap();
    }

    fn json(&self, action: &str) -> serde_json::Value {
        let r = self
            .server
            .get(&format!("/cgi-bin/meshchat?action={action}"));
        assert_eq!(r.status, 200, "{action}");
        r.json()
    }

    /// id -> (message, call_sign, node, channel)
    fn messages(&self) -> BTreeMap<String, (String, String, String, String)> {
        let mut out = BTreeMap::new();
        for m in self.json("messages").as_array().unwrap() {
            let s = |k: &str| m[k].as_str().unwrap().to_string();
            let dup = out.insert(
                s("id"),
                (s("message"), s("call_sign"), s("node"), s("channel")),
            );
            assert!(dup.is_none(), "{} twice on {}", s("id"), self.name);
        }
        out
    }

    fn raw_lines(&self) -> Vec<String> {
        let r = self.server.get("/cgi-bin/meshchat?action=messages_raw");
        r.text().lines().map(str::to_string).collect()
    }

    fn post(&self, id: &str, text: &str, channel: &str, epoch: u64) {
        let r = self.node.post(&[
            ("action", "send_message"),
            ("id", id),
            ("message", text),
            ("call_sign", "K1MC"),
            ("channel", channel),
            ("epoch", &epoch.to_string()),
        ]);
        assert_eq!(r.status_reply().0, 200, "{}", r.text());
    }

    /// The bridge's report (the `sync_peers` entry of mode `raven`).
    fn report(&self) -> serde_json::Value {
        self.json("sync_peers")
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["mode"] == "raven")
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    fn knows_peer(&self, ip: Ipv4Addr, named: bool) -> bool {
        let r = self.report();
        r["peers"].as_array().is_some_and(|ps| {
            ps.iter().any(|p| {
                p["ip"] == ip.to_string()
                    && (!named || !p["node"].as_str().unwrap_or("").starts_with("raven-"))
            })
        })
    }

    fn dropped(&self, why: &str) -> u64 {
        self.report()["dropped"][why].as_u64().unwrap_or(0)
    }
}

impl Drop for McNode {
    fn drop(&mut self) {
        self.stop_sync();
        if std::thread::panicking() {
            eprintln!(
                "--- sync log of {} ---\n{}",
                self.name,
                std::fs::read_to_string(self.sync_log()).unwrap_or_default()
            );
        }
    }
}

fn ip(c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 77, c, d)
}

fn listen(ip: Ipv4Addr) -> Option<String> {
    Some(format!("{ip}:0"))
}

/// Two bridges (a, b), a legacy node (c) syncing from them, one Raven node.
struct Mesh {
    reg: Registry,
    a: McNode,
    b: McNode,
    c: McNode,
    raven: RavenSim,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mesh(tag: &str, net: u8) -> Mesh {
    let dir = node_dir(&format!("{tag}-entries"));
    let _ = std::fs::remove_dir_all(&dir);
    let reg = Registry::new(&dir);
    let mut a = McNode::start(
        &format!("{tag}-a"),
        "node-a",
        ip(net, 2),
        listen(ip(net, 2)),
        true,
        &reg,
    );
    let mut b = McNode::start(
        &format!("{tag}-b"),
        "node-b",
        ip(net, 3),
        listen(ip(net, 3)),
        true,
        &reg,
    );
    let mut c = McNode::start(&format!("{tag}-c"), "node-c", ip(net, 4), None, false, &reg);
    a.advertise(&[&b, &c]);
    b.advertise(&[&a, &c]);
    c.advertise(&[&a, &b]);
    let raven = RavenSim::start(
        &reg,
        ip(net, 10),
        0x5649_a001,
        "KN6PLV-raven",
        &["AREDN og==", "ops og=="],
    );
    for n in [&mut a, &mut b, &mut c] {
        n.start_sync();
    }
    // The bridges find the Raven node, and learn its name (nodeinfo); it finds them.
    wait_for(CONVERGE, "bridges know the Raven node by name", || {
        a.knows_peer(raven.ip, true) && b.knows_peer(raven.ip, true)
    });
    wait_for(CONVERGE, "the Raven node finds both bridges", || {
        raven.targets("AREDN og==").len() == 2
    });
    Mesh {
        reg,
        a,
        b,
        c,
        raven,
        _dir: TempDir(dir),
    }
}

#[test]
fn raven_messages_reach_every_meshchat_node_once_and_back_once() {
    let m = mesh("raven-main", 1);
    let t = now();

    // Raven to MeshChat: once on both bridges, same id, and in the legacy node's database.
    let (_, sent_to) = m.raven.send_text(
        "AREDN og==",
        "hello from Raven ⚡".as_bytes(),
        Some(b"RVN1"),
        t,
    );
    assert_eq!(sent_to, 2);
    let find = |n: &McNode, text: &str| {
        n.messages()
            .into_iter()
            .filter(|(_, v)| v.0 == text)
            .collect::<Vec<_>>()
    };
    wait_for(CONVERGE, "the Raven message on a, b and c", || {
        [&m.a, &m.b, &m.c]
            .iter()
            .all(|n| find(n, "hello from Raven ⚡").len() == 1)
    });
    let on_a = find(&m.a, "hello from Raven ⚡");
    let (id, (_, call, node, channel)) = &on_a[0];
    assert_eq!(
        find(&m.b, "hello from Raven ⚡")[0].0,
        *id,
        "both bridges derive one id"
    );
    assert_eq!(
        (call.as_str(), node.as_str(), channel.as_str()),
        ("RVN1", "KN6PLV-raven", "")
    );
    let raw: Vec<String> =
        m.c.raw_lines()
            .into_iter()
            .filter(|l| l.starts_with(id.as_str()))
            .collect();
    assert_eq!(raw.len(), 1, "one line in the legacy node's messages_raw");
    assert!(
        raw[0].contains(&format!(
            "\t{t}\thello from Raven ⚡\tRVN1\tKN6PLV-raven\tnode\t"
        )),
        "{}",
        raw[0]
    );

    // Bytes that are not UTF-8, a channel, no call sign: the node's name stands in.
    m.raven
        .send_text("ops og==", b"caf\xe9 \"quoted\"\nline 2", None, t + 1);
    wait_for(CONVERGE, "the second Raven message on a and b", || {
        [&m.a, &m.b]
            .iter()
            .all(|n| find(n, "caf\u{fffd} \"quoted\"\nline 2").len() == 1)
    });
    let second = find(&m.a, "caf\u{fffd} \"quoted\"\nline 2");
    assert_eq!(
        (second[0].1 .1.as_str(), second[0].1 .3.as_str()),
        ("KN6PLV-raven", "ops")
    );

    // Lost on the way to b: b gets it by sync, knows it came from Raven, and does not
    // send it there.
    let to_a = m
        .raven
        .targets("AREDN og==")
        .into_iter()
        .find(|(addr, _)| *addr.ip() == m.a.ip)
        .unwrap()
        .0;
    m.raven
        .send_text_only(to_a, "AREDN og==", b"only a heard this", t + 1);
    wait_for(CONVERGE, "the message a alone heard, on b and c", || {
        [&m.a, &m.b, &m.c]
            .iter()
            .all(|n| find(n, "only a heard this").len() == 1)
    });
    wait_for(CONVERGE, "b counts it as not returned", || {
        m.b.report()["not_returned"].as_u64().unwrap_or(0) == 1
    });

    // MeshChat to Raven: posted on a, in Everything; on c (no bridge), in #ops.
    m.a.post("a0000001", "hello from MeshChat", "", t + 2);
    m.c.post("c0000001", "from the legacy node", "ops", t + 3);
    let texts = |s: &str| -> Vec<serde_json::Value> {
        m.raven
            .texts()
            .into_iter()
            .filter(|j| j["data"]["text_message"] == s)
            .collect()
    };
    let copies = |s: &str| -> Vec<serde_json::Value> {
        m.raven
            .received()
            .into_iter()
            .map(|r| r.json)
            .filter(|j| j["data"]["text_message"] == s)
            .collect()
    };
    wait_for(CONVERGE, "both bridges send each MeshChat message", || {
        copies("hello from MeshChat").len() == 2 && copies("from the legacy node").len() == 2
    });
    for (text, namekey) in [
        ("hello from MeshChat", "AREDN og=="),
        ("from the legacy node", "ops og=="),
    ] {
        let c = copies(text);
        assert_eq!(c[0]["id"], c[1]["id"], "one Raven id from both bridges");
        assert_ne!(c[0]["from"], c[1]["from"], "one copy from each bridge");
        assert_eq!(c[0]["namekey"], namekey);
        assert_eq!(c[0]["originating_callsign"], "K1MC");
        assert_eq!(c[0]["to"], ravensim::BROADCAST);
        assert_eq!(texts(text).len(), 1, "Raven keeps it once");
    }

    // Nothing that came from Raven goes back, and nothing loops: a few more seconds of
    // sync rounds change nothing.
    std::thread::sleep(Duration::from_secs(3));
    for r in m.raven.received() {
        let text = r.json["data"]["text_message"].as_str().unwrap_or("");
        assert!(
            !text.contains("Raven") && !text.contains("caf"),
            "sent back: {}",
            r.json
        );
    }
    let before: Vec<usize> = [&m.a, &m.b, &m.c]
        .iter()
        .map(|n| n.messages().len())
        .collect();
    assert_eq!(before, [5, 5, 5]);
    assert_eq!(m.raven.texts().len(), 2);
    for text in ["hello from MeshChat", "from the legacy node"] {
        assert_eq!(
            copies(text).len(),
            2,
            "{text}: once from each bridge, no more"
        );
    }
    // The bridges send nothing to each other: sync carries the messages between them.
    for (n, other) in [(&m.a, &m.b), (&m.b, &m.a)] {
        let r = n.report();
        let peer = r["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["ip"] == other.ip.to_string())
            .cloned()
            .unwrap();
        assert_eq!(
            (peer["meshchat"].as_u64(), peer["sent"].as_u64()),
            (Some(1), Some(0)),
            "{r}"
        );
        assert_eq!(n.dropped("echo"), 0, "{r}");
    }
    let ra = m.a.report();
    assert_eq!(ra["state"], "on");
    assert!(
        ra["summary"]
            .as_str()
            .unwrap()
            .starts_with("Raven bridge on: Everything \u{2194} AREDN og==, #x \u{2194} x og==; "),
        "{ra}"
    );
    assert!(ra["map"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["channel"] == "" && p["namekey"] == "AREDN og=="));
    assert!(ra["namekeys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "ops og=="));
    assert_eq!(
        ra["to_raven"].as_u64().unwrap() + m.b.report()["to_raven"].as_u64().unwrap(),
        4
    );
    // sync_status lists the Raven peer, marked.
    let status = m.a.json("sync_status");
    assert!(status
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["node"] == "KN6PLV-raven" && s["raven"] == 1));
    // Our entry, as published through arednlink's socket, lists what the bridge takes.
    let entries = m.reg.entries();
    let ours = entries
        .iter()
        .find(|e| e["ip"] == m.a.ip.to_string())
        .unwrap();
    assert_eq!(ours["meshchat"], 1);
    assert!(ours["channels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "AREDN og=="));
}

#[test]
fn ten_minutes_of_simulated_traffic_make_no_loop() {
    let m = mesh("raven-loop", 2);
    let r2 = RavenSim::start(
        &m.reg,
        ip(2, 11),
        0x5649_a002,
        "KN6PLV-r2",
        &["AREDN og==", "ops og=="],
    );
    wait_for(CONVERGE, "bridges know the second Raven node", || {
        m.a.knows_peer(r2.ip, true) && m.b.knows_peer(r2.ip, true)
    });
    // Ten minutes of traffic, dated one simulated second apart, sent as fast as it goes:
    // a Raven message every 10 s from each Raven node, a MeshChat one every 15 s from
    // a, b or c in turn.
    let t0 = now();
    let to_a = m
        .raven
        .targets("AREDN og==")
        .into_iter()
        .find(|(addr, _)| *addr.ip() == m.a.ip)
        .unwrap()
        .0;
    let (mut from_raven, mut from_mc) = (Vec::new(), Vec::new());
    for s in 0..600u64 {
        let namekey = if s % 20 == 0 {
            "ops og=="
        } else {
            "AREDN og=="
        };
        if s % 50 == 0 {
            // Lost on the way to b: it comes to b by sync.
            let text = format!("raven {s}");
            m.raven
                .send_text_only(to_a, namekey, text.as_bytes(), t0 + s);
            from_raven.push(text);
        } else if s % 10 == 0 {
            let text = format!("raven {s}");
            m.raven
                .send_text(namekey, text.as_bytes(), Some(b"RVN1"), t0 + s);
            from_raven.push(text);
        }
        if s % 10 == 5 {
            let text = format!("r2 {s}");
            r2.send_text(namekey, text.as_bytes(), Some(b"RVN2"), t0 + s);
            from_raven.push(text);
        }
        if s % 15 == 0 {
            let text = format!("meshchat {s}");
            let n = [&m.a, &m.b, &m.c][(s / 15 % 3) as usize];
            n.post(
                &format!("{:08x}", 0xd000_0000u64 + s),
                &text,
                if s % 30 == 0 { "ops" } else { "" },
                t0 + s,
            );
            from_mc.push(text);
        }
    }
    let total = from_raven.len() + from_mc.len();
    assert_eq!((from_raven.len(), from_mc.len()), (120, 40));
    wait_for(CONVERGE * 2, "every message on every MeshChat node", || {
        [&m.a, &m.b, &m.c]
            .iter()
            .all(|n| n.messages().len() == total)
    });
    wait_for(
        CONVERGE,
        "every MeshChat message on both Raven nodes",
        || {
            [&m.raven, &r2].iter().all(|r| {
                r.texts()
                    .iter()
                    .filter(|j| {
                        j["data"]["text_message"]
                            .as_str()
                            .unwrap_or("")
                            .starts_with("meshchat ")
                    })
                    .count()
                    == from_mc.len()
            })
        },
    );
    // Quiet now: let sync rounds and the bridges run on, then nothing must have moved.
    std::thread::sleep(Duration::from_secs(4));
    for n in [&m.a, &m.b, &m.c] {
        let msgs = n.messages();
        assert_eq!(msgs.len(), total, "{}", n.name);
        for text in from_raven.iter().chain(&from_mc) {
            assert_eq!(
                msgs.values().filter(|v| &v.0 == text).count(),
                1,
                "{text} on {}",
                n.name
            );
        }
    }
    for r in [&m.raven, &r2] {
        let got = r.received();
        // Each MeshChat message once from each bridge, one id; nothing of Raven's sent back.
        for text in &from_mc {
            let copies: Vec<_> = got
                .iter()
                .filter(|x| x.json["data"]["text_message"] == text.as_str())
                .collect();
            assert_eq!(copies.len(), 2, "{text}: {copies:?}");
            assert_ne!(copies[0].from_addr.ip(), copies[1].from_addr.ip(), "{text}");
            assert!(copies.iter().all(|c| c.json["id"] == copies[0].json["id"]));
        }
        let bridges = [m.a.ip, m.b.ip];
        for x in got.iter().filter(|x| bridges.contains(x.from_addr.ip())) {
            let t = x.json["data"]["text_message"].as_str().unwrap_or("");
            assert!(
                !t.starts_with("raven ") && !t.starts_with("r2 "),
                "sent back: {t}"
            );
        }
        // What the other Raven node sent it directly (not the 12 sent to a alone), plus
        // MeshChat's.
        let direct = if std::ptr::eq(r, &m.raven) { 60 } else { 48 };
        assert_eq!(r.texts().len(), from_mc.len() + direct);
    }
    let a = m.a.report();
    assert_eq!(a["errors"], 0, "{a}");
}

#[test]
fn port_taken_leaves_the_bridge_off_and_sync_running() {
    let dir = node_dir("raven-port-entries");
    let reg = Registry::new(&dir);
    let _dir = TempDir(dir);
    // Raven itself holds the port on this node.
    let held = UdpSocket::bind(SocketAddrV4::new(ip(3, 2), 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let mut a = McNode::start(
        "raven-port-a",
        "node-a",
        ip(3, 2),
        Some(format!("{}:{port}", ip(3, 2))),
        true,
        &reg,
    );
    let mut b = McNode::start("raven-port-b", "node-b", ip(3, 3), None, true, &reg);
    a.advertise(&[&b]);
    b.advertise(&[&a]);
    a.start_sync();
    b.start_sync();
    wait_for(CONVERGE, "the bridge says it stays off", || {
        std::fs::read_to_string(a.sync_log()).unwrap_or_default().contains(&format!(
            "raven: UDP port {port} is in use (is Raven itself running on this node?): the bridge stays off"
        ))
    });
    let r = a.report();
    assert_eq!(r["state"], "off");
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Raven bridge off: UDP port {port} is in use")),
        "{r}"
    );
    assert!(r["reason"].as_str().unwrap().contains("in use"), "{r}");
    // Everything else goes on: messages sync both ways.
    a.post("a1000001", "still syncing", "", now());
    b.post("b1000001", "and back", "", now());
    wait_for(CONVERGE, "messages sync while the bridge is off", || {
        a.messages().len() == 2 && b.messages().len() == 2
    });
    assert!(
        a.sync.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the daemon runs on"
    );
    assert!(reg.entries().is_empty(), "nothing published");
    drop(held);
}

#[test]
fn hostile_datagrams_change_nothing() {
    let dir = node_dir("raven-hostile-entries");
    let _ = std::fs::remove_dir_all(&dir);
    let reg = Registry::new(&dir);
    let _dir = TempDir(dir);
    let mut a = McNode::start(
        "raven-hostile-a",
        "node-a",
        ip(4, 2),
        listen(ip(4, 2)),
        true,
        &reg,
    );
    a.advertise(&[]);
    let raven = RavenSim::start(&reg, ip(4, 10), 77, "KN6PLV-raven", &["AREDN og=="]);
    // History from before the bridge started never goes to Raven.
    a.post("0a0a0a01", "history", "", now() - 3600);
    a.post("0a0a0a02", "just before the start", "", now());
    a.start_sync();
    wait_for(CONVERGE, "the bridge knows the Raven node", || {
        a.knows_peer(raven.ip, true)
    });
    let (bridge, bridge_id) = raven.targets("AREDN og==")[0];
    // Asked for its nodeinfo, the bridge answers with its node name.
    raven.ask_nodeinfo(bridge, bridge_id);
    wait_for(CONVERGE, "the bridge's nodeinfo", || {
        raven.received().iter().any(|r| {
            r.json["data"]["nodeinfo"]["long_name"] == "node-a"
                && r.json["data"]["reply_id"].is_u64()
                && r.json["to"] == 77
                && r.json["from"] == bridge_id
        })
    });
    let log_before = std::fs::read(a.node.log_path()).unwrap_or_default();
    let t = now();
    let big_text = vec![b'x'; 65_000];
    let hostile: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"from\": 77, \"to\": 4294967295, \"id\": 1, \"data\": {\"text_message\": \"unterminated".to_vec(), "malformed"),
        (b"not json at all \xff\xfe".to_vec(), "malformed"),
        (b"[1,2,3]".to_vec(), "malformed"),
        (vec![b'['; 5000], "malformed"),
        (vec![b'A'; 65_507], "malformed"),
        (raven.text_datagram(2, "AREDN og==", &big_text, Some(b"RVN1"), t, 0xffff_ffff), "invalid"),
        (b"{\"from\": \"77\", \"to\": 4294967295, \"id\": 3, \"namekey\": \"AREDN og==\", \"rx_time\": 1, \"data\": {\"text_message\": \"wrong type\"}}".to_vec(), "malformed"),
        (b"{\"from\": 77, \"to\": 4294967295, \"id\": 4, \"namekey\": \"AREDN og==\", \"rx_time\": 1, \"data\": {\"text_message\": [\"wrong type\"]}}".to_vec(), "malformed"),
        (b"{\"from\": 77, \"to\": 4294967295, \"id\": 5, \"namekey\": 7, \"rx_time\": 1, \"data\": {\"text_message\": \"x\"}}".to_vec(), "malformed"),
        (b"{\"from\": 77, \"to\": 4294967295, \"id\": 6, \"namekey\": \"AREDN og==\", \"rx_time\": -1, \"data\": {\"text_message\": \"x\"}}".to_vec(), "malformed"),
        (raven.text_datagram(7, "AREDN og==", b"ctrl \x01 char", Some(b"RVN1"), t, 0xffff_ffff), "invalid"),
        (raven.text_datagram(8, "AREDN og==", b"from the future", Some(b"RVN1"), t + 40 * 86_400, 0xffff_ffff), "invalid"),
        (raven.text_datagram(9, "Secret 1PG7OiApB1nwvP+rz05pAQ==", b"unmapped", Some(b"RVN1"), t, 0xffff_ffff), "unmapped"),
        (raven.text_datagram(10, "DirectMessages 1", b"direct", Some(b"RVN1"), t, 12345), "direct"),
    ];
    let mut expect: BTreeMap<&str, u64> = BTreeMap::new();
    for (d, why) in &hostile {
        raven.send_raw(bridge, d);
        *expect.entry(why).or_default() += 1;
    }
    // A valid message from an address that is no Raven peer's.
    let stranger = UdpSocket::bind(SocketAddrV4::new(ip(4, 99), 0)).unwrap();
    stranger
        .send_to(
            &raven.text_datagram(
                11,
                "AREDN og==",
                b"from a stranger",
                Some(b"EVIL"),
                t,
                0xffff_ffff,
            ),
            bridge,
        )
        .unwrap();
    wait_for(CONVERGE, "every hostile datagram counted", || {
        expect.iter().all(|(why, n)| a.dropped(why) == *n) && a.dropped("unknown_peer") == 1
    });
    // Then a good one, and a repeat of it: stored once.
    let good = raven.text_datagram(
        12,
        "AREDN og==",
        b"the only good one",
        Some(b"RVN1"),
        t,
        0xffff_ffff,
    );
    raven.send_raw(bridge, &good);
    raven.send_raw(bridge, &good);
    wait_for(CONVERGE, "the good message", || {
        a.messages().len() == 3 && a.dropped("repeat") == 1
    });
    let msgs = a.messages();
    assert_eq!(
        msgs.values().filter(|v| v.0 == "the only good one").count(),
        1
    );
    let log_after = std::fs::read(a.node.log_path()).unwrap();
    assert!(log_after.starts_with(&log_before));
    assert_eq!(
        log_after.iter().filter(|&&b| b == b'\n').count(),
        3,
        "one record more: nothing else stored"
    );
    let r = a.report();
    assert_eq!(r["from_raven"], 1);
    assert_eq!(r["state"], "on");
    let peer = &r["peers"][0];
    assert_eq!(peer["received"], 1);
    assert!(peer["dropped"].as_u64().unwrap() >= hostile.len() as u64);
    assert!(
        raven
            .received()
            .iter()
            .all(|r| !r.json["data"]["text_message"].is_string()),
        "no history sent to Raven"
    );
    // Stopped, the bridge withdraws its entry.
    assert!(reg.entries().iter().any(|e| e["ip"] == a.ip.to_string()));
    a.stop_sync();
    wait_for(CONVERGE, "our entry withdrawn", || {
        !reg.entries().iter().any(|e| e["ip"] == a.ip.to_string())
    });
}

/// The text of every text datagram a simulated node received, repeats included.
fn got_texts(r: &RavenSim) -> Vec<String> {
    r.received()
        .iter()
        .filter_map(|x| Some(x.json["data"]["text_message"].as_str()?.to_string()))
        .collect()
}

#[test]
fn listeners_stores_and_radio_bridges_get_what_the_map_carries() {
    const NET: &str = "Net 1PG7OiApB1nwvP+rz05pAQ==";
    let dir = node_dir("raven-map-entries");
    let _ = std::fs::remove_dir_all(&dir);
    let reg = Registry::new(&dir);
    let _dir = TempDir(dir);
    let chan = format!("net={NET}");
    // As on a node: listening on every address, our mesh address from the node's setup
    // file (no raven_ip).
    let setup = node_dir("raven-map-a").join("setup");
    let setup_opt = setup.display().to_string();
    let mut a = McNode::start_with(
        "raven-map-a",
        "node-a",
        ip(5, 2),
        Some("0.0.0.0:0".into()),
        true,
        &reg,
        &[
            ("raven_channel", &chan),
            ("raven_id", "!5a5a0001"),
            ("raven_ip", ""),
            ("setup_file", &setup_opt),
        ],
    );
    std::fs::write(
        &setup,
        format!(
            "config globals 'globals'\n\toption wifi_ip '{}'\n",
            ip(5, 2)
        ),
    )
    .unwrap();
    let mut c = McNode::start("raven-map-c", "node-c", ip(5, 4), None, false, &reg);
    a.advertise(&[&c]);
    c.advertise(&[&a]);
    // As Raven sends: to the nodes that list the channel, to stores, to radio bridges.
    let ops = RavenSim::start(&reg, ip(5, 10), 0x5649_b001, "KN6PLV-ops", &["ops og=="]);
    let net = RavenSim::start(&reg, ip(5, 11), 0x5649_b002, "KN6PLV-net", &[NET]);
    let store = RavenSim::start_with(
        &reg,
        ip(5, 12),
        0x5649_b003,
        "KN6PLV-store",
        &[],
        ",\"store\":[\"*\"]",
    );
    let radio = RavenSim::start_with(
        &reg,
        ip(5, 13),
        0x5649_b004,
        "KN6PLV-radio",
        &[],
        ",\"bridge\":[{\"meshtastic\":{\"preset\":\"MediumFast\"}}]",
    );
    let quiet = RavenSim::start(&reg, ip(5, 14), 0x5649_b005, "KN6PLV-q", &["other og=="]);
    a.start_sync();
    c.start_sync();
    let sims = [&ops, &net, &store, &radio, &quiet];
    wait_for(
        CONVERGE,
        "the bridge knows every Raven node by name",
        || sims.iter().all(|s| a.knows_peer(s.ip, true)),
    );

    let t = now();
    // Posted on the bridge: "Everything"; Raven gets the text as MeshChat shows it.
    a.post("e0000001", "two\nlines, \"quoted\" \\ <b>é ⚡\ttab", "", t);
    let shown = a.messages()["e0000001"].0.clone();
    assert_eq!(shown, "two\nlines, \"quoted\" \\ <b>é ⚡ tab");
    let typed = shown.as_str();
    // Pulled from c: #ops (automatic map), #net (the raven_channel option).
    c.post("e0000002", "for ops", "ops", t);
    c.post("e0000003", "for net", "net", t);
    // Pulled from c after the bridge started, but dated an hour before: history.
    let old = c.node.dir.join("old.db");
    std::fs::write(
        &old,
        format!(
            "e0000004\t{}\tolder than the bridge\tK1OLD\tnode-c\tnode\t\n",
            t - 3600
        ),
    )
    .unwrap();
    let out = c.node.command(&["import", old.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    c.post("e0000005", "after the old one", "", t + 1);
    wait_for(CONVERGE, "the stores get every new message", || {
        let got = got_texts(&store);
        [typed, "for ops", "for net", "after the old one"]
            .iter()
            .all(|s| got.iter().any(|g| g == s))
    });
    wait_for(CONVERGE, "a has the old message", || {
        a.messages()
            .values()
            .any(|v| v.0 == "older than the bridge")
    });
    std::thread::sleep(Duration::from_secs(2));
    let all = [typed, "after the old one", "for ops", "for net"];
    let expect: [(&RavenSim, &[&str]); 5] = [
        (&ops, &["for ops"]),
        (&net, &["for net"]),
        (&store, &all),
        (&radio, &all),
        (&quiet, &[]),
    ];
    for (sim, want) in &expect {
        let mut got = got_texts(sim);
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "what {} received", sim.long_name);
    }
    let net_copy = net
        .received()
        .into_iter()
        .find(|x| x.json["data"]["text_message"] == "for net")
        .unwrap();
    assert_eq!(net_copy.json["namekey"], NET, "the option's namekey");
    assert_eq!(net_copy.json["from"], 0x5a5a_0001u32, "the raven_id option");

    // From Raven: the option's namekey lands in #net; a date of long ago is kept as it is.
    let long_ago = t - 40 * 86_400;
    net.send_text(NET, b"net from Raven", Some(b"RVN3"), long_ago);
    let (_, n) = ops.send_text("ops og==", b"old ops from Raven", Some(b"RVN4"), long_ago);
    assert_eq!(n, 1);
    let find = |text: &str| {
        a.json("messages")
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["message"] == text)
            .cloned()
    };
    wait_for(CONVERGE, "both Raven messages on a", || {
        find("net from Raven").is_some() && find("old ops from Raven").is_some()
    });
    for (text, channel) in [("net from Raven", "net"), ("old ops from Raven", "ops")] {
        let m = find(text).unwrap();
        assert_eq!(m["channel"], channel, "{m}");
        assert_eq!(m["epoch"], long_ago, "{m}");
    }

    // Our entry lists what the bridge carries; the bridge on c is off (the default).
    let entries = reg.entries();
    let ours = entries
        .iter()
        .find(|e| e["ip"] == a.ip.to_string())
        .unwrap();
    assert_eq!(ours["id"], 0x5a5a_0001u32);
    assert_eq!(a.report()["raven_id"], 0x5a5a_0001u32);
    for nk in ["AREDN og==", "ops og==", NET] {
        assert!(
            ours["channels"].as_array().unwrap().iter().any(|c| c == nk),
            "{nk} in {ours}"
        );
    }
    assert!(c.report().is_null(), "{}", c.report());
    assert!(!c.node.dir.join("ram/raven.json").exists());

    // arednlink gone: publishing the entry of a new channel fails; the status says so.
    let r = a.report();
    assert_eq!(
        (r["errors"].as_u64(), r["to_raven"].as_u64()),
        (Some(0), Some(4)),
        "{r}"
    );
    a.link = None;
    std::thread::sleep(Duration::from_millis(200));
    c.post("e0000006", "a new channel", "later", now());
    wait_for(CONVERGE, "the failed publish in the status", || {
        a.report()["errors"].as_u64().unwrap_or(0) >= 1
    });
    let r = a.report();
    let last = r["last_error"].as_str().unwrap();
    assert!(
        last.starts_with("publishing our entry: arednlink socket "),
        "{r}"
    );
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .ends_with(&format!(" errors (last: {last})")),
        "{r}"
    );
    assert_eq!(r["state"], "on");
    assert!(std::fs::read_to_string(a.sync_log())
        .unwrap()
        .contains(&format!("meshchat sync: raven: {last}")));
}
