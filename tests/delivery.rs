//! Delivery counts on real processes: three `meshchat serve` instances on loopback, each
//! with its own `meshchat sync` and a services directory naming the others. A message
//! posted on one node is first known to be held there only, then by all three; the
//! count never exceeds the nodes that really hold it. Also the API's shapes and refusals,
//! and the legacy replies left untouched.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Child;

use common::*;

/// Seconds the counts may take to reach every node (poll interval 1 s).
const CONVERGE: u64 = 30;

struct Instance {
    host: String,
    node: Node,
    server: Server,
    port: u16,
    sync: Option<Child>,
}

impl Instance {
    /// A node whose name is its loopback address, as AREDN nodes are advertised under
    /// their own names.
    fn start(tag: &str, host: &str) -> Instance {
        Instance::with(tag, host, "1")
    }

    /// `digest`: "0" makes it pull and answer as a legacy node does.
    fn with(tag: &str, host: &str, digest: &str) -> Instance {
        let node = Node::new(
            &format!("deliv-{tag}-{host}"),
            host,
            &[("poll_interval", "1"), ("digest_sync", digest)],
        );
        let server = Server::start(&node, &format!("{host}:0"));
        let port = server.addr.rsplit(':').next().unwrap().parse().unwrap();
        Instance {
            host: host.into(),
            node,
            server,
            port,
            sync: None,
        }
    }

    fn advertise(&self, others: &[&Instance]) {
        let dir = self.node.dir.join("services");
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = others
            .iter()
            .map(|o| {
                format!(
                    "##{0}##\nhttp://{0}:{1}/meshchat|tcp|MeshChat\n",
                    o.host, o.port
                )
            })
            .collect();
        std::fs::write(dir.join("0"), text).unwrap();
    }

    fn start_sync(&mut self) {
        let log = std::fs::File::create(self.node.dir.join("sync.log")).unwrap();
        self.sync = Some(spawn_sync(&[], &self.node.config, log));
    }

    fn get(&self, query: &str) -> Reply {
        self.server.get(&format!("/cgi-bin/meshchat?{query}"))
    }

    fn post(&self, id: &str) {
        let body = format!(
            "action=send_message&id={id}&call_sign=K1ABC&epoch={}&message=hello",
            now()
        );
        let r = self.server.post(
            "/cgi-bin/meshchat",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
            "",
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    fn holds(&self, id: &str) -> bool {
        self.get("action=messages")
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == id)
    }

    /// (holders named, of) from `action=delivery`.
    fn delivery(&self, id: &str) -> (Vec<String>, u64) {
        let r = self.get(&format!("action=delivery&id={id}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        assert_eq!(j["id"], id);
        let held = j["held_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        (held, j["of"].as_u64().unwrap())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.sync.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.node.dir.join("sync.log")).unwrap_or_default();
            eprintln!("--- {} sync log\n{log}", self.host);
        }
    }
}

#[test]
fn counts_go_from_one_to_every_node_and_never_over() {
    let mut mesh: Vec<Instance> = ["127.0.0.61", "127.0.0.62", "127.0.0.63"]
        .iter()
        .map(|h| Instance::start("three", h))
        .collect();
    for i in 0..mesh.len() {
        let others: Vec<&Instance> = mesh
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, o)| o)
            .collect();
        mesh[i].advertise(&others);
    }

    // Before any sync: the message is on this node only, of the one node it knows.
    let id = "d1000001";
    mesh[0].post(id);
    assert_eq!(mesh[0].delivery(id), (vec!["127.0.0.61".to_string()], 1));

    for i in &mut mesh {
        i.start_sync();
    }
    let mut seen = Vec::new();
    wait_for(CONVERGE, "the count to reach 3 of 3", || {
        let (held, of) = mesh[0].delivery(id);
        let truth = mesh.iter().filter(|m| m.holds(id)).count();
        assert!(held.len() <= truth, "{held:?} counted, {truth} hold it");
        for h in &held {
            assert!(mesh.iter().any(|m| &m.host == h), "unknown holder {h}");
        }
        if seen.last() != Some(&held.len()) {
            seen.push(held.len());
        }
        held.len() == 3 && of == 3
    });
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "counts seen: {seen:?}"
    );

    // The gossip rides on a digest check for a client that asks (`d=`), once per change.
    let r = mesh[0].get("action=sync_digest&v=1&d=-");
    let text = r.text();
    let section: Vec<&str> = text
        .split_once("\nD ")
        .unwrap_or_else(|| panic!("no D section in {text}"))
        .1
        .lines()
        .skip(1)
        .collect();
    assert!(section[0].ends_with(" 3"), "roster line {}", section[0]);
    assert!(
        section.iter().any(|l| l.ends_with(&format!(".{id} *"))),
        "{text}"
    );
    let mut crc = crc32fast::Hasher::new();
    for l in &section {
        crc.update(l.as_bytes());
        crc.update(b"\n");
    }
    let again = mesh[0].get(&format!("action=sync_digest&v=1&d={:08x}", crc.finalize()));
    assert!(!again.text().contains("\nD "), "{}", again.text());
    let old_client = mesh[0].get("action=sync_digest&v=1");
    assert!(!old_client.text().contains("\nD "), "{}", old_client.text());

    // The page's poll carries the count of this node's messages; legacy polls do not.
    let v = mesh[0].get("action=messages_version_ui&delivery=1").json();
    assert_eq!(v["delivery"]["of"], 3);
    assert_eq!(v["delivery"]["held_by"][id], 3);
    assert!(v["messages_version"].as_u64().is_some());
    let plain = mesh[0].get("action=messages_version_ui");
    let sum = u64::from_str_radix(id, 16).unwrap();
    assert_eq!(plain.text(), format!("{{\"messages_version\":{sum}}}\n"));

    // A message posted elsewhere: counted there, carried in `messages` there only.
    let other = "d1000002";
    mesh[2].post(other);
    wait_for(CONVERGE, "the second message's count", || {
        mesh[2].delivery(other).0.len() == 3
    });
    // The others learnt it too, through the rounds and the gossip.
    wait_for(CONVERGE, "the counts on the other nodes", || {
        mesh[1].delivery(id).0.len() == 3 && mesh[1].delivery(other).0.len() == 3
    });
    let list = mesh[2].get("action=messages&delivery=1").json();
    for m in list.as_array().unwrap() {
        if m["id"] == other {
            assert_eq!(m["held_by"], 3);
        } else {
            assert!(m.get("held_by").is_none(), "{m}");
        }
    }
    let legacy = mesh[2].get("action=messages").json();
    assert!(legacy
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m.get("held_by").is_none()));

    // A reply that carries news goes without the section, which waits for a quieter
    // check: 20 messages after the client's newest key (`n`) fill the room it leaves.
    for k in 0..20 {
        mesh[0].post(&format!("d10001{k:02x}"));
    }
    let busy = mesh[0].get("action=sync_digest&v=1&d=-&n=1").text();
    assert!(busy.contains("\nM 2") && !busy.contains("\nD "), "{busy}");
}

fn advertise_all(mesh: &[Instance]) {
    for (i, inst) in mesh.iter().enumerate() {
        let others: Vec<&Instance> = mesh
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, o)| o)
            .collect();
        inst.advertise(&others);
    }
}

/// A node that speaks only the legacy protocol is counted once its `messages_version`
/// equals ours or its `messages_raw` lists the message; it counts the others the same way.
#[test]
fn a_legacy_peer_is_counted_and_counts() {
    let mut mesh = vec![
        Instance::start("legacy", "127.0.0.64"),
        Instance::start("legacy", "127.0.0.65"),
        Instance::with("legacy", "127.0.0.66", "0"),
    ];
    advertise_all(&mesh);
    mesh[0].post("e1000001");
    mesh[2].post("e1000002");
    for i in &mut mesh {
        i.start_sync();
    }
    for (inst, id) in [(&mesh[0], "e1000001"), (&mesh[2], "e1000002")] {
        wait_for(
            CONVERGE,
            &format!("{id} counted 3 on {}", inst.host),
            || {
                let (held, of) = inst.delivery(id);
                let truth = mesh.iter().filter(|m| m.holds(id)).count();
                assert!(held.len() <= truth, "{held:?} counted, {truth} hold it");
                held.len() == 3 && of == 3
            },
        );
    }
    let (held, _) = mesh[1].delivery("e1000002");
    assert!(held.contains(&"127.0.0.66".to_string()), "{held:?}");
}

#[test]
fn delivery_refuses_bad_ids_and_unknown_messages() {
    let node = Node::new("deliv-api", "node-a", &[]);
    let r = node.get("action=delivery&id=xyz");
    assert_eq!(r.status_reply().0, 500);
    assert!(r.text().contains("invalid id"), "{}", r.text());
    let r = node.get("action=delivery");
    assert!(r.text().contains("invalid id"), "{}", r.text());
    let r = node.get("action=delivery&id=0badcafe");
    assert_eq!(
        r.status_reply(),
        (404, "no such message on this node".into())
    );
    let r = node.post(&[
        ("action", "send_message"),
        ("id", "0badcafe"),
        ("call_sign", "K1ABC"),
        ("message", "hi"),
    ]);
    assert_eq!(r.status_reply().0, 200);
    let j = node.get("action=delivery&id=0BADCAFE").json();
    assert_eq!(
        j,
        serde_json::json!({"id": "0badcafe", "held_by": ["node-a"], "of": 1})
    );
    // Without a daemon the page still gets a count member, with no entries.
    let v = node.get("action=messages_version_ui&delivery=1").json();
    assert_eq!(v["delivery"], serde_json::json!({"of": 1, "held_by": {}}));
    let m = node.get("action=messages&delivery=1").json();
    assert_eq!(m[0]["held_by"], 1);
}
