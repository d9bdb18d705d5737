//! Several real `meshchat serve` instances on loopback, each with its own data and a
//! generated services directory naming the others, each with its own `meshchat sync`:
//! messages, users and file lists must reach every node, through restarts and a
//! partition, with one node speaking only the legacy protocol.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// Seconds any convergence may take (poll interval 1 s; a peer that was down is
/// retried at most 6 s apart).
const CONVERGE: u64 = 30;

struct Instance {
    name: String,
    host: String,
    node: Node,
    server: Option<Server>,
    port: u16,
    sync: Option<Child>,
    olsr: bool,
}

impl Instance {
    fn start(tag: &str, name: &str, host: &str, digest: bool, olsr: bool) -> Instance {
        let node = Node::new(
            &format!("mesh-{tag}-{name}"),
            name,
            &[
                ("poll_interval", "1"),
                ("digest_sync", if digest { "1" } else { "0" }),
            ],
        );
        let server = Server::start(&node, &format!("{host}:0"));
        let port = server.addr.rsplit(':').next().unwrap().parse().unwrap();
        Instance {
            name: name.into(),
            host: host.into(),
            node,
            server: Some(server),
            port,
            sync: None,
            olsr,
        }
    }

    fn log_file(&self) -> PathBuf {
        self.node.dir.join("sync.log")
    }

    fn start_sync(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .unwrap();
        self.sync = Some(spawn_sync(&["--verbose"], &self.node.config, log));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.sync.take() {
            terminate(&mut c);
        }
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
    }

    fn restart(&mut self) {
        self.server = Some(Server::start(
            &self.node,
            &format!("{}:{}", self.host, self.port),
        ));
        self.start_sync();
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    /// Writes the services this node sees: the others, in the arednlink format or the
    /// OLSR one; plus a service of another zone that must be ignored.
    fn advertise(&self, others: &[&Instance]) {
        let dir = self.node.dir.join("services");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let olsr_file = self.node.dir.join("services_olsr");
        let _ = std::fs::remove_file(&olsr_file);
        let mut text = String::new();
        for (i, o) in others.iter().enumerate() {
            let name = if i % 2 == 0 {
                "MeshChat [chat]"
            } else {
                "MeshChat"
            };
            let entry = format!("http://{}:{}/meshchat|tcp|{name}", o.host, o.port);
            if self.olsr {
                text.push_str(&format!("{entry}\t#{}\n", o.host));
            } else {
                text.push_str(&format!("##{}##\n{entry}\n", o.host));
            }
        }
        text.push_str("http://127.0.0.1:9/meshchat|tcp|Elsewhere [chat]\n");
        if self.olsr {
            std::fs::write(olsr_file, format!("### olsrd\n\n{text}")).unwrap();
        } else {
            std::fs::write(dir.join("0"), text).unwrap();
        }
    }

    fn ids(&self) -> BTreeSet<String> {
        let Some(server) = &self.server else {
            return BTreeSet::new();
        };
        let r = server.get("/cgi-bin/meshchat?action=messages");
        if r.status != 200 {
            return BTreeSet::new();
        }
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn post(&self, id: &str, text: &str) {
        let body = format!(
            "action=send_message&id={id}&call_sign=K1ABC&epoch={}&message={}",
            now(),
            enc(text)
        );
        let r = self.server().post(
            "/cgi-bin/meshchat",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
            "",
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    fn json(&self, action: &str) -> serde_json::Value {
        self.server()
            .get(&format!("/cgi-bin/meshchat?action={action}"))
            .json()
    }

    fn users(&self) -> BTreeSet<String> {
        self.json("users")
            .as_array()
            .unwrap()
            .iter()
            .map(|u| format!("{}@{}", u["call_sign"].as_str().unwrap(), u["node"]))
            .collect()
    }

    fn files(&self) -> BTreeSet<String> {
        self.json("files")["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["file"].as_str().unwrap().to_string())
            .collect()
    }

    fn modes(&self) -> Vec<(u64, String)> {
        let mut v: Vec<(u64, String)> = self
            .json("sync_peers")
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["port"].as_u64().unwrap(),
                    p["mode"].as_str().unwrap().into(),
                )
            })
            .collect();
        v.sort();
        v
    }
}

struct Mesh(Vec<Instance>);

impl Mesh {
    fn advertise_all(&self, isolated: Option<usize>) {
        for (i, a) in self.0.iter().enumerate() {
            let others: Vec<&Instance> = self
                .0
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i && isolated != Some(*j) && isolated != Some(i))
                .map(|(_, b)| b)
                .collect();
            a.advertise(&others);
        }
    }

    fn wait_all(&self, what: &str, cond: impl Fn(&Instance) -> bool) {
        for inst in &self.0 {
            wait_for(CONVERGE, &format!("{what} on {}", inst.name), || cond(inst));
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in &self.0 {
                let log = std::fs::read_to_string(i.log_file()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                eprintln!(
                    "--- {} sync log (newest first)\n{}",
                    i.name,
                    tail.join("\n")
                );
            }
        }
        for i in &mut self.0 {
            i.stop();
        }
    }
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Four nodes, each with `serve` and `sync`, every one advertising the others; node-d
/// has the extension switched off (a legacy peer, both ways). Each has posted one
/// message, and every node has all four.
fn four_nodes(tag: &str) -> (Mesh, BTreeSet<String>) {
    let mut mesh = Mesh(vec![
        Instance::start(tag, "node-a", "127.0.0.2", true, false),
        Instance::start(tag, "node-b", "127.0.0.3", true, true),
        Instance::start(tag, "node-c", "127.0.0.4", true, false),
        Instance::start(tag, "node-d", "127.0.0.5", false, true),
    ]);
    mesh.advertise_all(None);
    for i in &mut mesh.0 {
        i.start_sync();
    }
    let ids = ["a0000001", "b0000001", "c0000001", "d0000001"];
    for (inst, id) in mesh.0.iter().zip(ids) {
        inst.post(id, &format!("hello from {}", inst.name));
    }
    let all = set(&ids);
    mesh.wait_all("the first messages", |i| i.ids() == all);
    (mesh, all)
}

#[test]
fn messages_users_and_files_reach_every_node_legacy_included() {
    // A message posted anywhere reaches every node.
    let (mesh, _) = four_nodes("conv");

    // Users and file lists cross, to and from the legacy node.
    let a = &mesh.0[0];
    let d = &mesh.0[3];
    a.server()
        .get("/cgi-bin/meshchat?action=messages_version_ui&call_sign=AA1A&id=sessa");
    d.server()
        .get("/cgi-bin/meshchat?action=messages_version_ui&call_sign=DD4D&id=sessd");
    for (inst, file) in [(&mesh.0[1], "from-b.txt"), (d, "from-d.txt")] {
        let up = Cgi::upload("action=upload_file", "uploadfile", file, b"shared bytes\n");
        let r = inst.server().post(
            "/cgi-bin/meshchat?action=upload_file",
            up.content_type.as_deref().unwrap(),
            &up.body,
            "",
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let users = set(&["AA1A@\"node-a\"", "DD4D@\"node-d\""]);
    mesh.wait_all("both users", |i| i.users() == users);
    let files = set(&["from-b.txt", "from-d.txt"]);
    mesh.wait_all("both files", |i| i.files() == files);

    // The digest nodes use the extension with each other and legacy with node-d;
    // node-d uses legacy with everyone.
    let port_d = mesh.0[3].port;
    for i in &mesh.0[..3] {
        for (port, mode) in i.modes() {
            let want = if port == u64::from(port_d) {
                "legacy"
            } else {
                "digest"
            };
            assert_eq!(mode, want, "{} → port {port}", i.name);
        }
    }
    assert!(mesh.0[3].modes().iter().all(|(_, m)| m == "legacy"));
}

#[test]
fn a_stopped_instance_catches_up_when_restarted() {
    let (mut mesh, mut all) = four_nodes("restart");
    // An instance stopped for a while catches up when restarted.
    mesh.0[2].stop();
    mesh.0[0].post("a0000002", "while c was down");
    mesh.0[3].post("d0000002", "legacy, while c was down");
    all.extend(["a0000002".to_string(), "d0000002".to_string()]);
    wait_for(CONVERGE, "b to have the new ones", || {
        mesh.0[1].ids() == all
    });
    std::thread::sleep(Duration::from_secs(2));
    mesh.0[2].restart();
    mesh.0[2].post("c0000002", "back again");
    all.insert("c0000002".into());
    mesh.wait_all("everything after the restart", |i| i.ids() == all);
}

#[test]
fn a_partition_heals_and_old_messages_cross_it() {
    let (mesh, mut all) = four_nodes("partition");
    // A partition: node-b hears nobody and nobody hears it. A message dated a day ago
    // appears on it (imported: the API always dates new messages now).
    mesh.advertise_all(Some(1));
    std::thread::sleep(Duration::from_millis(2500));
    let old = mesh.0[1].node.dir.join("old.txt");
    std::fs::write(
        &old,
        format!(
            "01d00001\t{}\tsent a day ago\tW2XYZ\tnode-b\tnode\t\n",
            now() - 86_400
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["import", "--config"])
        .arg(&mesh.0[1].node.config)
        .arg(&old)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    mesh.0[0].post("a0000003", "during the partition");
    wait_for(CONVERGE, "the partition-time message", || {
        mesh.0[3].ids().contains("a0000003")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(!mesh.0[1].ids().contains("a0000003"), "b is partitioned");
    assert!(!mesh.0[0].ids().contains("01d00001"), "b is partitioned");

    // Healed: the old message propagates everywhere, the legacy node included.
    mesh.advertise_all(None);
    all.extend(["01d00001".to_string(), "a0000003".to_string()]);
    mesh.wait_all("everything after the partition", |i| i.ids() == all);
}

/// A legacy database of `n` messages with ids from `base`, one a second from `start`.
fn db(n: u32, base: u32, start: u64) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{:08x}\t{}\tcheck-in {i}, signal report 59\tK{}ABC\tnode-{}\tnode\t\n",
                base + i,
                start + u64::from(i),
                i % 50,
                i % 7
            )
        })
        .collect()
}

fn import(inst: &Instance, text: &str) {
    let file = inst.node.dir.join("import.txt");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(bin())
        .args(["import", "--config"])
        .arg(&inst.node.config)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The next `--stats` line of a daemon, as key=value pairs.
fn next_round(r: &mut impl std::io::BufRead) -> std::collections::HashMap<String, String> {
    let mut line = String::new();
    assert!(r.read_line(&mut line).unwrap() > 0, "the daemon ended");
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn digest_rounds_cost_what_changed_not_the_database_size() {
    let start = now() - 5000;
    let peer = Instance::start("cost", "node-p", "127.0.0.6", true, false);
    let me = Instance::start("cost", "node-m", "127.0.0.7", true, false);
    let history = db(2000, 0x1000_0000, start);
    import(&peer, &history);
    import(&me, &history);
    me.advertise(&[&peer]);
    let mut child = Command::new(bin())
        .args(["sync", "--stats", "--config"])
        .arg(&me.node.config)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stats = std::io::BufReader::new(child.stdout.take().unwrap());
    let first = next_round(&mut stats);
    assert_eq!(first["ok"], "1");
    assert_eq!(first["mode"], "digest");
    // Nothing changed: one GET, a one-line answer.
    for _ in 0..2 {
        let r = next_round(&mut stats);
        assert_eq!(r["requests"], "1", "{r:?}");
        assert!(r["body_bytes"].parse::<u64>().unwrap() <= 300, "{r:?}");
        assert_eq!(r["pulled"], "0");
    }
    // k new messages, one of them over an hour old (a partitioned node's): bytes grow
    // with k, not with the 500 messages held.
    let mut cost = Vec::new();
    for (k, base) in [(1u32, 0x2000_0000u32), (40, 0x3000_0000)] {
        let mut new = db(k - 1, base, now());
        // Inside the 500 messages both keep (the oldest is at start + 1500).
        new.push_str(&db(1, base + k, start + 1600).replace("check-in", "late"));
        import(&peer, &new);
        let r = (0..20)
            .map(|_| next_round(&mut stats))
            .find(|r| r["pulled"] != "0")
            .expect("the new messages within 20 rounds");
        assert_eq!(r["pulled"], k.to_string(), "{r:?}");
        cost.push(r["body_bytes"].parse::<u64>().unwrap());
    }
    assert!(cost[0] < 3000, "1 new message cost {} bytes", cost[0]);
    assert!(
        cost[1] < 40 * 80 + 6000,
        "40 new messages cost {} bytes",
        cost[1]
    );
    let held = me
        .server()
        .get("/cgi-bin/meshchat?action=messages_raw")
        .body
        .len() as u64;
    assert!(held > 5 * cost[1], "{cost:?} against {held} bytes held");
    eprintln!(
        "body bytes: 1 new {}, 40 new {}, database {held}",
        cost[0], cost[1]
    );
    let _ = child.kill();
    let _ = child.wait();
    let mut peer = peer;
    let mut me = me;
    peer.stop();
    me.stop();
}
