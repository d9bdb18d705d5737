//! Idle daemons sleep: `meshchat serve` with no clients and `meshchat sync` between
//! rounds wake at most once a second, counted from `/proc` (every wake-up of a sleeping
//! thread is a context switch of that thread). A node runs them 24 hours a day.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{Node, Server};

/// How long each daemon is watched while idle.
const WATCH: Duration = Duration::from_secs(5);
/// Wake-ups allowed per second of watching.
const MAX_PER_SECOND: u64 = 1;

/// Context switches of every thread of `pid` so far (voluntary and not).
fn switches(pid: u32) -> u64 {
    let mut n = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // a thread that just ended
        };
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                n += v.trim().parse::<u64>().unwrap();
            }
        }
    }
    n
}

/// Wake-ups of `pid` over [`WATCH`], checked against the limit.
fn assert_sleeps(what: &str, pid: u32) {
    let before = switches(pid);
    std::thread::sleep(WATCH);
    let woke = switches(pid) - before;
    eprintln!("{what}: {woke} wake-ups in {} s", WATCH.as_secs());
    assert!(
        woke <= MAX_PER_SECOND * WATCH.as_secs(),
        "{what} woke {woke} times in {} s while idle",
        WATCH.as_secs()
    );
}

fn sync(node: &Node) -> Child {
    node.sync_with_stats()
}

fn stop(mut c: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(c.id().to_string())
        .status();
    let t = Instant::now();
    let status = c.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "SIGTERM took {:?}",
        t.elapsed()
    );
}

#[test]
fn idle_serve_does_not_wake() {
    let node = Node::new("idle-serve", "idle-serve", &[]);
    let mut server = Server::start(&node, "127.0.0.1:0");
    // One request first: the workers have served and gone back to sleep.
    assert_eq!(server.get("/meshchat").status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_sleeps("serve", server.child.id());
    let t = Instant::now();
    server.stop();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn idle_sync_sleeps_until_the_next_round() {
    // No peers at all, the default 10 s interval: only discovery and the (empty) round.
    let lonely = Node::new("idle-sync-none", "idle-none", &[]);
    let child = sync(&lonely);
    std::thread::sleep(Duration::from_millis(500));
    assert_sleeps("sync without peers", child.id());
    stop(child);

    // A peer with nothing new, rounds 30 s apart: between two rounds nothing wakes.
    let peer = Node::new("idle-sync-peer", "idle-peer", &[]);
    let server = Server::start(&peer, "127.0.0.1:0");
    let me = Node::new("idle-sync-me", "idle-me", &[("poll_interval", "30")]);
    std::fs::create_dir_all(me.dir.join("services")).unwrap();
    std::fs::write(
        me.dir.join("services/0"),
        format!("http://{}/meshchat|tcp|MeshChat\n", server.addr),
    )
    .unwrap();
    let mut child = sync(&me);
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains(" ok=1 "), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    assert_sleeps("sync between rounds", child.id());
    stop(child);
}
