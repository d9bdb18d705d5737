//! The message log under several processes at once and under `kill -9`.
//!
//! Child processes are this unit-test binary run again with a role in the environment
//! (`MESHCHAT_TEST_ROLE`), so they use the real store code in a separate process.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::protocol::lines::{Message, StoredText};
use crate::protocol::{Epoch, MessageId, Platform};
use crate::store::log::Log;
use crate::store::Paths;

fn paths(dir: &std::path::Path) -> Paths {
    Paths {
        data_dir: dir.join("data"),
        ram_dir: dir.join("ram"),
        files_dir: dir.join("files"),
    }
}

fn msg(id: u32, epoch: u64) -> Message {
    Message {
        id: MessageId(id),
        epoch: Epoch(epoch),
        text: StoredText::escape(&format!(
            "message {id:08x} with some text to make it realistic"
        ))
        .unwrap(),
        call_sign: "K1ABC".parse().unwrap(),
        node: "node-a".parse().unwrap(),
        platform: Platform::Node,
        channel: "".parse().unwrap(),
    }
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meshchat-proc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Spawns this test binary as a child running `role`.
fn child(role: &str, dir: &std::path::Path, args: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "store::processes::child_process",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("MESHCHAT_TEST_ROLE", role)
    .env("MESHCHAT_TEST_DIR", dir)
    .env("MESHCHAT_TEST_ARGS", args)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    c
}

/// The body of every child: does nothing unless a role is set.
#[test]
fn child_process() {
    let Ok(role) = std::env::var("MESHCHAT_TEST_ROLE") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("MESHCHAT_TEST_DIR").unwrap());
    let args: Vec<u64> = std::env::var("MESHCHAT_TEST_ARGS")
        .unwrap()
        .split(',')
        .map(|a| a.parse().unwrap())
        .collect();
    match role.as_str() {
        // args: base id, count, max_messages. One append per message, as send_message does.
        "append" => {
            let log = Log::new(&paths(&dir), args[2] as usize);
            println!("begin");
            for i in 0..args[1] {
                let id = (args[0] + i) as u32;
                log.append(&[msg(id, 1_000_000 + u64::from(id))]).unwrap();
                // Acknowledged: the parent may count on it from now on.
                println!("ack {id}");
            }
        }
        _ => panic!("unknown role {role}"),
    }
}

fn view_ids(dir: &std::path::Path, max: usize) -> (Vec<u32>, usize) {
    let log = Log::new(&paths(dir), max);
    let contents = log.read().unwrap();
    let view = contents.view(max);
    (view.messages.iter().map(|m| m.id.0).collect(), view.corrupt)
}

#[test]
fn eight_processes_append_concurrently_without_loss() {
    let dir = temp("concurrent");
    let per = 1000u64;
    let children: Vec<_> = (0..8u64)
        .map(|p| {
            child("append", &dir, &format!("{},{per},100000", p * per + 1))
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).matches("ack ").count(),
            per as usize
        );
    }
    let (ids, corrupt) = view_ids(&dir, 100_000);
    assert_eq!(corrupt, 0, "no record was interleaved with another");
    assert_eq!(ids.len(), 8000, "all present");
    let set: HashSet<u32> = ids.iter().copied().collect();
    assert_eq!(
        set,
        (1..=8000).collect::<HashSet<u32>>(),
        "each exactly once"
    );
    // Every line of the file is one whole record.
    let raw = std::fs::read_to_string(dir.join("data/messages.log")).unwrap();
    assert_eq!(raw.lines().count(), 8000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_appends_past_the_threshold_compact_and_keep_the_newest() {
    let dir = temp("concurrent-trim");
    let max = 300;
    let children: Vec<_> = (0..4u64)
        .map(|p| {
            child("append", &dir, &format!("{},{},{max}", p * 500 + 1, 500))
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    let (ids, corrupt) = view_ids(&dir, max);
    assert_eq!(corrupt, 0);
    // Epochs grow with the id: the newest 300 are the 300 highest ids.
    assert_eq!(ids, (1701..=2000).collect::<Vec<u32>>());
    let records = std::fs::read_to_string(dir.join("data/messages.log"))
        .unwrap()
        .lines()
        .count();
    assert!(records <= max * 3 / 2 + 1, "compacted: {records} records");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_during_compaction_loses_nothing_acknowledged() {
    let dir = temp("kill9");
    let max = 3000usize;
    // Fill to just under the threshold, so each child's first append compacts a large log.
    let log = Log::new(&paths(&dir), max);
    let prefill: Vec<Message> = (1..=4499u32)
        .map(|i| msg(i, 1_000_000 + u64::from(i)))
        .collect();
    log.append(&prefill).unwrap();
    let mut acked: Vec<u32> = (1..=4499).collect();
    let mut next = 10_000u64;
    let mut filler = 100_000u32;
    let mut interrupted = 0;
    for round in 0..40u64 {
        // Top the log up to exactly the threshold: the child's first append compacts.
        let records = std::fs::read(dir.join("data/messages.log"))
            .unwrap()
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        let top_up: Vec<Message> = (0..(max * 3 / 2).saturating_sub(records))
            .map(|_| {
                filler += 1;
                msg(filler, 1_000_000 + u64::from(filler))
            })
            .collect();
        log.append(&top_up).unwrap();
        acked.extend(top_up.iter().map(|m| m.id.0));
        let mut c = child("append", &dir, &format!("{next},400,{max}"))
            .spawn()
            .unwrap();
        let stdout = c.stdout.take().unwrap();
        // Kill after a varying number of acknowledgements (0 = during the first append,
        // which compacts), reading acks as they come.
        let kill_after = if round % 5 == 4 { round % 3 + 1 } else { 0 };
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut seen = 0;
        if kill_after > 0 {
            while seen < kill_after && reader.read_line(&mut line).unwrap() > 0 {
                // The test harness prints its own lines too.
                if let Some(id) = line.trim().strip_prefix("ack ") {
                    acked.push(id.parse().unwrap());
                    seen += 1;
                }
                line.clear();
            }
        } else {
            // The harness prints "test child_process ... " on the same line.
            while reader.read_line(&mut line).unwrap() > 0 && !line.trim().ends_with("begin") {
                line.clear();
            }
            line.clear();
            // The first append is compacting now: kill at varying points of it.
            std::thread::sleep(Duration::from_micros(120 * (round % 40)));
        }
        c.kill().unwrap();
        // Acks already written before the kill count too.
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(id) = line.trim().strip_prefix("ack ") {
                acked.push(id.parse().unwrap());
            }
            line.clear();
        }
        c.wait().unwrap();
        next += 400;
        let leftovers = std::fs::read_dir(dir.join("data")).unwrap().count() - 1;
        interrupted += usize::from(leftovers > 0);

        let (ids, _corrupt) = view_ids(&dir, max);
        let present: HashSet<u32> = ids.iter().copied().collect();
        // An acknowledged message may only be missing because the trim dropped it: the
        // database is full and it is older than everything kept (epoch grows with id).
        let oldest_kept = *ids.first().unwrap();
        for id in &acked {
            assert!(
                present.contains(id) || (ids.len() == max && *id < oldest_kept),
                "round {round}: acknowledged {id} lost (oldest kept {oldest_kept}, {} kept)",
                ids.len()
            );
        }
    }
    // Not asserted (timing): how many kills landed while a compaction was writing.
    eprintln!("{interrupted} of 40 kills interrupted a compaction");
    // The next compaction clears what the killed ones left behind.
    log.compact().unwrap();
    assert_eq!(
        std::fs::read_dir(dir.join("data")).unwrap().count(),
        1,
        "only the log remains"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
