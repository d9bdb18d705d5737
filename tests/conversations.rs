//! Direct messages and export from the shell: `send --to` and `tail --to` against a real
//! `meshchat serve`; `export` in every format, from the log and over HTTP; `import` of
//! jsonl and legacy lines; round trips that must come back byte for byte.
#![allow(clippy::unwrap_used)]

mod common;
mod fake;

use common::*;

fn ok(args: &[&str]) -> String {
    let (ok, out, err) = run_cli(args);
    assert!(ok, "{args:?}: {err}");
    out
}

fn refused(args: &[&str], why: &str) {
    let (ok, _, err) = run_cli(args);
    assert!(!ok, "{args:?} succeeded");
    assert!(err.contains(why), "{args:?}: {err}");
}

#[test]
fn send_to_and_tail_to() {
    let node = Node::new("conv-cli", "conv-node", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    let url = format!("http://{}", server.addr);
    let send = |from: &str, to: &str, text: &str| {
        ok(&["send", "--url", &url, "--call-sign", from, "--to", to, text]);
    };
    send("k1abc", "w2xyz", "direct one");
    send("W2XYZ", "K1ABC", "direct answer");
    send("N0CALL", "w2xyz", "another pair");
    send("N0CALL", "W6ABC", "not with W2XYZ");
    ok(&[
        "send",
        "--url",
        &url,
        "--call-sign",
        "K1ABC",
        "--channel",
        "ops",
        "a channel",
    ]);
    // Sent within the same second: the node orders those by id, so compare sorted.
    let mut channels: Vec<(String, String)> = node
        .get("action=messages")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|m| {
            (
                m["channel"].as_str().unwrap().to_string(),
                m["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    channels.sort();
    assert_eq!(
        channels,
        [
            ("@K1ABC+W2XYZ".into(), "direct answer".into()),
            ("@K1ABC+W2XYZ".into(), "direct one".into()),
            ("@N0CALL+W2XYZ".into(), "another pair".into()),
            ("@N0CALL+W6ABC".into(), "not with W2XYZ".into()),
            ("ops".into(), "a channel".into()),
        ]
    );

    let texts = |out: String| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .map(|l| l.rsplit(": ").next().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    // One conversation: mine with W2XYZ.
    let out = ok(&[
        "tail",
        "--url",
        &url,
        "--to",
        "w2xyz",
        "--call-sign",
        "K1ABC",
    ]);
    assert_eq!(texts(out.clone()), ["direct answer", "direct one"]);
    assert!(
        // `send` upper-cases the call sign, as the web UI does.
        out.contains("[@K1ABC+W2XYZ] K1ABC@conv-node: direct one"),
        "{out}"
    );
    // Every conversation W2XYZ takes part in.
    let out = ok(&["tail", "--url", &url, "--to", "W2XYZ"]);
    assert_eq!(texts(out), ["another pair", "direct answer", "direct one"]);

    refused(
        &[
            "send",
            "--url",
            &url,
            "--call-sign",
            "K1ABC",
            "--to",
            "k1abc",
            "x",
        ],
        "a message to oneself is not a direct message",
    );
    refused(
        &[
            "send",
            "--url",
            &url,
            "--call-sign",
            "K1ABC",
            "--to",
            "W2 XYZ",
            "x",
        ],
        "cannot be part of a direct channel",
    );
    refused(
        &[
            "send",
            "--url",
            &url,
            "--call-sign",
            "K1ABC",
            "--to",
            "W2XYZ",
            "--channel",
            "ops",
            "x",
        ],
        "--to and --channel cannot be used together",
    );
    refused(
        &["tail", "--url", &url, "--to", "W2XYZ", "--channel", "ops"],
        "--to and --channel cannot be used together",
    );
    assert_eq!(
        node.get("action=messages").json().as_array().unwrap().len(),
        5
    );
}

/// Messages of every awkward kind: legacy escapes, quotes, backslashes, a CR kept from an
/// old client, unicode, a formula-like text, a direct message, a reply.
fn awkward_lines(t: u64) -> String {
    [
        format!("0a000001\t{}\tplain\tK1ABC\tnode-a\tnode\t", t),
        format!("0a000002\t{}\ttwo\\nlines and \\\"quotes\\\"\tW2XYZ\tnode-b\tpi\tops", t + 1),
        format!("0a000003\t{}\tback\\\\slash \\\\n and a bare \" quote\tK1ABC\tnode-a\tnode\tops", t + 2),
        format!("0a000004\t{}\tcarriage\r return, ünïcødé 😀\tN0CALL\tnode-c\tnode\t", t + 3),
        format!("0a000005\t{}\t=HYPERLINK(\\\"x\\\"),a;b\tK1ABC\tnode-a\tnode\t@K1ABC+W2XYZ", t + 4),
        format!("0a000006\t{}\t> K1ABC (0a000005): =HYPERLINK(\\\"x\\\"),a;b\\nno thanks\tW2XYZ\tnode-b\tpi\t@K1ABC+W2XYZ", t + 5),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect()
}

fn import_file(node: &Node, name: &str, text: &str) -> String {
    let file = node.dir.join(name);
    std::fs::create_dir_all(&node.dir).unwrap();
    std::fs::write(&file, text).unwrap();
    let (ok, _, err) = run_cli(&[
        "import",
        "--config",
        node.config.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    err
}

#[test]
fn export_and_import_round_trips() {
    let t = now() - 3600;
    let a = Node::new("conv-export-a", "node-a", &[]);
    let lines = awkward_lines(t);
    let report = import_file(&a, "lines.txt", &lines);
    assert!(report.contains("imported 6 messages"), "{report}");
    let cfg = a.config.to_str().unwrap().to_string();
    let export = |node: &Node, extra: &[&str]| {
        let cfg = node.config.to_str().unwrap().to_string();
        let mut args = vec!["export", "--config", cfg.as_str()];
        args.extend_from_slice(extra);
        ok(&args)
    };

    // legacy: byte for byte what messages_raw serves, from the log and over HTTP.
    let raw = a.get("action=messages_raw").text();
    assert_eq!(raw, lines);
    assert_eq!(export(&a, &["--format", "legacy"]), raw);
    let server = Server::start(&a, "127.0.0.1:0");
    let url = format!("http://{}", server.addr);
    assert_eq!(ok(&["export", "--url", &url, "--format", "legacy"]), raw);

    // jsonl: the members of `messages`, oldest first, one per line.
    let jsonl = export(&a, &[]);
    assert_eq!(ok(&["export", "--url", &url]), jsonl);
    let objects: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut messages = a.get("action=messages").json().as_array().unwrap().clone();
    messages.reverse();
    assert_eq!(objects, messages);

    // jsonl round trip: into an empty node and out again, identical; the lines too.
    let b = Node::new("conv-export-b", "node-b", &[]);
    let report = import_file(&b, "export.jsonl", &jsonl);
    assert!(report.contains("imported 6 messages"), "{report}");
    assert_eq!(export(&b, &[]), jsonl);
    // (A bare `"` in a legacy line is written back escaped: the only byte that moves.)
    assert_eq!(
        export(&b, &["--format", "legacy"]),
        lines.replace("a bare \" quote", "a bare \\\" quote")
    );

    // legacy round trip: into an empty node and out again, byte for byte.
    let c = Node::new("conv-export-c", "node-c", &[]);
    import_file(&c, "export.txt", &export(&a, &["--format", "legacy"]));
    assert_eq!(export(&c, &["--format", "legacy"]), raw);
    assert_eq!(c.get("action=messages_raw").text(), raw);

    // Filters: a channel, a start time (both sources agree).
    let dm = export(&a, &["--format", "legacy", "--channel", "@K1ABC+W2XYZ"]);
    assert_eq!(dm.lines().count(), 2);
    assert!(dm.lines().all(|l| l.ends_with("\t@K1ABC+W2XYZ")));
    assert_eq!(
        ok(&[
            "export",
            "--url",
            &url,
            "--format",
            "legacy",
            "--channel",
            "@K1ABC+W2XYZ"
        ]),
        dm
    );
    let since = (t + 3).to_string();
    let late = export(&a, &["--since", &since]);
    assert_eq!(late.lines().count(), 3);
    assert_eq!(
        export(&a, &["--channel", "", "--format", "legacy"])
            .lines()
            .count(),
        2
    );

    // csv: a header, quoted cells, formulas defused.
    let csv = export(&a, &["--format", "csv"]);
    assert!(csv.starts_with("id,epoch,message,call_sign,node,platform,channel\n"));
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"x\"\"),a;b\",K1ABC,node-a,node,\"'@K1ABC+W2XYZ\"\n"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!(
            "0a000002,{},\"two\nlines and \"\"quotes\"\"\",W2XYZ",
            t + 1
        )),
        "{csv}"
    );

    // Refusals: clear, and nothing stored is lost.
    let before = export(&b, &[]);
    refused(
        &["export", "--config", &cfg, "--format", "xml"],
        "unknown format 'xml'",
    );
    refused(
        &["export", "--url", &url, "--data", "/tmp"],
        "--url and --data cannot be used together",
    );
    refused(&["export", "--url", "127.0.0.1:9"], "127.0.0.1:9");
    let bad = format!(
        "{}\n{{\"id\":\"0b000001\",\"epoch\":{t},\"message\":\"tab\\there\",\"call_sign\":\"K1ABC\",\"node\":\"n\",\"platform\":\"node\",\"channel\":\"\"}}\nnot json\n{}\n",
        jsonl.lines().next().unwrap(),
        jsonl.lines().nth(1).unwrap().replace("0a000002", "0b000002")
    );
    let report = import_file(&b, "bad.jsonl", &bad);
    assert!(
        report.contains("line 2: member 'message' holds a control character"),
        "{report}"
    );
    assert!(report.contains("line 3: not a JSON object"), "{report}");
    assert!(report.contains("imported 1 message"), "{report}");
    let after = export(&b, &[]);
    assert_eq!(after.lines().count(), 7);
    assert!(before.lines().all(|l| after.lines().any(|m| m == l)));
}

/// `export --url` reads a Lua MeshChat node (its recorded `messages_raw`, replayed with
/// its own `Content-MD5`); `import --data` and `export --data` work on a directory alone
/// (no configuration file), and a data directory that is not there is an error, not an
/// empty export.
#[test]
fn export_from_a_lua_node_and_with_a_data_directory() {
    let recorded = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/lua-meshchat-2.18/11-messages_raw.http"),
    )
    .unwrap();
    let body = String::from_utf8(fixture("11-messages_raw.http").body).unwrap();
    assert_eq!(body.lines().count(), 3);
    let lua = fake::Fake::start(move |_, c| fake::replay(c, &recorded));
    let url = format!("http://127.0.0.1:{}", lua.port);
    assert_eq!(ok(&["export", "--url", &url, "--format", "legacy"]), body);
    let jsonl = ok(&["export", "--url", &url]);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["message"], "Hello from A \"quoted\" & a+plus");
    assert_eq!(first["node"], "lua-node-a");

    let node = Node::new("conv-data-dir", "unused", &[]);
    let data = node.dir.join("by-hand");
    let d = data.to_str().unwrap();
    let file = node.dir.join("lua.jsonl");
    std::fs::write(&file, &jsonl).unwrap();
    let (done, _, err) = run_cli(&["import", "--data", d, file.to_str().unwrap()]);
    assert!(done, "{err}");
    assert!(err.contains("imported 3 messages"), "{err}");
    assert_eq!(ok(&["export", "--data", d]), jsonl);
    assert_eq!(ok(&["export", "--data", d, "--format", "legacy"]), body);
    let missing = node.dir.join("typo");
    refused(
        &["export", "--data", missing.to_str().unwrap()],
        "no such directory, so no message log to export",
    );
}
