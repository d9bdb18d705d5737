//! Every command works as README.md documents it: help and errors, stdin for `send`,
//! quiet ends on a closed pipe, what `compact`, `serve` and `sync --once` say, and the
//! flags each subcommand takes (README and `--help` agree).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

use common::*;

fn meshchat(args: &[&str]) -> Output {
    Command::new(bin()).args(args).env_clear().output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SUBCOMMANDS: &[&str] = &[
    "cgi",
    "serve",
    "sync",
    "import",
    "compact",
    "purge",
    "export",
    "check-config",
    "send",
    "tail",
];

#[test]
fn dash_h_and_help_work_everywhere() {
    for flag in ["-h", "--help"] {
        let out = meshchat(&[flag]);
        assert!(out.status.success(), "{flag}");
        assert!(text(&out.stdout).starts_with("Usage: meshchat "), "{flag}");
        for sub in SUBCOMMANDS {
            let out = meshchat(&[sub, flag]);
            assert!(out.status.success(), "{sub} {flag}: {}", text(&out.stderr));
            let help = text(&out.stdout);
            assert!(
                help.starts_with(&format!("Usage: meshchat {sub}")),
                "{sub} {flag}: {help}"
            );
            assert!(help.contains("-h, --help"), "{sub} {flag}: {help}");
        }
    }
}

#[test]
fn an_error_points_to_the_subcommands_help() {
    let out = meshchat(&["send", "--url", "x", "--bogus"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Unrecognized argument: --bogus"), "{err}");
    assert!(err.contains("Run `meshchat send --help`"), "{err}");
    let out = meshchat(&["tail"]);
    assert!(text(&out.stderr).contains("Run `meshchat tail --help`"));
    let out = meshchat(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Run `meshchat --help`"));
}

#[test]
fn send_help_shows_the_message_and_stdin() {
    let help = text(&meshchat(&["send", "--help"]).stdout);
    assert!(help.contains("[message...]"), "{help}");
    assert!(
        help.contains("MESSAGE: the words after the options"),
        "{help}"
    );
    assert!(help.contains("the message from stdin"), "{help}");
    let out = meshchat(&["send", "--url", "127.0.0.1:9", "--call-sign", "K1ABC"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no message given"));
}

#[test]
fn send_reads_stdin_for_dash_and_upper_cases_the_call_sign() {
    let node = Node::new("cmd-send", "cmd-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let url = format!("http://{}", server.addr);
    let mut child = Command::new(bin())
        .args(["send", "--url", &url, "--call-sign", "k1abc", "-"])
        .env_clear()
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\nsecond line\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // `-- -` keeps working too.
    let out = Command::new(bin())
        .args(["send", "--url", &url, "--call-sign", "W2XYZ", "--", "-"])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "an empty message is refused");
    let v = server.get("/cgi-bin/meshchat?action=messages").json();
    assert_eq!(v[0]["message"], "from stdin\nsecond line");
    assert_eq!(v[0]["call_sign"], "K1ABC");
}

#[test]
fn a_message_may_say_help() {
    let node = Node::new("cmd-help-word", "help-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let url = format!("http://{}", server.addr);
    for words in [
        &["I", "need", "help"][..],
        &["help"],
        &["use", "-h", "or", "--help"],
    ] {
        let mut args = vec!["send", "--url", &url, "--call-sign", "K1ABC"];
        args.extend_from_slice(words);
        let out = meshchat(&args);
        assert!(out.status.success(), "{words:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "", "{words:?}: no help printed");
        // Messages of the same second are ordered by id: look for it among them.
        let v = server.get("/cgi-bin/meshchat?action=messages").json();
        let sent = words.join(" ");
        assert!(
            v.as_array().unwrap().iter().any(|m| m["message"] == sent),
            "{sent:?} not stored: {v}"
        );
    }
    // Before the message, a help word is still help.
    let out = meshchat(&["send", "--url", &url, "-h", "hi"]);
    assert!(text(&out.stdout).starts_with("Usage: meshchat send"));
}

/// Runs the binary with its stdout a pipe whose reader is already gone.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(bin())
        .args(args)
        .env_clear()
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    for args in [&["--help"][..], &["--version"], &["send", "-h"]] {
        let out = into_closed_pipe(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
    let node = Node::new("cmd-pipe", "pipe-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let url = format!("http://{}", server.addr);
    for i in 0..30 {
        let r = server.post(
            "/cgi-bin/meshchat",
            "application/x-www-form-urlencoded",
            format!(
                "action=send_message&call_sign=K1ABC&message=m{i}&epoch={}",
                now()
            )
            .as_bytes(),
            "",
        );
        assert_eq!(r.status, 200);
    }
    let out = into_closed_pipe(&["tail", "--url", &url, "-n", "30"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    // `meshchat tail | head -1`, as a shell runs it.
    let mut child = Command::new(bin())
        .args(["tail", "--url", &url, "-n", "30"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn compact_reports_what_it_kept_and_dropped() {
    let node = Node::new("cmd-compact", "compact-node", &[]);
    let db = node.dir.join("legacy.db");
    let t = now();
    let lines: String = (1..=5)
        .map(|i| {
            format!(
                "0000000{i}\t{}\tmessage {i}\tK1ABC\tnode-a\tnode\t\n",
                t - 10 + i
            )
        })
        .collect();
    std::fs::write(&db, lines).unwrap();
    let config = node.config.to_str().unwrap();
    let out = meshchat(&["import", "--config", config, db.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("imported 5 messages"));
    let out = meshchat(&["compact", "--config", config, "-o", "max_messages=3"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("kept 3 of 5 records (2 dropped"), "{err}");
    assert!(err.contains("max_messages 3"), "{err}");
    let v = node.get("action=messages").json();
    assert_eq!(v.as_array().unwrap().len(), 3);
}

#[test]
fn serve_says_where_its_files_are_and_hints_data_and_listen() {
    let node = Node::new("cmd-serve", "serve-node", &[]);
    let data = node.dir.join("here");
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !seen.contains("shared files in") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "serve ended: {seen}");
        seen.push_str(&text(&buf[..n]));
    }
    let _ = child.kill();
    let _ = child.wait();
    let expect = format!("messages in {}", data.join("data").display());
    assert!(seen.contains(&expect), "{seen}");

    // Not writable (a path under a file: true even for root): say to use --data.
    let out = meshchat(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "-o",
        "data_dir=/dev/null/meshchat",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("use --data DIR"), "{err}");

    for (listen, hint) in [
        ("18082", "18082"),
        (":18083", "18083"),
        ("localhost", "8080"),
        ("127.0.0.1:http", "8080"),
    ] {
        let out = meshchat(&[
            "serve",
            "--listen",
            listen,
            "--data",
            data.to_str().unwrap(),
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{listen}: {err}");
        assert!(
            err.contains(&format!(
                "invalid --listen '{listen}': expected HOST:PORT, e.g. 127.0.0.1:{hint}"
            )),
            "{err}"
        );
    }
}

/// The README's Commands section, and the flags `--help` lists for a subcommand.
fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

fn help_flags(sub: &str) -> Vec<String> {
    let help = text(&meshchat(&[sub, "--help"]).stdout);
    help.split_whitespace()
        .map(|w| w.trim_end_matches(','))
        .filter(|w| w.starts_with('-') && w.len() > 1)
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_and_help_agree_on_the_flags() {
    let readme = readme();
    let block = readme
        .split("## Commands")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .unwrap();
    // Every flag the usage block shows exists in that subcommand's help.
    for line in block.lines() {
        let mut words = line.split_whitespace();
        let (Some("meshchat"), Some(sub)) = (words.next(), words.next()) else {
            continue;
        };
        if !SUBCOMMANDS.contains(&sub) {
            continue;
        }
        let flags = help_flags(sub);
        for w in line.split(|c: char| c.is_whitespace() || c == '[' || c == ']') {
            if w.starts_with('-') && w.len() > 1 && w != "-\"" {
                assert!(
                    flags.iter().any(|f| f == w),
                    "README: {sub} {w}; help: {flags:?}"
                );
            }
        }
    }
    // The sentence on the shared flags, checked both ways.
    let para = readme
        .split("\n\n")
        .map(|p| p.replace('\n', " "))
        .find(|p| p.contains("work on this node's files and take"))
        .unwrap();
    let local = [
        "serve",
        "sync",
        "import",
        "compact",
        "purge",
        "export",
        "check-config",
    ];
    for sub in local {
        assert!(para.contains(&format!("`{sub}`")), "{para}");
        let flags = help_flags(sub);
        for f in ["--config", "--data", "--node", "--zone", "-o"] {
            assert!(para.contains(&format!("`{f} ")), "{para}");
            assert!(flags.iter().any(|x| x == f), "{sub} lacks {f}: {flags:?}");
        }
    }
    assert!(para.contains("`cgi` takes only `--config FILE`"), "{para}");
    let cgi = help_flags("cgi");
    assert!(cgi.contains(&"--config".to_string()) && !cgi.contains(&"-o".to_string()));
    for sub in ["send", "tail"] {
        let flags = help_flags(sub);
        for f in ["--config", "--data", "--node", "--zone", "-o"] {
            assert!(!flags.iter().any(|x| x == f), "{sub} takes {f}");
        }
    }
}
