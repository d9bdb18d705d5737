//! `meshchat sync` against fake peers: a recorded Lua MeshChat 2.18 node, and peers that
//! are broken or hostile (wrong checksum, truncated body, 50 MB bodies, silence, garbage,
//! injected TABs, 404). Nothing bad may be stored and the daemon must keep going.
#![allow(clippy::unwrap_used)]

mod common;
mod fake;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use fake::{respond, text, text_md5, Fake};

/// Writes the node's arednlink services file naming `ports` on 127.0.0.1.
fn advertise(node: &Node, ports: &[u16]) {
    let dir = node.dir.join("services");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("##127.0.0.1##\n");
    for p in ports {
        text.push_str(&format!(
            "http://127.0.0.1:{p}/meshchat|tcp|MeshChat [chat]\n"
        ));
    }
    std::fs::write(dir.join("0"), text).unwrap();
}

fn sync_once_output(node: &Node, extra: &[&str]) -> Output {
    Command::new(bin())
        .args(["sync", "--once", "--config"])
        .arg(&node.config)
        .args(extra)
        .env_clear()
        .output()
        .unwrap()
}

fn sync_once(node: &Node, extra: &[&str]) -> Output {
    let out = sync_once_output(node, extra);
    assert!(
        out.status.success(),
        "sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn peer_stats(node: &Node, port: u16) -> serde_json::Value {
    node.get("action=sync_peers")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == port)
        .unwrap_or_else(|| panic!("no counters for port {port}"))
        .clone()
}

fn line(id: &str, epoch: u64, text: &str) -> String {
    format!("{id}\t{epoch}\t{text}\tK1ABC\tlua-node-a\tnode\t\n")
}

/// A legacy peer serving fixed bodies, each with its correct checksum.
fn legacy_peer(users: String, files: String, messages: String) -> Fake {
    let version: u64 = messages
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split('\t').next()?, 16).ok())
        .sum();
    Fake::start(move |a, c| match a.action() {
        "users_raw" => text_md5(c, users.as_bytes()),
        "local_files_raw" => text_md5(c, files.as_bytes()),
        "messages_version" => text(c, format!("{version}\n").as_bytes()),
        "messages_raw" => text_md5(c, messages.as_bytes()),
        _ => text(c, b"error no action\n"),
    })
}

#[test]
fn pulls_from_a_recorded_lua_node() {
    let node = Node::new("sync-lua", "node-b", &[]);
    // Users as recorded (fixture 17), made recent so they are not pruned as stale.
    let users = fixture("17-users_raw.http")
        .text()
        .replace("1795661251", &now().to_string());
    let files = fixture("21-local_files_raw.http").text();
    let raw = fixture("11-messages_raw.http");
    let version = fixture("13-messages_version.http");
    assert_eq!(version.text(), "2173234402\n", "legacy adds a newline");
    let fake = Fake::start(move |a, c| match a.action() {
        "users_raw" => text_md5(c, users.as_bytes()),
        "local_files_raw" => text_md5(c, files.as_bytes()),
        "messages_version" => text(c, &version.body),
        "messages_raw" => respond(
            c,
            "200 OK",
            &[(
                "Content-MD5",
                raw.header("Content-MD5").unwrap().to_string(),
            )],
            &raw.body,
        ),
        _ => text(c, b"error no action\n"),
    });
    advertise(&node, &[fake.port]);
    sync_once(&node, &[]);
    // A peer never seen is asked with digest-v1 first; the Lua node's "error no
    // action" (no checksum) turns the same round into the legacy steps.
    assert_eq!(
        fake.actions(),
        [
            "sync_digest",
            "users_raw",
            "local_files_raw",
            "messages_version",
            "messages_raw"
        ]
    );
    assert_eq!(node.message_ids(), ["0a1b2c3d", "1f2e3d4c", "583f8359"]);
    // The same lines, byte for byte, as the Lua node serves them (fixture 41).
    assert_eq!(
        node.get("action=messages_raw").body,
        fixture("41-B_messages_raw.http").body
    );
    let users = node.get("action=users").json();
    let calls: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["call_sign"].as_str().unwrap())
        .collect();
    assert_eq!(calls.len(), 2, "{users}");
    assert!(calls.contains(&"K1ABC") && calls.contains(&"W2XYZ"));
    // Lua 2.18's file lines lack a TAB; they are understood anyway.
    let files = node.get("action=files").json();
    let names: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello.txt", "blob.bin"]);
    assert_eq!(files["files"][0]["node"], "lua-node-a:8081");
    let status = node.get("action=sync_status").json();
    // Off port 8080 a peer's status is kept under NAME_PORT (another could share the host).
    assert_eq!(status[0]["node"], format!("127.0.0.1_{}", fake.port));

    // Again (a new process: the digest-v1 probe once more): the version (with its
    // newline) now equals ours, so three legacy requests only.
    sync_once(&node, &[]);
    assert_eq!(
        fake.actions()[5..],
        [
            "sync_digest",
            "users_raw",
            "local_files_raw",
            "messages_version"
        ]
    );
}

fn good_peer(t: u64) -> Fake {
    legacy_peer(
        String::new(),
        String::new(),
        line("900d0001", t, "from a good peer"),
    )
}

/// Right bodies, wrong checksums.
fn bad_md5_peer(t: u64) -> Fake {
    Fake::start(move |a, c| {
        let body = match a.action() {
            "messages_version" => return text(c, b"1234\n"),
            "messages_raw" => line("0bad0001", t, "checksum lies"),
            "users_raw" => "EVIL\tx1\tevil-node\t1\tnode\n".to_string(),
            _ => "evil.txt\tevil-node:8080\t1\t1\tnode\n".to_string(),
        };
        respond(
            c,
            "200 OK",
            &[("Content-MD5", "0123456789abcdef0123456789abcdef".into())],
            body.as_bytes(),
        );
    })
}

/// A body cut short: the connection closes before Content-Length bytes came.
fn truncated_peer(t: u64) -> Fake {
    Fake::start(move |a, c| match a.action() {
        "messages_version" => text(c, b"99\n"),
        "messages_raw" => {
            let body = line("7c000001", t, "cut") + &line("7c000002", t, "never complete");
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-MD5: {}\r\nContent-Length: {}\r\n\r\n",
                    md5_hex(body.as_bytes()),
                    body.len() + 500
                )
                .as_bytes(),
            );
            let _ = c.write_all(body.as_bytes());
        }
        _ => text_md5(c, b""),
    })
}

/// 50 MB of valid-looking lines, with no length announced: cut off at the cap.
fn huge_peer(t: u64) -> Fake {
    Fake::start(move |a, c| match a.action() {
        "messages_version" => text(c, b"77\n"),
        "messages_raw" => {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-MD5: 00000000000000000000000000000000\r\nConnection: close\r\n\r\n");
            let chunk = line("4b000001", t, &"x".repeat(900)).repeat(64);
            let mut sent = 0;
            while sent < 50 << 20 {
                if c.write_all(chunk.as_bytes()).is_err() {
                    break;
                }
                sent += chunk.len();
            }
        }
        _ => text_md5(c, b""),
    })
}

/// 50 MB announced up front.
fn huge_announced_peer() -> Fake {
    Fake::start(move |a, c| match a.action() {
        "users_raw" => {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n");
            let _ = c.write_all(&[b'A'; 65536]);
        }
        _ => text_md5(c, b""),
    })
}

/// Checksums right, content garbage: only the one valid line may land.
fn garbage_peer(t: u64) -> Fake {
    let garbage_lines = [
        line("600d0001", t, "the only good line"),
        "complete garbage\n".into(),
        "\u{1}\u{2}\u{3}binary\tjunk\n".into(),
        line("7ab00001", t, "injected\tTAB"),
        format!("7ab00002\t{t}\ttext\tK1\tABC\tlua-node-a\tnode\t\n"),
        line("f0000001", t + 40 * 86400, "from the future"),
        format!("5e000001\t{t}\tx\tK1ABC\ta;reboot\tnode\t\n"),
        format!("5e000002\t{t}\tx\tK1\u{1b}[2J\tn\tnode\t\n"),
    ]
    .concat();
    legacy_peer(
        "K1ABC\tx\tnode\tnot-a-number\tnode\nW2XYZ\tid2\tbad node\t1\tnode\n".into(),
        "../../etc/passwd\tn:8080\t1\t1\tnode\n".into(),
        garbage_lines,
    )
}

/// Answers, then trickles a byte every 300 ms: under 1000 B/s, cut off.
fn trickle_peer(t: u64) -> Fake {
    Fake::start(move |a, c| match a.action() {
        "messages_version" => text(c, b"55\n"),
        "messages_raw" => {
            let body = line("51000001", t, "slowly");
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-MD5: {}\r\nContent-Length: {}\r\n\r\n",
                    md5_hex(body.as_bytes()),
                    body.len()
                )
                .as_bytes(),
            );
            for b in body.bytes() {
                if c.write_all(&[b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        _ => text_md5(c, b""),
    })
}

/// Never answers (holds the connection).
fn silent_peer() -> Fake {
    Fake::start(|_, _| std::thread::sleep(Duration::from_secs(30)))
}

fn not_found_peer() -> Fake {
    Fake::start(|_, c| respond(c, "404 Not Found", &[], b"not here"))
}

/// One `sync --once` round (stall window 2 s) of a fresh node with `peers`; the node and
/// the round's stderr. `--once` succeeds when at least one peer answered.
fn one_round(tag: &str, peers: &[&Fake]) -> (Node, String) {
    let (node, out) = one_round_output(tag, peers);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sync failed: {stderr}");
    (node, stderr)
}

fn one_round_output(tag: &str, peers: &[&Fake]) -> (Node, Output) {
    let node = Node::new(tag, "node-h", &[]);
    advertise(&node, &peers.iter().map(|p| p.port).collect::<Vec<_>>());
    let out = sync_once_output(&node, &["--stall", "2", "--stats"]);
    (node, out)
}

fn last_error(node: &Node, peer: &Fake) -> String {
    peer_stats(node, peer.port)["last_error"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn all_hostile_peers_in_one_round_store_nothing_bad() {
    let t = now();
    let (good, bad_md5, truncated, huge) = (
        good_peer(t),
        bad_md5_peer(t),
        truncated_peer(t),
        huge_peer(t),
    );
    let (huge_announced, garbage, trickle) =
        (huge_announced_peer(), garbage_peer(t), trickle_peer(t));
    let (silent, not_found) = (silent_peer(), not_found_peer());
    let all = [
        &good,
        &bad_md5,
        &truncated,
        &huge,
        &huge_announced,
        &garbage,
        &trickle,
        &silent,
        &not_found,
    ];
    let started = Instant::now();
    let (node, stderr) = one_round("sync-hostile", &all);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "round took {took:?}: {stderr}"
    );
    assert_eq!(node.message_ids(), ["600d0001", "900d0001"], "{stderr}");
    let users = node.get("action=users").json();
    assert_eq!(users.as_array().unwrap().len(), 0, "{users}");
    let files = node.get("action=files").json();
    assert_eq!(files["files"].as_array().unwrap().len(), 0, "{files}");
    let st = |p: u16| peer_stats(&node, p);
    assert_eq!(st(good.port)["errors"], 0);
    assert_eq!(st(good.port)["pulled"], 1);
    // Only rounds that succeeded count as synced.
    assert!(st(good.port)["last_sync"].as_u64().unwrap() >= t);
    for p in [&silent, &not_found, &huge_announced, &trickle] {
        assert_eq!(st(p.port)["last_sync"], 0, "{}", st(p.port));
    }
}

#[test]
fn wrong_checksums_store_nothing() {
    let peer = bad_md5_peer(now());
    let (node, stderr) = one_round("sync-bad-md5", &[&peer]);
    assert!(node.message_ids().is_empty(), "{stderr}");
    assert_eq!(node.get("action=users").json().as_array().unwrap().len(), 0);
    assert!(last_error(&node, &peer).contains("Content-MD5"));
}

#[test]
fn a_truncated_body_is_an_error() {
    let peer = truncated_peer(now());
    let (node, stderr) = one_round("sync-truncated", &[&peer]);
    assert!(node.message_ids().is_empty(), "{stderr}");
    assert!(peer_stats(&node, peer.port)["errors"].as_u64().unwrap() >= 1);
}

#[test]
fn bodies_past_the_cap_are_cut_off_while_reading() {
    let (huge, announced) = (huge_peer(now()), huge_announced_peer());
    let (node, stderr) = one_round("sync-huge", &[&huge, &announced]);
    assert!(node.message_ids().is_empty(), "{stderr}");
    assert!(
        last_error(&node, &huge).contains("larger than"),
        "{}",
        peer_stats(&node, huge.port)
    );
    assert!(last_error(&node, &announced).contains("larger than"));
    // Far less than 50 MB crossed the wire.
    assert!(peer_stats(&node, huge.port)["bytes"].as_u64().unwrap() < 6 << 20);
}

#[test]
fn garbage_lines_are_rejected_one_by_one() {
    let peer = garbage_peer(now());
    let (node, stderr) = one_round("sync-garbage", &[&peer]);
    assert_eq!(node.message_ids(), ["600d0001"], "{stderr}");
    let files = node.get("action=files").json();
    assert_eq!(files["files"].as_array().unwrap().len(), 0, "{files}");
    let st = peer_stats(&node, peer.port);
    // 7 bad message lines, 2 bad user lines, 1 bad file line.
    assert_eq!(st["rejected"], 10, "{st}");
    assert_eq!(st["pulled"], 1);
}

#[test]
fn a_trickling_peer_is_cut_off() {
    let peer = trickle_peer(now());
    // Too slow counts as unreachable: the only peer, so `--once` fails.
    let (node, out) = one_round_output("sync-trickle", &[&peer]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(node.message_ids().is_empty(), "{stderr}");
    assert!(
        last_error(&node, &peer).contains("slower than 1000 B/s"),
        "{}",
        peer_stats(&node, peer.port)
    );
}

#[test]
fn a_silent_peer_times_out_and_once_fails_when_no_peer_answered() {
    let peer = silent_peer();
    let (node, out) = one_round_output("sync-silent", &[&peer]);
    assert_eq!(last_error(&node, &peer), "timed out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no peer could be reached (1 peer tried)"),
        "{stderr}"
    );
}

#[test]
fn once_fails_when_no_peer_is_found() {
    let node = Node::new("sync-nobody", "node-n", &[]);
    let out = sync_once_output(&node, &["--verbose"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("0 peers ("), "{stderr}");
    assert!(stderr.contains("no peers found"), "{stderr}");
}

#[test]
fn a_404_peer_is_backed_off() {
    let peer = not_found_peer();
    let (node, _) = one_round("sync-404", &[&peer]);
    assert_eq!(peer_stats(&node, peer.port)["mode"], "backoff");
}

/// A legacy peer whose messages can grow while the test runs.
fn growing_peer() -> (Fake, Arc<Mutex<String>>) {
    let lines = Arc::new(Mutex::new(String::new()));
    let l = lines.clone();
    let fake = Fake::start(move |a, c| {
        let body = l.lock().unwrap().clone();
        match a.action() {
            "messages_version" => text(c, body.len().to_string().as_bytes()),
            "messages_raw" => text_md5(c, body.as_bytes()),
            _ => text_md5(c, b""),
        }
    });
    (fake, lines)
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `meshchat sync --stats` running for `node`, and its stats lines.
fn daemon(node: &Node) -> (Daemon, BufReader<std::process::ChildStdout>) {
    let mut d = Daemon(node.sync_with_stats());
    let stats = BufReader::new(d.0.stdout.take().unwrap());
    (d, stats)
}

#[test]
fn a_404_peer_is_asked_once_then_left_alone() {
    let node = Node::new("sync-daemon-404", "node-d", &[("poll_interval", "1")]);
    let (good, _lines) = growing_peer();
    let not_found = Fake::start(|_, c| respond(c, "404 Not Found", &[], b""));
    advertise(&node, &[not_found.port, good.port]);
    let (_d, mut stats) = daemon(&node);
    // Two rounds of the good peer: the 404 peer had as many chances to be asked.
    let good_round = format!("peer=127.0.0.1:{} mode=legacy ok=1", good.port);
    let mut rounds = 0;
    while rounds < 2 {
        let mut l = String::new();
        assert!(stats.read_line(&mut l).unwrap() > 0, "daemon ended");
        if l.starts_with(&good_round) {
            rounds += 1;
        }
    }
    // Left alone for 600 s after its first answer (to the digest-v1 check).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(not_found.actions(), ["sync_digest"]);
}

#[test]
fn a_dead_peer_delays_nobody_and_sigterm_is_prompt() {
    let node = Node::new("sync-daemon", "node-d", &[("poll_interval", "1")]);
    let (good, lines) = growing_peer();
    let silent = Fake::start(|_, _| std::thread::sleep(Duration::from_secs(60)));
    advertise(&node, &[silent.port, good.port]);
    let (mut d, mut stats) = daemon(&node);
    let good_round = format!("peer=127.0.0.1:{} mode=legacy ok=1", good.port);
    loop {
        let mut l = String::new();
        assert!(stats.read_line(&mut l).unwrap() > 0, "daemon ended");
        if l.starts_with(&good_round) {
            break;
        }
    }

    // The silent peer holds a worker for 10 s; a new message elsewhere still arrives
    // within a couple of poll intervals.
    lines
        .lock()
        .unwrap()
        .push_str(&line("5ee00001", now(), "not delayed"));
    let posted = Instant::now();
    wait_for(5, "the good peer's message", || {
        node.message_ids() == ["5ee00001"]
    });
    assert!(posted.elapsed() < Duration::from_secs(4));
    assert_eq!(
        silent.actions().len(),
        1,
        "still waiting on its first request"
    );

    // SIGTERM while a request to the silent peer is in flight.
    let t = Instant::now();
    Command::new("kill")
        .arg("-TERM")
        .arg(d.0.id().to_string())
        .status()
        .unwrap();
    let status = loop {
        if let Some(s) = d.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "not stopped within 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_extension_under_cgi() {
    let node = Node::new("sync-cgi", "node-c", &[]);
    let t = now();
    for (id, text) in [("0000000a", "one"), ("0000000b", "two")] {
        let (status, why) = node
            .post(&[
                ("action", "send_message"),
                ("id", id),
                ("message", text),
                ("call_sign", "K1ABC"),
                ("epoch", &t.to_string()),
            ])
            .status_reply();
        assert_eq!(status, 200, "{why}");
    }
    assert_eq!(node.get("action=config").json()["sync"][0], "digest-v1");
    let users = node.get("action=users_raw");
    assert_eq!(users.header("X-Meshchat-Sync"), Some("digest-v1"));

    // A first check: the version, the lists' CRCs, the partition.
    let r = node.get("action=sync_digest&v=1&node=x&platform=node");
    assert_eq!(
        r.header("Content-MD5").unwrap(),
        md5_hex(&r.body),
        "checksummed"
    );
    let text = r.text();
    let first = text.lines().next().unwrap().to_string();
    let version = first.split(' ').nth(1).unwrap().to_string();
    assert_eq!(version, (0x0a + 0x0b).to_string());
    assert!(text.contains(&format!("\nR {t}.0000000a ~ 2 ")), "{text}");
    let u = first.split(' ').nth(2).unwrap();
    let f = first.split(' ').nth(3).unwrap();
    assert!(
        text.contains("\nU 0\n") && text.contains("\nF 0\n"),
        "{text}"
    );

    // Nothing changed since: the answer is its first line.
    let r = node.get(&format!("action=sync_digest&v=1&m={version}&u={u}&f={f}"));
    assert_eq!(r.text(), format!("{first}\n"));

    // Queries, as a form POST: what do I lack, holding 0000000a?
    let r = node.post(&[
        ("action", "sync_digest"),
        ("v", "1"),
        ("q", &format!("h{t}-~-0000000a_l0-~_g0000000a")),
    ]);
    let text = r.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "M 1");
    assert!(lines[2].starts_with("0000000b\t"), "{text}");
    assert_eq!(lines[3], "I 0 ~ 0000000a0000000b");
    assert_eq!(lines[4], "M 1");
    assert!(lines[5].starts_with("0000000a\t"), "{text}");
    let bad = node.get("action=sync_digest&v=1&q=zzz");
    assert!(bad.text().contains("bad digest data"), "{}", bad.text());
    let bad = node.get("action=sync_digest&v=2");
    assert!(bad.text().contains("unsupported"), "{}", bad.text());
}

#[test]
fn the_extension_switched_off_is_a_legacy_node() {
    let off = Node::new("sync-cgi-off", "node-o", &[("digest_sync", "0")]);
    assert!(off.get("action=config").json().get("sync").is_none());
    assert_eq!(off.get("action=users_raw").header("X-Meshchat-Sync"), None);
    assert_eq!(
        off.get("action=sync_digest&v=1").text(),
        "error no action\n"
    );
}
