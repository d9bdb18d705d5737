//! The request sequence behind the recorded Lua MeshChat 2.18 responses (fixtures 01–29),
//! replayed against the real binary run as a CGI program. MeshChat-owned headers must
//! match; bodies must be equivalent once node-independent values are normalised: times
//! (the recording's clock is shifted into our future so client epochs are kept), ids the
//! server generates, and file-system sizes. Each deliberate difference of docs/PROTOCOL.md is
//! asserted where it shows.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

const RECORDED_NOW: u64 = 1795661251;
const HELLO: &[u8] = b"hello meshchat\nsecond line\n";

/// Headers MeshChat prints itself (the rest belongs to the web server).
const OWNED: [&str; 4] = [
    "Content-type",
    "Content-MD5",
    "Content-Disposition",
    "Content-Encoding",
];

fn blob() -> Vec<u8> {
    (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect()
}

/// Checks the MeshChat-owned headers: same names, same values, except Content-MD5 which
/// must be the MD5 of our own body (the bodies differ by normalised values).
fn same_headers(name: &str, ours: &Reply, legacy: &Reply) {
    for h in OWNED {
        match (ours.header(h), legacy.header(h)) {
            (Some(_), None) => panic!("{name}: we add {h}"),
            (None, Some(_)) => panic!("{name}: we lack {h}"),
            (Some(o), Some(l)) if h == "Content-MD5" => {
                assert_eq!(
                    o,
                    md5_hex(&ours.body),
                    "{name}: Content-MD5 is not the body's MD5"
                );
                assert_eq!(l.len(), o.len(), "{name}");
            }
            (Some(o), Some(l)) => assert_eq!(o, l, "{name}: {h}"),
            (None, None) => {}
        }
    }
    // Every header name is printed exactly as legacy prints it.
    assert_eq!(
        ours.headers
            .iter()
            .filter(|(k, _)| k == "Content-type")
            .count(),
        1,
        "{name}"
    );
}

/// Replaces times and generated ids so bodies from both implementations compare.
struct Norm {
    shift: u64,
    /// Our generated id for the "no id given" message, and legacy's.
    our_generated: String,
}

impl Norm {
    fn epoch(&self, e: u64) -> u64 {
        e - self.shift
    }

    fn id(&self, id: &str) -> String {
        if id == self.our_generated {
            "583f8359".into()
        } else {
            id.to_string()
        }
    }

    /// A messages array: epochs unshifted, generated ids mapped, our extra message
    /// without an epoch (fixture 07) removed.
    /// The sort key of the legacy trim: epoch, then id as a hex number.
    fn key(m: &Value) -> (u64, u64) {
        (
            m["epoch"].as_u64().unwrap(),
            u64::from_str_radix(m["id"].as_str().unwrap(), 16).unwrap(),
        )
    }

    fn messages(&self, v: &Value) -> Value {
        let list = v.as_array().expect("messages is an array");
        let keys: Vec<_> = list.iter().map(Self::key).collect();
        assert!(
            keys.windows(2).all(|w| w[0] > w[1]),
            "newest first, by epoch then id: {keys:?}"
        );
        let mut out: Vec<Value> = list
            .iter()
            .filter(|m| m["message"] != "x")
            .map(|m| {
                let mut m = m.clone();
                m["epoch"] = Value::from(self.epoch(m["epoch"].as_u64().unwrap()));
                m["id"] = Value::from(self.id(m["id"].as_str().unwrap()));
                m
            })
            .collect();
        // Our generated id sorts elsewhere among equal epochs: order as legacy's would.
        out.sort_by_key(|m| std::cmp::Reverse(Self::key(m)));
        Value::Array(out)
    }

    fn raw_lines(&self, text: &str) -> Vec<String> {
        let key = |l: &str| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[1].parse::<u64>().unwrap(),
                u64::from_str_radix(f[0], 16).unwrap(),
            )
        };
        let keys: Vec<_> = text.lines().map(key).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "oldest first, by epoch then id"
        );
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.split('\t').nth(2) != Some("x"))
            .map(|l| {
                let mut f: Vec<String> = l.split('\t').map(str::to_string).collect();
                f[0] = self.id(&f[0]);
                f[1] = self.epoch(f[1].parse().unwrap()).to_string();
                f.join("\t")
            })
            .collect();
        lines.sort_by_key(|l| key(l));
        lines
    }
}

fn sorted_keys_equal(name: &str, ours: &Value, legacy: &Value, ignore: &[&str]) {
    let (Value::Object(o), Value::Object(l)) = (ours, legacy) else {
        assert_eq!(ours, legacy, "{name}");
        return;
    };
    for (k, lv) in l {
        if ignore.contains(&k.as_str()) {
            assert!(o.contains_key(k), "{name}: missing key {k}");
            continue;
        }
        assert_eq!(o.get(k), Some(lv), "{name}: key {k}");
    }
}

#[test]
fn replays_the_recorded_session() {
    let node = Node::new("fixtures", "lua-node-a", &[]);
    // Services as the recording's node saw them (fixture 26).
    std::fs::write(
        node.dir.join("services_olsr"),
        "http://lua-node-b:8082/meshchat|tcp|MeshChat\t#127.0.0.1\n\
http://lua-node-a:8081/meshchat|tcp|MeshChat\t# my own service\n\
http://other:8080/meshchat|tcp|Elsewhere [chat]\n",
    )
    .unwrap();
    let shift = (now() + 86_400) - RECORDED_NOW;
    let at = |e: u64| (e + shift).to_string();

    // 01 config
    let r = node.get("action=config");
    let l = fixture("01-config.http");
    same_headers("01", &r, &l);
    sorted_keys_equal(
        "01",
        &r.json(),
        &serde_json::from_slice(&l.body).unwrap(),
        &["version"],
    );
    assert_eq!(r.json()["protocol_version"], "1.02");
    assert!(r.body.ends_with(b"}\n"));

    // 02, 03: no action, unknown action: byte for byte.
    for (q, f) in [
        ("", "02-no_action.http"),
        ("action=nope", "03-unknown_action.http"),
    ] {
        let r = node.get(q);
        let l = fixture(f);
        same_headers(f, &r, &l);
        assert_eq!(r.body, l.body, "{f}");
    }

    // 04–06: send_message, byte for byte.
    let sends: [(&str, Vec<(&str, String)>); 3] = [
        (
            "04-send_message.http",
            vec![
                ("message", "Hello from A \"quoted\" & a+plus".into()),
                ("call_sign", "K1ABC".into()),
                ("epoch", at(RECORDED_NOW)),
                ("id", "0a1b2c3d".into()),
                ("channel", "".into()),
            ],
        ),
        (
            "05-send_message_multiline.http",
            vec![
                ("message", "line1\nline2\twith tab".into()),
                ("call_sign", "W2XYZ".into()),
                ("epoch", at(1795664851)),
                ("id", "1f2e3d4c".into()),
                ("channel", "ops".into()),
            ],
        ),
        (
            "06-send_message_noid.http",
            vec![
                ("message", "no id given, server hashes one".into()),
                ("call_sign", "K1ABC".into()),
                ("epoch", at(RECORDED_NOW)),
                ("channel", "".into()),
            ],
        ),
    ];
    for (f, fields) in &sends {
        let mut all = vec![("action", "send_message".to_string())];
        all.extend(fields.iter().cloned());
        let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = node.post(&pairs);
        let l = fixture(f);
        same_headers(f, &r, &l);
        assert_eq!(r.body, l.body, "{f}");
    }

    // 07: without epoch legacy crashes and stores nothing; we store it at our clock
    // (deliberate difference).
    let before = now();
    let r = node.post(&[
        ("action", "send_message"),
        ("message", "x"),
        ("call_sign", "K1ABC"),
        ("channel", ""),
    ]);
    assert_eq!(r.status_reply(), (200, "OK".into()));
    assert!(fixture("07-send_message_no_epoch.http").body.is_empty());

    // Our generated id for 06.
    let raw = node.get("action=messages_raw").text();
    let our_generated = raw
        .lines()
        .find(|l| l.contains("no id given"))
        .map(|l| l[..8].to_string())
        .expect("06 stored");
    assert!(our_generated
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let x_epoch: u64 = raw
        .lines()
        .find(|l| l.split('\t').nth(2) == Some("x"))
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        x_epoch >= before && x_epoch <= now(),
        "07 stored at the server's clock"
    );
    let norm = Norm {
        shift,
        our_generated,
    };

    // 08, 09: messages (09 also records K1ABC as a user).
    for (q, f) in [
        ("action=messages".to_string(), "08-messages.http"),
        (
            format!(
                "action=messages&call_sign=K1ABC&id=cafe0001&epoch={}",
                at(RECORDED_NOW)
            ),
            "09-messages_ui_poll.http",
        ),
    ] {
        let r = node.get(&q);
        let l = fixture(f);
        same_headers(f, &r, &l);
        let ours = norm.messages(&r.json());
        let legacy: Value = serde_json::from_slice(&l.body).unwrap();
        assert_eq!(ours, legacy, "{f}");
        assert_eq!(
            r.json().as_array().unwrap().len(),
            4,
            "{f}: plus our message x"
        );
    }

    // 10: gzip when accepted.
    let r =
        node.cgi(&Cgi::get("action=messages").with_env("HTTP_ACCEPT_ENCODING", "gzip, deflate"));
    let l = fixture("10-messages_gzip.http");
    same_headers("10", &r, &l);
    let ours: Value = serde_json::from_slice(&gunzip(&r.body)).unwrap();
    let legacy: Value = serde_json::from_slice(&gunzip(&l.body)).unwrap();
    assert_eq!(norm.messages(&ours), legacy);

    // 11: messages_raw; 12: its MD5; 15: the download.
    let raw = node.get("action=messages_raw");
    let l = fixture("11-messages_raw.http");
    same_headers("11", &raw, &l);
    assert_eq!(
        norm.raw_lines(&raw.text()),
        l.text().lines().map(str::to_string).collect::<Vec<_>>()
    );
    assert_eq!(
        l.header("Content-MD5").unwrap(),
        md5_hex(&l.body),
        "the fixture itself agrees"
    );
    let r = node.get("action=messages_md5");
    same_headers("12", &r, &fixture("12-messages_md5.http"));
    assert_eq!(r.text(), format!("{}\n", md5_hex(&raw.body)));
    let r = node.get("action=messages_download");
    same_headers("15", &r, &fixture("15-messages_download.http"));
    assert_eq!(r.body, raw.body);

    // 13: messages_version, the sum of the ids, without the legacy newline (deliberate).
    let sum: u64 = raw
        .text()
        .lines()
        .map(|l| u64::from_str_radix(&l[..8], 16).unwrap())
        .sum();
    let r = node.get("action=messages_version");
    let l = fixture("13-messages_version.http");
    same_headers("13", &r, &l);
    assert_eq!(r.text(), sum.to_string());
    let legacy_sum: u64 = fixture("11-messages_raw.http")
        .text()
        .lines()
        .map(|l| u64::from_str_radix(&l[..8], 16).unwrap())
        .sum();
    assert_eq!(l.text(), format!("{legacy_sum}\n"));

    // 14: messages_version_ui (records W2XYZ).
    let r = node.get(&format!(
        "action=messages_version_ui&call_sign=W2XYZ&id=cafe0002&epoch={}",
        at(RECORDED_NOW)
    ));
    same_headers("14", &r, &fixture("14-messages_version_ui.http"));
    assert_eq!(r.json(), serde_json::json!({ "messages_version": sum }));
    assert!(r.body.ends_with(b"}\n"));

    // 16: users; 17: users_raw.
    let r = node.get("action=users&call_sign=K1ABC&id=cafe0001");
    let l = fixture("16-users.http");
    same_headers("16", &r, &l);
    let strip = |v: &Value| {
        let mut list: Vec<Value> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                let mut u = u.clone();
                u["epoch"] = Value::from(0);
                u
            })
            .collect();
        list.sort_by_key(|u| u["call_sign"].as_str().unwrap().to_string());
        list
    };
    assert_eq!(
        strip(&r.json()),
        strip(&serde_json::from_slice(&l.body).unwrap())
    );
    let r = node.get("action=users_raw");
    let l = fixture("17-users_raw.http");
    same_headers("17", &r, &l);
    let fields = |t: &str| {
        let mut v: Vec<String> = t
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 5);
                format!("{}\t{}\t{}\t{}", f[0], f[1], f[2], f[4])
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(fields(&r.text()), fields(&l.text()));

    // 18, 19: uploads; the first one hands this "browser" its session cookie.
    let r = node.cgi(&Cgi::upload(
        "action=upload_file",
        "uploadfile",
        "hello.txt",
        HELLO,
    ));
    same_headers("18", &r, &fixture("18-upload_file.http"));
    assert_eq!(r.body, fixture("18-upload_file.http").body);
    let cookie = r
        .header("Set-Cookie")
        .expect("session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = node.cgi(
        &Cgi::upload("action=upload_file", "uploadfile", "blob.bin", &blob())
            .with_env("HTTP_COOKIE", &cookie),
    );
    assert_eq!(r.body, fixture("19-upload_file_binary.http").body);
    assert!(r.header("Set-Cookie").is_none(), "the session is reused");

    // 20: files.
    let r = node.get("action=files");
    let l = fixture("20-files.http");
    same_headers("20", &r, &l);
    let ours = r.json();
    let legacy: Value = serde_json::from_slice(&l.body).unwrap();
    for k in ["files", "allowed", "files_free"] {
        assert_eq!(ours["stats"][k], legacy["stats"][k], "stats.{k}");
    }
    assert!(ours["stats"]["total"].as_u64().unwrap() > 0);
    let files = |v: &Value| {
        let mut list: Vec<(String, u64, String, String, u64)> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["file"].as_str().unwrap().into(),
                    f["size"].as_u64().unwrap(),
                    f["node"].as_str().unwrap().into(),
                    f["platform"].as_str().unwrap().into(),
                    f["local"].as_u64().unwrap(),
                )
            })
            .collect();
        list.sort();
        list
    };
    assert_eq!(files(&ours), files(&legacy));

    // 21: local_files_raw, with the TAB before the platform that 2.18 forgets.
    let r = node.get("action=local_files_raw");
    let l = fixture("21-local_files_raw.http");
    same_headers("21", &r, &l);
    let norm_files = |t: &str, fixed: bool| {
        let mut v: Vec<String> = t
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                if fixed {
                    assert_eq!(f.len(), 5, "{line:?}");
                    format!("{}\t{}\t{}\t{}", f[0], f[1], f[2], f[4])
                } else {
                    format!(
                        "{}\t{}\t{}\t{}",
                        f[0],
                        f[1],
                        f[2],
                        f[3].trim_start_matches(|c: char| c.is_ascii_digit())
                    )
                }
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(norm_files(&r.text(), true), norm_files(&l.text(), false));

    // 22, 23: downloads.
    let r = node.get("action=file_download&file=hello.txt");
    let l = fixture("22-file_download.http");
    same_headers("22", &r, &l);
    assert_eq!(r.body, l.body);
    assert_eq!(r.header("Content-MD5"), l.header("Content-MD5"));
    let r = node.get("action=file_download&file=nothere.txt");
    let l = fixture("23-file_download_missing.http");
    same_headers("23", &r, &l);
    assert_eq!(r.body, l.body);

    // 24: delete, by the session that uploaded it.
    let r =
        node.cgi(&Cgi::get("action=delete_file&file=blob.bin").with_env("HTTP_COOKIE", &cookie));
    let l = fixture("24-delete_file.http");
    same_headers("24", &r, &l);
    assert_eq!(r.body, l.body);
    assert!(!node.files_dir().join("blob.bin").exists());

    // 25–29: node-level actions.
    for (q, f) in [
        ("action=sync_status", "25-sync_status_before.http"),
        (
            "action=meshchat_nodes&zone_name=MeshChat",
            "26-meshchat_nodes.http",
        ),
        ("action=action_log", "27-action_log.http"),
        ("action=hosts_raw", "28-hosts_raw.http"),
    ] {
        let r = node.get(q);
        let l = fixture(f);
        same_headers(f, &r, &l);
        assert_eq!(r.body, l.body, "{f}");
    }
    // 29: legacy crashes on the missing DHCP files (empty body); we answer an empty list.
    let r = node.get("action=hosts");
    same_headers("29", &r, &fixture("29-hosts.http"));
    assert_eq!(r.body, b"[]\n");
}

#[test]
fn second_node_fixtures_read_back() {
    // 40–49 show a legacy node after a pull: the line formats we parse for sync.
    for f in ["41-B_messages_raw.http", "11-messages_raw.http"] {
        let l = fixture(f);
        // The real line parser: `meshchat import` reads these lines as sync does.
        let node = Node::new("fixture-lines", "reader", &[]);
        let db = node.dir.join("messages.db");
        std::fs::write(&db, &l.body).unwrap();
        let out = std::process::Command::new(bin())
            .args(["import", "--config"])
            .arg(&node.config)
            .arg(&db)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("imported 3 messages") && stderr.contains(", 0 lines refused"),
            "{f}: {stderr}"
        );
        assert_eq!(l.header("Content-MD5").unwrap(), md5_hex(&l.body));
    }
    let l = fixture("42-B_sync_status.http");
    let v: Value = serde_json::from_slice(&l.body).unwrap();
    assert_eq!(v[0]["node"], "lua-node-a");
}
