//! `meshchat serve` over real HTTP on an ephemeral loopback port.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// A node started with `serve` on a free loopback port.
fn started(tag: &str) -> (Node, Server) {
    let node = Node::new(
        tag,
        "pi-node",
        &[("max_file_storage", "5000"), ("default_channel", "ops")],
    );
    let server = Server::start(&node, "127.0.0.1:0");
    (node, server)
}

fn post_form(server: &Server, body: &str) -> Reply {
    server.post(
        "/cgi-bin/meshchat",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
        "",
    )
}

#[test]
fn the_ui_every_embedded_file_and_the_redirect() {
    let (_node, server) = started("serve-ui");
    // The node's hourly service check, the redirect, the UI.
    let r = server.get("/meshchat");
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("<html") || r.text().contains("<!doctype"),
        "index.html"
    );
    assert_eq!(server.get("/meshchat/").status, 200);
    let r = server.get("/");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("/meshchat/"));
    // Every embedded file, as it is in www/, plain or gzip'd.
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/www")).unwrap() {
        let path = e.unwrap().path();
        let want = std::fs::read(&path).unwrap();
        let url = format!("/meshchat/{}", path.file_name().unwrap().to_string_lossy());
        assert_eq!(server.get(&url).body, want, "{url}");
        let r = server.request(
            format!("GET {url} HTTP/1.1\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
        assert_eq!(gunzip(&r.body), want, "{url} gzip'd");
    }
    assert_eq!(server.get("/meshchat/nope.js").status, 404);
    assert_eq!(server.get("/meshchat/../Cargo.toml").status, 404);
    assert_eq!(server.get("/etc/passwd").status, 404);
}

#[test]
fn config_over_http() {
    let (_node, server) = started("serve-config");
    let r = server.get("/cgi-bin/meshchat?action=config");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["node"], "pi-node");
    assert_eq!(v["default_channel"], "ops");
    assert_eq!(v["protocol_verison"], "1.02");
}

#[test]
fn send_message_and_the_messages_it_makes() {
    let (_node, server) = started("serve-messages");
    // send_message as the legacy UI posts it; a refusal is HTTP 400 here.
    let body = format!(
        "action=send_message&message=over+http&call_sign=K1ABC&channel=ops&id=abcdef01&epoch={}",
        now()
    );
    let r = server.post(
        "/cgi-bin/meshchat",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
        "",
    );
    assert_eq!((r.status, r.status_reply()), (200, (200, "OK".into())));
    let r = server.post(
        "/cgi-bin/meshchat",
        "application/x-www-form-urlencoded",
        b"action=send_message&message=x&call_sign=K1%09X",
        "",
    );
    assert_eq!(r.status, 400);
    assert!(r.status_reply().1.contains("call_sign"));

    // messages, plain and gzip'd.
    let r = server.get("/cgi-bin/meshchat?action=messages");
    assert_eq!(r.json()[0]["message"], "over http");
    let r = server.request(b"GET /cgi-bin/meshchat?action=messages HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    let v: serde_json::Value = serde_json::from_slice(&gunzip(&r.body)).unwrap();
    assert_eq!(v[0]["id"], "abcdef01");
    // The cached bodies follow every change of the log.
    let body = format!(
        "action=send_message&message=second&call_sign=K1ABC&channel=ops&id=abcdef02&epoch={}",
        now() + 5
    );
    server.post(
        "/cgi-bin/meshchat",
        "application/x-www-form-urlencoded",
        body.as_bytes(),
        "",
    );
    assert_eq!(
        server.get("/cgi-bin/meshchat?action=messages").json()[0]["message"],
        "second"
    );
    let r = server.request(b"GET /cgi-bin/meshchat?action=messages HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    let v: serde_json::Value = serde_json::from_slice(&gunzip(&r.body)).unwrap();
    assert_eq!(v[0]["id"], "abcdef02");
    assert_eq!(v.as_array().unwrap().len(), 2);
    let body =
        "action=send_message&message=x&call_sign=K1ABC&channel=ops&id=abcdef02&epoch=1".as_bytes();
    server.post(
        "/cgi-bin/meshchat",
        "application/x-www-form-urlencoded",
        body,
        "",
    );
    assert_eq!(
        server
            .get("/cgi-bin/meshchat?action=messages")
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "a duplicate id is ignored"
    );
    let r = server.get("/cgi-bin/meshchat?action=messages_raw");
    assert_eq!(r.header("Content-MD5").unwrap(), md5_hex(&r.body));
    assert_eq!(
        server
            .get("/cgi-bin/meshchat?action=messages_version")
            .text(),
        (0xabcdef01u64 + 0xabcdef02).to_string()
    );
}

#[test]
fn upload_download_delete_rights_and_quota() {
    let (_node, server) = started("serve-files");
    // Upload, download byte-identical, delete rights, quota.
    let up = Cgi::upload(
        "",
        "uploadfile",
        "report.bin",
        &(0..=255u8).cycle().take(3000).collect::<Vec<_>>(),
    );
    let ct = up.content_type.clone().unwrap();
    let r = server.post("/cgi-bin/meshchat?action=upload_file", &ct, &up.body, "");
    assert_eq!(r.status_reply(), (200, "OK".into()));
    let cookie = r
        .header("Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = server.get("/cgi-bin/meshchat?action=file_download&file=report.bin");
    assert_eq!(r.body, (0..=255u8).cycle().take(3000).collect::<Vec<_>>());
    assert_eq!(r.header("Content-MD5").unwrap(), md5_hex(&r.body));
    assert_eq!(
        r.header("Content-Disposition"),
        Some("attachment; filename=\"report.bin\";")
    );
    let r = server.post(
        "/cgi-bin/meshchat?action=upload_file",
        &ct,
        &up.body,
        &format!("Cookie: {cookie}\r\n"),
    );
    assert_eq!(
        r.status_reply().0,
        200,
        "its uploader may replace it, and it fits"
    );
    let r = server.post("/cgi-bin/meshchat?action=upload_file", &ct, &up.body, "");
    assert_eq!(r.status, 403, "another browser may not replace it");
    let big = Cgi::upload("", "uploadfile", "big.bin", &[0; 4000]);
    let r = server.post("/cgi-bin/meshchat?action=upload_file", &ct, &big.body, "");
    assert_eq!(
        (r.status, r.status_reply().1.as_str()),
        (413, "Not enough storage, delete some files")
    );
    let r = server.get("/cgi-bin/meshchat?action=delete_file&file=report.bin");
    assert_eq!(r.status, 403);
    let r = server.request(
        format!("GET /cgi-bin/meshchat?action=delete_file&file=report.bin HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!((r.status, r.status_reply()), (200, (200, "OK".into())));
}

#[test]
fn presence_through_the_ui_poll() {
    let (_node, server) = started("serve-presence");
    let body = format!(
        "action=send_message&message=hi&call_sign=K1ABC&channel=ops&id=abcdef01&epoch={}",
        now()
    );
    assert_eq!(post_form(&server, &body).status_reply().0, 200);
    let r = server.get(&format!(
        "/cgi-bin/meshchat?action=messages_version_ui&call_sign=K1ABC&id=sess1&epoch={}",
        now()
    ));
    assert_eq!(r.json()["messages_version"], 0xabcdef01u64);
    let users = server.get("/cgi-bin/meshchat?action=users").json();
    assert_eq!(users[0]["call_sign"], "K1ABC");
    assert_eq!(users[0]["node"], "pi-node");
}

const CONFIG: &str =
    "GET /cgi-bin/meshchat?action=config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Sends `bytes` on a new connection; everything the server answers until it closes.
fn raw_exchange(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn stalled_clients_are_bounded_and_the_server_recovers() {
    let node = Node::new("serve-slow", "pi-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let connect = || TcpStream::connect(&server.addr).unwrap();
    let config = CONFIG;

    // A few clients that stall mid-head or mid-body hold a few workers; others are served.
    let mut stalled = Vec::new();
    for i in 0..6 {
        let mut s = connect();
        if i % 2 == 0 {
            s.write_all(b"GET /cgi-bin/meshchat?action=config HTTP/1.1\r\nHo")
                .unwrap();
        } else {
            s.write_all(b"POST /cgi-bin/meshchat HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\naction=").unwrap();
        }
        stalled.push(s);
    }
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(server.get("/cgi-bin/meshchat?action=config").status, 200);
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "others were served meanwhile"
    );

    // Saturate: every worker held and the queue full; the next client is told at once.
    for _ in 0..(16 + 32) {
        let mut s = connect();
        s.write_all(b"POST /cgi-bin/meshchat HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
            .unwrap();
        stalled.push(s);
    }
    let mut saw_503 = false;
    for _ in 0..20 {
        let mut s = connect();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(config.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if !out.is_empty() && parse_http(&out).status == 503 {
            saw_503 = true;
            break;
        }
        stalled.push(s);
    }
    assert!(
        saw_503,
        "overload is answered at once, not queued without bound"
    );

    // The stalled clients are cut off by the timeouts; the server recovers by itself.
    let t = Instant::now();
    wait_for(60, "the server to recover", || {
        let mut s = connect();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(config.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        !out.is_empty() && parse_http(&out).status == 200
    });
    assert!(t.elapsed() < Duration::from_secs(45));
    drop(stalled);
}

#[test]
fn one_request_per_connection() {
    let node = Node::new("serve-one", "pi-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let out = raw_exchange(
        &server,
        format!("{CONFIG}{CONFIG}")
            .replace("Connection: close\r\n", "")
            .as_bytes(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out)
            .matches("HTTP/1.1 200")
            .count(),
        1
    );
}

#[test]
fn malformed_and_oversized_heads_get_their_status() {
    let node = Node::new("serve-heads", "pi-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let raw = |bytes: &[u8]| parse_http(&raw_exchange(&server, bytes)).status;
    assert_eq!(raw(b"BLAH\r\n\r\n"), 400);
    assert_eq!(
        raw(format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(40_000)).as_bytes()),
        431
    );
    assert_eq!(
        raw(b"POST /cgi-bin/meshchat HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        411
    );
}

#[test]
fn expect_100_continue_is_honoured() {
    let node = Node::new("serve-expect", "pi-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    // curl's Expect: 100-continue.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /cgi-bin/meshchat HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 13\r\n\r\n").unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"action=config").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(parse_http(&out).json()["node"], "pi-node");
}

#[test]
fn sigterm_stops_serve_promptly() {
    let node = Node::new("serve-stop", "pi-node", &[]);
    let mut server = Server::start(&node, "127.0.0.1:0");
    assert_eq!(server.get("/cgi-bin/meshchat?action=config").status, 200);
    let t = Instant::now();
    server.stop();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "SIGTERM stops serve promptly"
    );
    assert!(server.child.try_wait().unwrap().unwrap().success());
}

#[test]
fn a_head_that_arrives_whole_but_late_is_answered() {
    // A lost segment sent again seconds later: the head arrives whole after 6 s.
    let node = Node::new("serve-late", "pi-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    s.write_all(b"GET /cgi-bin/meshchat?action=config HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(parse_http(&out).json()["node"], "pi-node");
}

#[test]
fn a_dripping_head_gets_408() {
    let node = Node::new("serve-drip", "pi-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    let mut w = s.try_clone().unwrap();
    // One byte a second: never a whole head within the 15 s deadline.
    let drip = std::thread::spawn(move || {
        for b in b"GET /cgi-bin/meshchat?action=config HTTP/1.1\r\nX-Slow: 123456789012345678901234567890\r\n" {
            if w.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let t = Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let took = t.elapsed();
    assert_eq!(
        parse_http(&out).status,
        408,
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(
        took >= Duration::from_secs(14) && took < Duration::from_secs(20),
        "{took:?}"
    );
    drop(s);
    drip.join().unwrap();
}
