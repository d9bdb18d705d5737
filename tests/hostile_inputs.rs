//! Bad input of every kind, through the real binary as a CGI program: each is refused
//! with a clear reason, nothing is stored, nothing else changes.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::process::CommandExt;

use common::*;

fn send(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![
        ("action".to_string(), "send_message".to_string()),
        ("message".to_string(), "hello".to_string()),
        ("call_sign".to_string(), "K1ABC".to_string()),
        ("channel".to_string(), "ops".to_string()),
        ("id".to_string(), "0a1b2c3d".to_string()),
        ("epoch".to_string(), now().to_string()),
    ];
    for (k, v) in fields {
        all.retain(|(n, _)| n != k);
        all.push((k.to_string(), v.to_string()));
    }
    all
}

fn post(node: &Node, fields: &[(String, String)]) -> Reply {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    node.post(&pairs)
}

/// Asserts a refusal naming `needle`, and that no file of the node changed.
fn refused(
    node: &Node,
    before: &std::collections::BTreeMap<String, Vec<u8>>,
    r: &Reply,
    needle: &str,
) {
    let (status, why) = r.status_reply();
    assert_eq!(status, 500, "{why}");
    assert!(
        why.contains(needle),
        "reason {why:?} should mention {needle:?}"
    );
    assert_eq!(
        r.status, 400,
        "refused input is HTTP 400 (CGI and serve alike)"
    );
    assert_eq!(&node.snapshot(), before, "nothing may change after: {why}");
}

#[test]
fn send_message_refuses_corrupting_fields() {
    let node = Node::new("hostile-send", "node-a", &[]);
    // One good message first, so "nothing changed" has something to protect.
    assert_eq!(post(&node, &send(&[])).status_reply(), (200, "OK".into()));
    let before = node.snapshot();
    let far = (now() + 31 * 86_400).to_string();
    let long = "x".repeat(4097);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("call_sign", "K1\tABC", "call_sign"),
        ("call_sign", "K1\nABC", "call_sign"),
        ("call_sign", "K1\0ABC", "call_sign"),
        ("call_sign", "K1\rABC", "call_sign"),
        ("call_sign", "", "call_sign"),
        ("channel", "ops\tx", "channel"),
        ("channel", "ops\nx", "channel"),
        ("channel", "ops\0", "channel"),
        ("channel", "net control", "channel"),
        ("id", "0a1b2c3", "id"),
        ("id", "0a1b2c3g", "id"),
        ("id", "0a1b\t2c3d", "id"),
        ("id", "../../x1", "id"),
        ("epoch", &far, "epoch"),
        ("epoch", "-5", "epoch"),
        ("epoch", "1e9", "epoch"),
        ("epoch", "17956612\t51", "epoch"),
        ("message", "nul\0inside", "message"),
        ("message", "bell\u{7}", "message"),
        ("message", "", "message"),
        ("message", &long, "message"),
    ];
    for (field, value, needle) in cases {
        let r = post(
            &node,
            &send(&[
                (field, value),
                ("id", if field == "id" { value } else { "11112222" }),
            ]),
        );
        refused(&node, &before, &r, needle);
    }
    // The one message stays readable and alone.
    let v = node.get("action=messages").json();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn text_is_escaped_the_legacy_way_and_comes_back_intact() {
    let node = Node::new("hostile-text", "node-a", &[]);
    let text = "a\tb\r\nc\"d\\n<img src=x onerror=alert(1)>";
    assert_eq!(
        post(&node, &send(&[("message", text)])).status_reply(),
        (200, "OK".into())
    );
    let raw = node.get("action=messages_raw").text();
    assert_eq!(
        raw.matches('\t').count(),
        6,
        "exactly one line of 7 fields: {raw:?}"
    );
    assert_eq!(raw.lines().count(), 1);
    let v = node.get("action=messages").json();
    // TAB becomes a space and CRLF a newline (legacy); a literal backslash-n reads back as
    // a newline, as on every legacy node.
    assert_eq!(v[0]["message"], "a b\nc\"d\n<img src=x onerror=alert(1)>");
    // `<` never appears raw in our JSON.
    assert!(!node.get("action=messages").body.contains(&b'<'));
}

#[test]
fn presence_refuses_bad_call_signs() {
    let node = Node::new("hostile-presence", "node-a", &[]);
    let before = node.snapshot();
    for q in [
        "action=messages_version_ui&call_sign=K1%09ABC&id=abc&epoch=1",
        "action=messages_version_ui&call_sign=K1%0AABC&id=abc&epoch=1",
        "action=messages_version_ui&call_sign=K1ABC&id=a%09b&epoch=1",
        "action=messages&call_sign=K1%00&id=abc&epoch=1",
    ] {
        let r = node.get(q);
        let (status, why) = r.status_reply();
        assert_eq!(status, 500, "{q}");
        assert!(why.contains("call_sign") || why.contains("id"), "{why}");
        assert_eq!(node.snapshot(), before, "{q}");
    }
}

#[test]
fn malformed_requests_get_clear_answers() {
    let node = Node::new("hostile-malformed", "node-a", &[]);
    let r = node.get("action=send_message&%%%&message=%zz&call_sign=K1ABC&id=0a1b2c3d");
    assert_eq!(
        r.status_reply().0,
        200,
        "stray % stays literal; the rest parses"
    );
    let huge = format!("action=config&pad={}", "a".repeat(20_000));
    assert!(node.get(&huge).status_reply().1.contains("too long"));
    let mut big = Cgi::form(&[("action", "send_message"), ("message", &"y".repeat(70_000))]);
    big.query = String::new();
    assert!(node.cgi(&big).status_reply().1.contains("too large"));
    // A multipart body sent to another action.
    let r = node.cgi(&Cgi::upload(
        "action=send_message",
        "uploadfile",
        "a.txt",
        b"x",
    ));
    assert!(r.status_reply().1.contains("multipart"));
    assert!(!node.files_dir().join("a.txt").exists());
    assert_eq!(node.get("").text(), "error no action\n");
}

#[test]
fn file_names_cannot_escape_or_reach_a_shell() {
    let node = Node::new("hostile-files", "node-a", &[]);
    let pwned = node.dir.join("pwned");
    for (name, stored) in [
        ("../../evil.txt", "evil.txt"),
        ("..%2F..%2Fenc.txt", "%2F..%2Fenc.txt"),
        ("C:\\Windows\\win.ini", "win.ini"),
        (".bashrc", "bashrc"),
        (&format!("$(touch {}).txt", pwned.display()), ""),
        ("a;reboot;`id`|x&.txt", "a;reboot;`id`|x&.txt"),
    ] {
        let r = node.cgi(&Cgi::upload(
            "action=upload_file",
            "uploadfile",
            name,
            b"data",
        ));
        assert_eq!(r.status_reply(), (200, "OK".into()), "{name}");
        if !stored.is_empty() {
            assert!(
                node.files_dir().join(stored).is_file(),
                "{name} -> {stored}"
            );
        }
    }
    assert!(!pwned.exists(), "no shell ever ran");
    assert!(
        !node.dir.join("evil.txt").exists()
            && !node.dir.parent().unwrap().join("evil.txt").exists()
    );
    // Every stored name is a plain base name inside the files directory.
    for e in std::fs::read_dir(node.files_dir()).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(!n.contains('/') && !n.starts_with('.'), "{n}");
    }
    // Downloads and deletes refuse traversal, plain or percent-encoded.
    std::fs::write(node.dir.join("secret"), "s").unwrap();
    for q in [
        "file=../secret",
        "file=..%2Fsecret",
        "file=%2E%2E%2Fsecret",
        "file=.%2F..%2Fsecret",
        "file=",
    ] {
        assert_eq!(
            node.get(&format!("action=file_download&{q}")).text(),
            "no file\n",
            "{q}"
        );
        let r = node.get(&format!("action=delete_file&{q}"));
        assert_eq!(r.status_reply().0, 500, "{q}");
    }
    assert!(node.dir.join("secret").exists());
}

fn no_leftovers(node: &Node) {
    let hidden: Vec<_> = std::fs::read_dir(node.files_dir())
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().into_string().unwrap())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(hidden.is_empty(), "leftover temporary files: {hidden:?}");
}

#[test]
fn uploads_over_quota_or_truncated_leave_nothing() {
    let node = Node::new("hostile-upload", "node-a", &[("max_file_storage", "10000")]);
    assert_eq!(
        node.cgi(&Cgi::upload(
            "action=upload_file",
            "uploadfile",
            "keep.bin",
            &[1; 6000]
        ))
        .status_reply()
        .0,
        200
    );
    let before = node.snapshot();

    // Over what the quota leaves.
    let r = node.cgi(&Cgi::upload(
        "action=upload_file",
        "uploadfile",
        "big.bin",
        &[2; 5000],
    ));
    assert_eq!(
        r.status_reply(),
        (500, "Not enough storage, delete some files".into())
    );
    assert_eq!(node.snapshot(), before);
    no_leftovers(&node);

    // A 50 MB upload is refused from its Content-Length, without reading it.
    let mut huge = Cgi::upload(
        "action=upload_file",
        "uploadfile",
        "huge.bin",
        &vec![3; 50 * 1024 * 1024],
    );
    huge.env
        .push(("HTTP_ACCEPT_ENCODING".into(), "gzip".into()));
    let r = node.cgi(&huge);
    assert_eq!(r.status_reply().1, "Not enough storage, delete some files");
    assert_eq!(node.snapshot(), before);

    // Truncated bodies: cut anywhere, refused, no partial file.
    let full = Cgi::upload("action=upload_file", "uploadfile", "cut.bin", &[4; 3000]);
    for cut in [10, 120, 1500, full.body.len() - 5] {
        let mut c = full.clone();
        c.body.truncate(cut);
        let r = node.cgi(&c);
        assert_eq!(r.status_reply().0, 500, "cut at {cut}");
        assert!(
            r.status_reply().1.contains("multipart"),
            "{:?}",
            r.status_reply()
        );
        assert_eq!(node.snapshot(), before, "cut at {cut}");
        no_leftovers(&node);
    }
    // Not multipart at all; no file part.
    let mut plain = Cgi::form(&[("x", "y")]);
    plain.query = "action=upload_file".into();
    assert!(node.cgi(&plain).status_reply().1.contains("multipart"));
    let mut empty = Cgi::upload("action=upload_file", "uploadfile", "e.bin", b"");
    empty.body = b"--------------------------meshchatTestBoundary7--\r\n".to_vec();
    assert!(node.cgi(&empty).status_reply().1.contains("no file"));
    assert_eq!(node.snapshot(), before);
}

#[test]
fn a_large_upload_is_streamed_not_held_in_memory() {
    use std::io::Write;
    let node = Node::new(
        "stream-upload",
        "node-a",
        &[("max_file_storage", "104857600")],
    );
    let data: Vec<u8> = (0..40 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let req = Cgi::upload("action=upload_file", "uploadfile", "big.bin", &data);
    let mut child = std::process::Command::new(bin())
        .env_clear()
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("MESHCHAT_CONFIG", &node.config)
        .env("REQUEST_METHOD", "POST")
        .env("QUERY_STRING", &req.query)
        .env("CONTENT_TYPE", req.content_type.as_ref().unwrap())
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let half = req.body.len() / 2;
    stdin.write_all(&req.body[..half]).unwrap();
    // While the second half is still held back, the first is already on disk.
    wait_for(20, "the upload to reach the disk", || {
        std::fs::read_dir(node.files_dir())
            .map(|rd| {
                rd.flatten().any(|e| {
                    e.metadata()
                        .map(|m| m.len() > 15 * 1024 * 1024)
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    });
    assert!(
        !node.files_dir().join("big.bin").exists(),
        "not visible before it is complete"
    );
    stdin.write_all(&req.body[half..]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        parse_cgi_output(&out.stdout, String::new())
            .status_reply()
            .0,
        200
    );
    assert_eq!(
        std::fs::read(node.files_dir().join("big.bin")).unwrap(),
        data
    );
    no_leftovers(&node);
}

#[test]
fn delete_is_for_the_uploader_or_the_admin() {
    let node = Node::new(
        "hostile-delete",
        "node-a",
        &[("admin_token", "correct-horse-battery")],
    );
    std::fs::write(
        node.dir.join("shadow"),
        "root:$1$abc$def:19000:0:99999:7:::\nnobody:*:0:0:99999:7:::\n",
    )
    .unwrap();
    let up = |name: &str| {
        let r = node.cgi(&Cgi::upload("action=upload_file", "uploadfile", name, b"x"));
        r.header("Set-Cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };
    let alice = up("a.txt");
    let bob = up("b.txt");
    assert_ne!(alice, bob);
    let del = |file: &str, env: &[(&str, &str)]| {
        let mut c = Cgi::get(&format!("action=delete_file&file={file}"));
        for (k, v) in env {
            c = c.with_env(k, v);
        }
        node.cgi(&c).status_reply()
    };
    for env in [
        vec![],
        vec![("HTTP_COOKIE", bob.as_str())],
        vec![(
            "HTTP_COOKIE",
            "meshchat_session=00000000000000000000000000000000",
        )],
        vec![("HTTP_COOKIE", "authV1=cm9vdDp3cm9uZw==")],
        vec![("HTTP_AUTHORIZATION", "Bearer wrong-token-entirely")],
    ] {
        let (status, why) = del("a.txt", &env);
        assert_eq!(status, 500, "{env:?}");
        assert!(why.contains("only the uploader or the node admin"), "{why}");
        assert!(node.files_dir().join("a.txt").exists());
    }
    assert_eq!(del("a.txt", &[("HTTP_COOKIE", &alice)]), (200, "OK".into()));
    // The admin: AREDN's login cookie (base64 of root's shadow line), or the token.
    // base64 of `root:$1$abc$def:19000:0:99999:7:::`
    let auth = "cm9vdDokMSRhYmMkZGVmOjE5MDAwOjA6OTk5OTk6Nzo6Og==";
    let c = up("c.txt");
    assert_eq!(
        del("c.txt", &[("HTTP_COOKIE", &format!("x=1; authV1={auth}"))]),
        (200, "OK".into())
    );
    assert_eq!(
        del(
            "b.txt",
            &[("HTTP_AUTHORIZATION", "Bearer correct-horse-battery")]
        ),
        (200, "OK".into())
    );
    let _ = c;
    // `files` tells each browser what it may delete.
    let d = up("d.txt");
    let v = node
        .cgi(&Cgi::get("action=files").with_env("HTTP_COOKIE", &d))
        .json();
    assert_eq!(v["files"][0]["deletable"], 1);
    let v = node
        .cgi(&Cgi::get("action=files").with_env("HTTP_COOKIE", &alice))
        .json();
    assert_eq!(v["files"][0]["deletable"], 0);
}

/// Runs a CGI request with the process's file-size limit at `limit` bytes: writes past it
/// fail as on a full disk.
fn cgi_with_fsize_limit(node: &Node, req: &Cgi, limit: u64) -> Reply {
    let mut cmd = std::process::Command::new(bin());
    cmd.env_clear()
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("MESHCHAT_CONFIG", &node.config)
        .env("REQUEST_METHOD", &req.method)
        .env("QUERY_STRING", &req.query)
        .env("SERVER_PORT", "8081");
    if let Some(ct) = &req.content_type {
        cmd.env("CONTENT_TYPE", ct)
            .env("CONTENT_LENGTH", req.body.len().to_string());
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &rl);
            Ok(())
        });
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    // The CGI may refuse before reading it all.
    let _ = child.stdin.take().unwrap().write_all(&req.body);
    let out = child.wait_with_output().unwrap();
    parse_cgi_output(
        &out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_full_disk_refuses_cleanly_and_keeps_what_was_stored() {
    let node = Node::new("full-disk", "node-a", &[]);
    for i in 0..5 {
        let id = format!("0000000{i}");
        assert_eq!(post(&node, &send(&[("id", &id)])).status_reply().0, 200);
    }
    let log_before = std::fs::read(node.log_path()).unwrap();
    let limit = log_before.len() as u64 + 20;
    let r = cgi_with_fsize_limit(
        &node,
        &Cgi::form(&[
            ("action", "send_message"),
            ("message", &"z".repeat(300)),
            ("call_sign", "K1ABC"),
            ("id", "99999999"),
        ]),
        limit,
    );
    let (status, why) = r.status_reply();
    assert_eq!(status, 500);
    assert!(why.contains("no space"), "{why}");
    assert_eq!(
        std::fs::read(node.log_path()).unwrap(),
        log_before,
        "a partial record is taken back"
    );
    assert_eq!(
        node.get("action=messages").json().as_array().unwrap().len(),
        5
    );
    // And the next send, with room again, lands normally.
    assert_eq!(
        post(&node, &send(&[("id", "aaaaaaaa")])).status_reply().0,
        200
    );
    assert_eq!(
        node.get("action=messages").json().as_array().unwrap().len(),
        6
    );

    // Uploads too: no partial file.
    let r = cgi_with_fsize_limit(
        &node,
        &Cgi::upload("action=upload_file", "uploadfile", "f.bin", &[7; 100_000]),
        50_000,
    );
    assert_eq!(r.status_reply().1, "Not enough storage, delete some files");
    no_leftovers(&node);
    assert!(!node.files_dir().join("f.bin").exists());
}
