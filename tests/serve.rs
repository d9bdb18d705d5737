//! `meshchat serve` over real HTTP on an ephemeral loopback port.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn the_api_and_the_ui_over_http() {
    let node = Node::new(
        "serve",
        "pi-node",
        &[("max_file_storage", "5000"), ("default_channel", "ops")],
    );
    let server = Server::start(&node, "127.0.0.1:0");

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
    assert_eq!(server.get("/meshchat/nope.js").status, 404);
    assert_eq!(server.get("/meshchat/../Cargo.toml").status, 404);
    assert_eq!(server.get("/etc/passwd").status, 404);

    // config
    let r = server.get("/cgi-bin/meshchat?action=config");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["node"], "pi-node");
    assert_eq!(v["default_channel"], "ops");
    assert_eq!(v["protocol_verison"], "1.02");

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
    let r = server.get("/cgi-bin/meshchat?action=messages_raw");
    assert_eq!(r.header("Content-MD5").unwrap(), md5_hex(&r.body));
    assert_eq!(
        server
            .get("/cgi-bin/meshchat?action=messages_version")
            .text(),
        "2882400001"
    );

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

    // Presence through the UI's poll.
    let r = server.get(&format!(
        "/cgi-bin/meshchat?action=messages_version_ui&call_sign=K1ABC&id=sess1&epoch={}",
        now()
    ));
    assert_eq!(r.json()["messages_version"], 2882400001u64);
    let users = server.get("/cgi-bin/meshchat?action=users").json();
    assert_eq!(users[0]["call_sign"], "K1ABC");
    assert_eq!(users[0]["node"], "pi-node");
}

#[test]
fn stalled_clients_do_not_block_others_and_sigterm_stops_it() {
    let node = Node::new("serve-slow", "pi-node", &[]);
    let mut server = Server::start(&node, "127.0.0.1:0");
    // Many clients that connect and never finish their request.
    let idle: Vec<TcpStream> = (0..64)
        .map(|i| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            if i % 2 == 0 {
                s.write_all(b"GET /cgi-bin/meshchat?action=config HTTP/1.1\r\nHo")
                    .unwrap();
            }
            s
        })
        .collect();
    // A request body that never arrives keeps no worker from the others for long.
    let mut slow_post = TcpStream::connect(&server.addr).unwrap();
    slow_post
        .write_all(b"POST /cgi-bin/meshchat HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\naction=")
        .unwrap();
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(server.get("/cgi-bin/meshchat?action=config").status, 200);
    }
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "others were served meanwhile"
    );
    drop(idle);
    drop(slow_post);

    // A well-formed request with keep-alive: two requests on one connection.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /cgi-bin/meshchat?action=action_log HTTP/1.1\r\nHost: x\r\n\r\nGET /cgi-bin/meshchat?action=action_log HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(
        String::from_utf8_lossy(&out)
            .matches("HTTP/1.1 200")
            .count(),
        2
    );

    let t = Instant::now();
    server.stop();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "SIGTERM stops serve promptly"
    );
    assert!(server.child.try_wait().unwrap().unwrap().success());
}
