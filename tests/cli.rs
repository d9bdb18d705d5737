//! `meshchat send` and `meshchat tail` against a real `meshchat serve`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

#[test]
fn send_and_tail_over_http() {
    let node = Node::new("cli", "cli-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let url = format!("http://{}", server.addr);

    let (ok, _, err) = run_cli(&[
        "send",
        "--url",
        &url,
        "--call-sign",
        "K1ABC",
        "--channel",
        "ops",
        "hello",
        "from",
        "the",
        "shell",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run_cli(&["send", "--url", &url, "--call-sign", "K1\tABC", "x"]);
    assert!(!ok);
    assert!(err.contains("call_sign"), "{err}");
    // The server's own refusal comes back as it is (HTTP 400 from serve).
    let (ok, _, err) = run_cli(&[
        "send",
        "--url",
        &url,
        "--call-sign",
        "W2XYZ",
        "--channel",
        "net control",
        "x",
    ]);
    assert!(!ok);
    assert!(err.contains("refused: invalid channel"), "{err}");
    let (ok, _, err) = run_cli(&["send", "--url", "127.0.0.1:9", "--call-sign", "K1ABC", "x"]);
    assert!(!ok && !err.is_empty());

    let (ok, out, err) = run_cli(&["tail", "--url", &url, "-n", "5"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("[ops] K1ABC@cli-node: hello from the shell"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);

    // --follow prints what others post later.
    let mut child = Command::new(bin())
        .args([
            "tail",
            "--url",
            &url,
            "--follow",
            "--interval",
            "1",
            "--channel",
            "ops",
            "-n",
            "1",
        ])
        .env_clear()
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    // The newest existing message first: tail has read the node before anyone posts, so
    // the posts below are news to it however slowly it started.
    let existing = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the newest existing message");
    assert!(existing.ends_with("hello from the shell"), "{existing}");
    let (ok, _, _) = run_cli(&[
        "send",
        "--url",
        &url,
        "--call-sign",
        "N0B",
        "--channel",
        "other",
        "not this one",
    ]);
    assert!(ok);
    let (ok, _, _) = run_cli(&[
        "send",
        "--url",
        &url,
        "--call-sign",
        "N0B",
        "--channel",
        "ops",
        "line1\nline2",
    ]);
    assert!(ok);
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a followed message");
    assert!(first.ends_with("[ops] N0B@cli-node: line1"), "{first}");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "    line2"
    );
    let _ = child.kill();
    let _ = child.wait();
}
