//! Full and read-only disks, for real: the node's data directory (and, for uploads, its
//! files directory) on a tiny tmpfs mounted for the test. Sends, uploads, compaction,
//! imports and sync merges must fail with an error that names the cause and no server
//! path, lose nothing already stored, and work again once space is freed; a read-only
//! data directory is reported by `serve` and `sync` at start and by the CGI per request.
//! Mounting needs root: without it each test prints why it skips.
#![allow(clippy::unwrap_used)]

mod common;
mod fake;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use fake::{text, text_md5, Fake};

/// The cause a full flash is reported with.
const FULL_FLASH: &str = "no space left on the node's flash";

/// A tmpfs of `size` mounted on `dir` (named `mcF-*` in the mount table), unmounted on
/// drop. None, with the reason printed, when this process may not mount.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str, test: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        if unsafe_uid() != 0 {
            eprintln!(
                "SKIP {test}: mounting a tmpfs needs root (uid {})",
                unsafe_uid()
            );
            return None;
        }
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "mcF-flash",
            ])
            .arg(dir)
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "SKIP {test}: cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, opt: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "remount {opt}: {out:?}");
    }

    /// Fills the file system: a filler file grows until the disk refuses a byte.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let page = [0u8; 4096];
        while f.write_all(&page).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The effective uid, from /proc (no libc in the tests).
fn unsafe_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn send(node: &Node, id: &str, text: &str) -> (u64, String) {
    node.post(&[
        ("action", "send_message"),
        ("id", id),
        ("message", text),
        ("call_sign", "K1ABC"),
        ("epoch", &now().to_string()),
    ])
    .status_reply()
}

/// Every record in the log file holds its CRC: nothing half-written stayed.
fn log_is_whole(node: &Node) -> usize {
    let raw = std::fs::read_to_string(node.log_path()).unwrap();
    for line in raw.lines() {
        let (crc, rest) = line.split_once('\t').unwrap();
        let sum = crc32(rest.as_bytes());
        assert_eq!(
            u32::from_str_radix(crc, 16).unwrap(),
            sum,
            "bad record {line:?}"
        );
    }
    raw.lines().count()
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in b {
        c ^= u32::from(x);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The reply names the cause and no server path.
fn assert_clear(reply: &str, cause: &str, node: &Node) {
    assert!(reply.contains(cause), "{reply:?} does not say {cause:?}");
    assert!(
        !reply.contains(node.dir.to_str().unwrap()) && !reply.contains("/tmp"),
        "{reply:?} names a server path"
    );
}

fn legacy_line(id: &str, text: &str) -> String {
    format!("{id}\t{}\t{text}\tK7FPV\tlua-node\tnode\t\n", now())
}

/// A Lua MeshChat peer with `messages`, advertised to `node` on 127.0.0.1.
fn legacy_peer(node: &Node, messages: String) -> Fake {
    let version: u64 = messages
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split('\t').next()?, 16).ok())
        .sum();
    let fake = Fake::start(move |a, c| match a.action() {
        "users_raw" | "local_files_raw" => text_md5(c, b""),
        "messages_version" => text(c, format!("{version}\n").as_bytes()),
        "messages_raw" => text_md5(c, messages.as_bytes()),
        _ => text(c, b"error no action\n"),
    });
    let dir = node.dir.join("services");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0"),
        format!(
            "##127.0.0.1##\nhttp://127.0.0.1:{}/meshchat|tcp|MeshChat [chat]\n",
            fake.port
        ),
    )
    .unwrap();
    fake
}

#[test]
fn a_full_flash_refuses_with_the_cause_loses_nothing_and_recovers() {
    let node = Node::new("mcF-full", "node-full", &[("max_messages", "100")]);
    let Some(fs) = Tmpfs::mount(&node.dir.join("data"), "16k", "full flash") else {
        return;
    };
    let started = Instant::now();
    let mut stored = Vec::new();
    for i in 0..5 {
        let id = format!("{:08x}", 0x1000 + i);
        assert_eq!(send(&node, &id, "before the disk filled").0, 200);
        stored.push(id);
    }
    let filler = fs.fill();

    // Sends: until the page the log ends in is full too, then a clear refusal.
    let mut refused = None;
    for i in 0..200 {
        let id = format!("{:08x}", 0x2000 + i);
        let (status, reply) = send(&node, &id, "a message that may not fit");
        if status == 200 {
            stored.push(id);
        } else {
            refused = Some(reply);
            break;
        }
    }
    let reply = refused.expect("the full disk never refused a message");
    assert_clear(&reply, FULL_FLASH, &node);
    // The operation and the file, then the cause.
    assert_clear(
        &reply,
        &format!("cannot append to messages.log: {FULL_FLASH}"),
        &node,
    );
    stored.sort();
    assert_eq!(node.message_ids(), stored, "a stored message was lost");
    let records = log_is_whole(&node);
    assert_eq!(records, stored.len());

    // Import, compaction and a sync merge: each fails naming the cause, the log intact.
    let db = node.dir.join("messages.MeshChat");
    // Longer than the message the disk just refused: it cannot fit either.
    let long = "imported while the disk is full ".repeat(8);
    std::fs::write(&db, legacy_line("0000aaa1", &long)).unwrap();
    let out = node.command(&["import", db.to_str().unwrap()]);
    assert!(!out.status.success(), "import on a full disk succeeded");
    assert!(
        stderr(&out).contains("cannot append to") && stderr(&out).contains(FULL_FLASH),
        "{}",
        stderr(&out)
    );
    let out = node.command(&["compact"]);
    assert!(!out.status.success(), "compaction on a full disk succeeded");
    assert!(
        stderr(&out).contains("cannot write") && stderr(&out).contains(FULL_FLASH),
        "{}",
        stderr(&out)
    );
    let peer = legacy_peer(&node, legacy_line("0000bbb1", &long));
    let out = node.command(&["sync", "--once"]);
    assert!(
        stderr(&out).contains("cannot append to") && stderr(&out).contains(FULL_FLASH),
        "sync merge: {}",
        stderr(&out)
    );
    assert_eq!(
        node.message_ids(),
        stored,
        "a failed import, compaction or merge lost a message"
    );
    assert_eq!(log_is_whole(&node), records, "the log changed");
    let leftovers: Vec<_> = std::fs::read_dir(&fs.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "filler" && n != "messages.log")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // Space freed: everything works again.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(send(&node, "00003001", "after the disk was freed").0, 200);
    assert!(node
        .command(&["import", db.to_str().unwrap()])
        .status
        .success());
    let out = node.command(&["sync", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = node.command(&["compact"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stored.extend(["00003001", "0000aaa1", "0000bbb1"].map(String::from));
    stored.sort();
    assert_eq!(node.message_ids(), stored);
    assert_eq!(
        log_is_whole(&node),
        stored.len(),
        "compaction kept duplicates"
    );
    drop(peer);
    eprintln!(
        "full flash: {} messages stored on a 16 KiB tmpfs before the refusal; the whole run took {:?}",
        records,
        started.elapsed()
    );
}

#[test]
fn a_message_that_fits_is_stored_and_acknowledged_when_compaction_does_not() {
    // max_messages 10: the log is compacted once it holds more than 15 records. On a full
    // flash the appends still fit in the log's last page, the compacted copy does not.
    let node = Node::new("mcF-compact", "node-cmp", &[("max_messages", "10")]);
    let Some(fs) = Tmpfs::mount(&node.dir.join("data"), "16k", "compaction on a full flash") else {
        return;
    };
    let mut stored = Vec::new();
    for i in 0..14 {
        let id = format!("{:08x}", 0x4000 + i);
        assert_eq!(send(&node, &id, "before the disk filled").0, 200);
        stored.push(id);
    }
    let filler = fs.fill();
    // The 16th record passes the threshold: the compaction fails, the message is stored
    // all the same, so the reply must say so (a sender told it failed sends it again).
    for i in 0..3 {
        let id = format!("{:08x}", 0x5000 + i);
        let (status, reply) = send(&node, &id, "fits in the last page");
        assert_eq!(status, 200, "message {i}: {reply}");
        stored.push(id);
    }
    assert_eq!(
        log_is_whole(&node),
        17,
        "the log was compacted on a full disk"
    );
    let mut newest = stored[stored.len() - 10..].to_vec();
    newest.sort();
    assert_eq!(node.message_ids(), newest);
    // Space freed: the next message compacts the log down to max_messages.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(send(&node, "00006000", "after the disk was freed").0, 200);
    assert_eq!(log_is_whole(&node), 10, "not compacted once there was room");
}

#[test]
fn a_full_files_dir_refuses_uploads_and_keeps_the_files() {
    let node = Node::new("mcF-upload", "node-up", &[("max_file_storage", "1048576")]);
    let Some(fs) = Tmpfs::mount(&node.files_dir(), "32k", "full files dir") else {
        return;
    };
    let first = b"kept: the first shared file\n".repeat(20);
    let r = node.cgi(&Cgi::upload(
        "action=upload_file",
        "uploadfile",
        "first.txt",
        &first,
    ));
    assert_eq!(r.status_reply().0, 200, "{}", r.text());
    let filler = fs.fill();
    let r = node.cgi(&Cgi::upload(
        "action=upload_file",
        "uploadfile",
        "second.txt",
        &[b'x'; 6000],
    ));
    // The legacy text, which the UI shows as it is: shared files live in RAM, not flash.
    let (_, reply) = r.status_reply();
    assert_eq!(r.status, 413, "an upload into a full disk: {reply}");
    assert_eq!(reply, "Not enough storage, delete some files");
    let got = node.get("action=file_download&file=first.txt");
    assert_eq!(got.body, first, "the stored file changed");
    assert!(!node.files_dir().join("second.txt").exists());
    std::fs::remove_file(filler).unwrap();
    let r = node.cgi(&Cgi::upload(
        "action=upload_file",
        "uploadfile",
        "second.txt",
        &[b'x'; 6000],
    ));
    assert_eq!(r.status_reply().0, 200, "{}", r.text());
}

#[test]
fn a_read_only_data_dir_is_reported_by_serve_sync_and_the_cgi() {
    let node = Node::new("mcF-ro", "node-ro", &[]);
    let Some(fs) = Tmpfs::mount(&node.dir.join("data"), "64k", "read-only data dir") else {
        return;
    };
    assert_eq!(send(&node, "00000001", "written before").0, 200);
    fs.remount("ro");
    const CAUSE: &str = "Read-only file system";

    // The daemons refuse to start, naming the cause.
    let t = Instant::now();
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&node.config)
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success() && t.elapsed() < Duration::from_secs(10));
    assert!(stderr(&out).contains(CAUSE), "serve: {}", stderr(&out));
    let out = node.command(&["sync"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(CAUSE), "sync: {}", stderr(&out));

    // The CGI: reads work, a write says why it failed, without a path.
    assert_eq!(node.message_ids(), ["00000001"]);
    let (status, reply) = send(&node, "00000002", "refused");
    assert_eq!(status, 500);
    assert_clear(&reply, CAUSE, &node);
    assert_eq!(node.message_ids(), ["00000001"]);

    fs.remount("rw");
    assert_eq!(send(&node, "00000002", "written after").0, 200);
    assert_eq!(node.message_ids(), ["00000001", "00000002"]);
}

#[test]
fn errors_name_the_cause_without_a_server_path() {
    // A configuration file that is missing: the reply says so, the log line has the path.
    let node = Node::new("mcF-paths", "node-paths", &[]);
    let missing = node.dir.join("no-such.conf");
    let r = run_cgi(&missing, &Cgi::get("action=config"));
    let (status, reply) = r.status_reply();
    assert_eq!(status, 500);
    assert_clear(&reply, "cannot read its configuration", &node);
    assert!(r.stderr.contains(missing.to_str().unwrap()), "{}", r.stderr);

    // A data directory that is a file: the store names the operation and the file.
    std::fs::write(node.dir.join("data"), "not a directory").unwrap();
    let (status, reply) = send(&node, "00000001", "nowhere to go");
    assert_eq!(status, 500);
    assert_clear(&reply, "messages.log: Not a directory", &node);
    let out = node.command(&["sync", "--once"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot create directory"),
        "{}",
        stderr(&out)
    );
}
