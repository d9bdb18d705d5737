//! The `curl` examples of docs/API.md, run as written (with curl, through `sh`) against
//! `meshchat serve`: each answers as the document shows and does what it says. A new
//! example in the document is run too.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::*;

const TOKEN: &str = "doc-example-token";

/// The commands of a document's ```sh blocks (continuation lines joined), each with the
/// output line the document shows under it, if any.
fn examples(doc: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for block in doc.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let mut command = String::new();
        for line in block.lines() {
            if !command.is_empty() {
                command.push(' ');
                command.push_str(line.trim());
            } else if line.starts_with('{') {
                // The reply the document shows for the command above.
                if let Some(last) = out.last_mut() {
                    last.1 = Some(line.to_string());
                }
                continue;
            } else {
                command.push_str(line);
            }
            if command.ends_with('\\') {
                command.pop();
                command = command.trim_end().to_string();
            } else {
                out.push((std::mem::take(&mut command), None));
            }
        }
    }
    out
}

#[test]
fn the_parser_joins_lines_and_keeps_the_shown_reply() {
    let doc = "x\n```sh\ncurl -s a \\\n     b\n{\"status\":200}\necho c\n```\n";
    assert_eq!(
        examples(doc),
        [
            (
                "curl -s a b".to_string(),
                Some("{\"status\":200}".to_string())
            ),
            ("echo c".to_string(), None)
        ]
    );
}

#[test]
fn the_api_examples_work_as_written() {
    let node = Node::new("doc-examples", "doc-node", &[("admin_token", TOKEN)]);
    let server = Server::start(&node, "127.0.0.1:0");
    let work = node.dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("report.pdf"), b"%PDF-1.4 a report\n").unwrap();
    std::fs::write(work.join("old.pdf"), b"%PDF-1.4 an old one\n").unwrap();
    let url = format!("http://{}", server.addr);
    let sh = |command: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&work)
            .env("TOKEN", TOKEN)
            .output()
            .expect("sh runs (curl is installed by scripts/install-deps.sh)");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{command}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    // The file the delete example removes, uploaded by someone (no token).
    sh(&format!(
        "curl -s -F action=upload_file -F uploadfile=@old.pdf {url}/cgi-bin/meshchat"
    ));
    assert!(server
        .get("/cgi-bin/meshchat?action=files")
        .text()
        .contains("old.pdf"));

    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    let mut ran = 0;
    for (command, shown) in examples(&doc) {
        if !command.starts_with("curl ") {
            continue;
        }
        assert!(
            command.contains("http://node.local.mesh:8080/"),
            "{command}: an example names the node as the others do"
        );
        let here = command.replace("http://node.local.mesh:8080", &url);
        let reply = sh(&here);
        let v: serde_json::Value =
            serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{command}: {e}: {reply:?}"));
        assert_eq!(v["status"], 200, "{command}: {reply}");
        if let Some(shown) = shown {
            assert_eq!(reply.trim_end(), shown, "{command}");
        }
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} curl examples in docs/API.md");

    // They did what the document says.
    let messages = server.get("/cgi-bin/meshchat?action=messages").json();
    let find = |text: &str| {
        messages
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["message"] == text)
            .cloned()
            .unwrap_or_else(|| panic!("{text:?} not posted: {messages}"))
    };
    let m = find("net starts at 19:00");
    assert_eq!(
        (&m["channel"], &m["call_sign"]),
        (&"ops".into(), &"K1ABC".into())
    );
    let m = find("> K1ABC (0a1b2c3d): Meet on 146.52?\nYes, see you there.");
    assert_eq!(m["channel"], "@K1ABC+W2XYZ");
    let files = server.get("/cgi-bin/meshchat?action=files").text();
    assert!(files.contains("\"report.pdf\""), "{files}");
    assert!(
        !files.contains("\"old.pdf\""),
        "the admin's delete: {files}"
    );
}
