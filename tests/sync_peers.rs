//! Who the sync daemon talks to and what it records, through the real binary: two peers
//! on one host keep two file lists and two sync statuses; a node skips its own service
//! entries whether they name it by name or by address; `--stats` counts a connection that
//! never opened as an attempt, not as a request; a peer given by host name is found
//! through `/etc/hosts`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::{bin, Node, Server};

/// Starts `meshchat serve` for a fresh node sharing one file named `file`.
fn peer(tag: &str, name: &str, file: &str) -> (Node, Server) {
    let node = Node::new(tag, name, &[]);
    std::fs::create_dir_all(node.files_dir()).unwrap();
    std::fs::write(node.files_dir().join(file), b"shared\n").unwrap();
    let server = Server::start(&node, "127.0.0.1:0");
    (node, server)
}

fn port(s: &Server) -> u16 {
    s.addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// The `--stats` lines of one `sync --once`, as key=value maps.
fn sync_once(node: &Node) -> Vec<HashMap<String, String>> {
    let out = Command::new(bin())
        .args(["sync", "--once", "--stats", "--stall", "3", "--config"])
        .arg(&node.config)
        .env_clear()
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("peer="))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn peers_on_one_host_self_entries_and_attempts() {
    let (_a, server_a) = peer("peers-a", "node-a", "from-a.txt");
    let (_b, server_b) = peer("peers-b", "node-b", "from-b.txt");
    let (pa, pb) = (port(&server_a), port(&server_b));
    // A port nobody listens on.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let me = Node::new("peers-me", "node-me", &[("setup_file", "SETUP")]);
    let me_server = Server::start(&me, "127.0.0.1:0");
    let pm = port(&me_server);
    // The node's own setup file advertises its MeshChat port.
    let setup = me.dir.join("setup");
    std::fs::write(
        &setup,
        format!("config services\n\tlist service 'MeshChat [chat]|1|http|node-me|{pm}|meshchat'\n"),
    )
    .unwrap();
    let conf = std::fs::read_to_string(&me.config).unwrap();
    std::fs::write(
        &me.config,
        conf.replace("SETUP", &setup.display().to_string()),
    )
    .unwrap();
    // Our own entry three times (by address, by name in the mesh domain, by loopback
    // name of the address), two peers on one host, and a dead one.
    std::fs::create_dir_all(me.dir.join("services")).unwrap();
    std::fs::write(
        me.dir.join("services/0"),
        format!(
            "##127.0.0.1##\nhttp://127.0.0.1:{pm}/meshchat|tcp|MeshChat [chat]\n\
http://NODE-ME.local.mesh:{pm}/meshchat|tcp|MeshChat\n\
http://node-me:8080/meshchat|tcp|MeshChat\n\
##127.0.0.2##\nhttp://127.0.0.1:{pa}/meshchat|tcp|MeshChat\n\
http://127.0.0.1:{pb}/meshchat|tcp|MeshChat\n\
http://127.0.0.1:{dead}/meshchat|tcp|MeshChat\n"
        ),
    )
    .unwrap();

    let rounds = sync_once(&me);
    let mut peers: Vec<&str> = rounds.iter().map(|r| r["peer"].as_str()).collect();
    peers.sort();
    let mut want = [
        format!("127.0.0.1:{pa}"),
        format!("127.0.0.1:{pb}"),
        format!("127.0.0.1:{dead}"),
    ];
    want.sort();
    assert_eq!(peers, want, "no round with the node itself: {rounds:?}");

    // A connection that never opened: one attempt, no request, nothing on the wire.
    let d = rounds
        .iter()
        .find(|r| r["peer"] == format!("127.0.0.1:{dead}"))
        .unwrap();
    assert_eq!(
        (
            &d["ok"][..],
            &d["attempts"][..],
            &d["requests"][..],
            &d["wire_bytes"][..]
        ),
        ("0", "1", "0", "0"),
        "{d:?}"
    );
    for r in rounds.iter().filter(|r| r["ok"] == "1") {
        let (att, req) = (
            r["attempts"].parse::<u32>().unwrap(),
            r["requests"].parse::<u32>().unwrap(),
        );
        assert!(req >= 1 && att == req, "{r:?}");
    }

    // Two peers on one host: two file lists, two statuses.
    let ram = me.dir.join("ram");
    for p in [pa, pb] {
        assert!(
            ram.join(format!("remote_files.127.0.0.1_{p}")).exists(),
            "file list of 127.0.0.1:{p}"
        );
    }
    let files = me_server.get("/cgi-bin/meshchat?action=files").text();
    assert!(
        files.contains("from-a.txt") && files.contains("from-b.txt"),
        "{files}"
    );
    let status = me_server.get("/cgi-bin/meshchat?action=sync_status").json();
    let mut nodes: Vec<String> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["node"].as_str().unwrap().to_string())
        .collect();
    nodes.sort();
    let mut want = vec![format!("127.0.0.1_{pa}"), format!("127.0.0.1_{pb}")];
    want.sort();
    assert_eq!(nodes, want);
}

/// A peer named by host name is found through `/etc/hosts` (meshchat's own resolver,
/// src/http/resolve.rs), and its message comes over. Only `localhost`: any other name
/// would ask this machine's name servers.
#[test]
fn a_peer_named_in_etc_hosts_is_reached() {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let listed = hosts.lines().any(|l| {
        let mut w = l.split('#').next().unwrap_or("").split_whitespace();
        w.next() == Some("127.0.0.1") && w.any(|n| n == "localhost")
    });
    if !listed {
        eprintln!("skipped: /etc/hosts has no '127.0.0.1 localhost' line");
        return;
    }
    let (peer, server) = peer("peers-named", "node-named", "named.txt");
    let sent = peer.post(&[
        ("action", "send_message"),
        ("message", "found by name"),
        ("call_sign", "K1ABC"),
        ("epoch", &common::now().to_string()),
    ]);
    assert_eq!(sent.status_reply().0, 200);
    let me = Node::new("peers-by-name", "node-me", &[]);
    let conf = std::fs::read_to_string(&me.config).unwrap();
    std::fs::write(
        &me.config,
        format!("{conf}\tlist peer 'localhost:{}'\n", port(&server)),
    )
    .unwrap();
    let rounds = sync_once(&me);
    let r = rounds
        .iter()
        .find(|r| r["peer"] == format!("localhost:{}", port(&server)))
        .unwrap_or_else(|| panic!("no round with the named peer: {rounds:?}"));
    assert_eq!(r["ok"], "1", "{r:?}");
    let messages = me.get("action=messages").text();
    assert!(messages.contains("found by name"), "{messages}");
}
