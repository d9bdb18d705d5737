//! Action hooks run by a real `meshchat sync`: matching rules, messages posted here and
//! pulled from a peer, once per id and hook across a daemon restart, a hostile message
//! delivered intact (and nothing else run), the timeout kill, the queue bound, at most two
//! at once, and the outcomes in `action_log`.
#![allow(clippy::unwrap_used)]

mod common;
mod fake;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fake::{text, text_md5, Fake};

/// A node with hook sections appended to its configuration.
fn hooked_node(tag: &str, hooks: &str) -> Node {
    let node = Node::new(tag, "node-h", &[("poll_interval", "1")]);
    let mut cfg = std::fs::read_to_string(&node.config).unwrap();
    cfg.push_str(&hooks.replace("{dir}", &node.dir.display().to_string()));
    std::fs::write(&node.config, cfg).unwrap();
    std::fs::create_dir_all(node.dir.join("out")).unwrap();
    node
}

/// A script in the node's directory.
fn script(node: &Node, name: &str, body: &str) -> PathBuf {
    let p = node.dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Records each run: stdin to out/ID.HOOK.json, the environment to out/ID.HOOK.env, and
/// a line in runs.
const RECORD: &str = r#"out="$(dirname "$0")/out"
cat > "$out/$MESHCHAT_ID.$MESHCHAT_HOOK.json"
printf '%s\n' "$MESHCHAT_ID" "$MESHCHAT_CALL_SIGN" "$MESHCHAT_CHANNEL" "$MESHCHAT_NODE" "$MESHCHAT_EPOCH" > "$out/$MESHCHAT_ID.$MESHCHAT_HOOK.env"
echo "$MESHCHAT_HOOK $MESHCHAT_ID" >> "$(dirname "$0")/runs"
"#;

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(node: &Node) -> Daemon {
        let log = node.dir.join("sync.log");
        let before = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("watching")
            .count();
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(bin())
            .args(["sync", "--config"])
            .arg(&node.config)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        let d = Daemon { child, log };
        // The log is kept across restarts: wait for this start's line.
        wait_for(10, "the hooks watcher", || {
            d.log().matches("watching").count() > before
        });
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- sync log\n{}", self.log());
        }
    }
}

fn post(node: &Node, id: &str, call: &str, channel: &str, text: &str) {
    let epoch = now().to_string();
    let r = node.post(&[
        ("action", "send_message"),
        ("id", id),
        ("call_sign", call),
        ("channel", channel),
        ("epoch", &epoch),
        ("message", text),
    ]);
    assert_eq!(r.status_reply(), (200, "OK".into()), "{id}");
}

/// `hook id` lines of the runs so far, counted.
fn runs(node: &Node) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for l in std::fs::read_to_string(node.dir.join("runs"))
        .unwrap_or_default()
        .lines()
    {
        *out.entry(l.to_string()).or_default() += 1;
    }
    out
}

fn action_log(node: &Node) -> Vec<serde_json::Value> {
    node.get("action=action_log")
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn hooks_match_run_once_across_restarts_and_deliver_hostile_text_intact() {
    let node = hooked_node(
        "hooks-match",
        "config hook 'all'\n\toption command '{dir}/record'\n\
         config hook 'ping'\n\toption channel 'ops'\n\toption match '!PING*'\n\toption command '{dir}/record'\n\
         config hook 'direct'\n\toption channel '@*'\n\toption command '{dir}/record'\n\
         config hook 'everything'\n\toption channel ''\n\toption command '{dir}/record'\n\
         config hook 'missing'\n\toption channel 'nowhere'\n\toption command '{dir}/no-such-program'\n",
    );
    script(&node, "record", RECORD);
    // A legacy peer with one message to pull.
    let peer_line = format!(
        "7e570001\t{}\tfrom the peer\tW2XYZ\tlua-node\tnode\tops\n",
        now()
    );
    let peer = Fake::start(move |a, c| match a.action() {
        "messages_version" => text(c, b"2119630849\n"),
        "messages_raw" => text_md5(c, peer_line.as_bytes()),
        _ => text_md5(c, b""),
    });
    // Already in the log before the daemon first starts: never run.
    post(&node, "0000000a", "K1ABC", "", "old news");
    let mut d = Daemon::start(&node);

    post(&node, "00000001", "K1ABC", "", "hello everyone");
    post(&node, "00000002", "K1ABC", "ops", "!ping now");
    post(&node, "00000003", "K1ABC", "ops", "ping without the bang");
    post(&node, "00000004", "K1ABC", "@K1ABC+W2XYZ", "not private");
    let hostile_call = "K1'\"$(touch pwned1)`touch pwned2`;x";
    let hostile_channel = "ops$(touch${IFS}pwned3)`touch${IFS}pwned4`'\"";
    let mut hostile_text = String::from("\"quotes\" 'single' $(touch pwned5) `touch pwned6` ${HOME} \\ \n\nnew lines; rm -rf / <script>\n");
    while hostile_text.len() < 4096 {
        hostile_text.push_str("$(id)`id`\"'\\ ");
    }
    hostile_text.truncate(4096);
    assert_eq!(hostile_text.len(), 4096);
    post(
        &node,
        "00000005",
        hostile_call,
        hostile_channel,
        &hostile_text,
    );
    post(
        &node,
        "00000009",
        "K1ABC",
        "nowhere",
        "for the missing program",
    );

    let want = |list: &[&str]| -> BTreeMap<String, usize> {
        list.iter().map(|s| (s.to_string(), 1)).collect()
    };
    let expected = want(&[
        "all 00000001",
        "all 00000002",
        "all 00000003",
        "all 00000004",
        "all 00000005",
        "all 00000009",
        "ping 00000002",
        "direct 00000004",
        "everything 00000001",
    ]);
    wait_for(20, "the local hooks", || runs(&node) == expected);

    // Pulled from a peer: hooks run for it too.
    let dir = node.dir.join("services");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0"),
        format!(
            "##127.0.0.1##\nhttp://127.0.0.1:{}/meshchat|tcp|MeshChat\n",
            peer.port
        ),
    )
    .unwrap();
    wait_for(30, "the pulled message's hook", || {
        runs(&node).contains_key("all 7e570001")
    });

    // The hostile message, intact on stdin and in the environment; nothing else ran.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.dir.join("out/00000005.all.json")).unwrap())
            .unwrap();
    assert_eq!(json["message"], hostile_text.as_str());
    assert_eq!(json["call_sign"], hostile_call);
    assert_eq!(json["channel"], hostile_channel);
    assert_eq!(json["node"], "node-h");
    assert_eq!(json["id"], "00000005");
    let env = std::fs::read_to_string(node.dir.join("out/00000005.all.env")).unwrap();
    let env: Vec<&str> = env.lines().collect();
    assert_eq!(
        env[..4],
        ["00000005", hostile_call, hostile_channel, "node-h"]
    );
    assert_eq!(env[4], json["epoch"].to_string());
    for n in 1..=6 {
        for place in [node.dir.clone(), node.dir.join("out"), PathBuf::from("/")] {
            assert!(
                !place.join(format!("pwned{n}")).exists(),
                "pwned{n} in {}",
                place.display()
            );
        }
    }

    // Outcomes: newest first, results and exit codes; the missing program is an error.
    let mut log = Vec::new();
    wait_for(10, "11 outcomes", || {
        log = action_log(&node);
        log.len() == 11
    });
    assert!(log
        .windows(2)
        .all(|w| w[0]["epoch"].as_u64() >= w[1]["epoch"].as_u64()));
    let ok = log
        .iter()
        .filter(|o| o["result"] == "ok" && o["exit"] == 0)
        .count();
    assert_eq!(ok, 10, "{log:?}");
    let error = log.iter().find(|o| o["result"] == "error").unwrap();
    assert_eq!(error["hook"], "missing");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot start "),
        "{error}"
    );
    assert!(
        d.log().contains("hook ping for 00000002: ok (exit 0)"),
        "{}",
        d.log()
    );

    // A restart: nothing runs twice; a message posted while stopped runs once.
    d.stop();
    post(&node, "00000006", "K1ABC", "", "while the daemon was down");
    let mut d = Daemon::start(&node);
    post(&node, "00000007", "K1ABC", "ops", "after the restart");
    wait_for(20, "hooks after the restart", || {
        let r = runs(&node);
        r.contains_key("all 00000007") && r.contains_key("everything 00000006")
    });
    // One more look at the log, to be sure nothing else is coming.
    std::thread::sleep(Duration::from_millis(1500));
    let r = runs(&node);
    assert!(r.values().all(|&n| n == 1), "a hook ran twice: {r:?}");
    assert_eq!(r.len(), expected.len() + 4, "{r:?}");
    assert!(
        !r.contains_key("all 0000000a"),
        "a message older than the first start ran"
    );
    d.stop();
    // The clean stop kept the mark on flash for the next start; a reboot empties the RAM
    // directory, and the flash copy carries on exactly, then is removed.
    assert!(node.dir.join("data/hooks.mark").exists());
    std::fs::remove_file(node.dir.join("ram/hooks.mark")).unwrap();
    post(&node, "00000008", "K1ABC", "", "while rebooting");
    let mut d = Daemon::start(&node);
    assert!(!node.dir.join("data/hooks.mark").exists());
    wait_for(20, "the hook after the reboot", || {
        runs(&node).contains_key("everything 00000008")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let r = runs(&node);
    assert!(r.values().all(|&n| n == 1), "a hook ran twice: {r:?}");
    assert_eq!(r.len(), expected.len() + 6, "{r:?}");
    // The outcomes of every start are kept: the 11 above, then 3 and 2 more.
    let mut log = Vec::new();
    wait_for(10, "16 outcomes", || {
        log = action_log(&node);
        log.len() == 16
    });
    // Newest first: the message posted last, then the one before the reboot.
    let ids: Vec<&str> = log.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids[..2], ["00000008", "00000008"], "{ids:?}");
    assert!(
        ids[2..5]
            .iter()
            .all(|id| ["00000006", "00000007"].contains(id)),
        "{ids:?}"
    );
    d.stop();
}

/// Waits for the action log to hold `n` outcomes of `result`.
fn wait_outcomes(node: &Node, result: &str, n: usize) -> Vec<serde_json::Value> {
    let mut last = Vec::new();
    wait_for(30, &format!("{n} outcomes '{result}'"), || {
        last = action_log(node);
        last.iter().filter(|o| o["result"] == result).count() >= n
    });
    last
}

#[test]
fn timeouts_kill_the_group_the_queue_is_bounded_two_run_at_once() {
    let node = hooked_node(
        "hooks-limits",
        "config hook 'slow'\n\toption channel 'slow'\n\toption command '{dir}/slow'\n\toption timeout '1'\n\
         config hook 'block'\n\toption channel 'many'\n\toption command '{dir}/block'\n\toption timeout '60'\n",
    );
    // Starts a grandchild that would outlive a kill of the direct child only.
    script(
        &node,
        "slow",
        "sleep 30 &\necho $! > \"$(dirname \"$0\")/grandchild\"\nwait\n",
    );
    // Counts the commands running at once, then waits for the test to release it.
    script(
        &node,
        "block",
        "d=\"$(dirname \"$0\")\"\nmkdir -p \"$d/running\"\ntouch \"$d/running/$$\"\n\
         ls \"$d/running\" | wc -l >> \"$d/concurrent\"\n\
         i=0; while [ ! -e \"$d/release\" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
         rm \"$d/running/$$\"\necho x >> \"$d/done\"\n",
    );
    let mut d = Daemon::start(&node);

    let started = Instant::now();
    post(&node, "51000001", "K1ABC", "slow", "take your time");
    let log = wait_outcomes(&node, "killed", 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    let killed = log.iter().find(|o| o["result"] == "killed").unwrap();
    assert_eq!(killed["hook"], "slow");
    assert!(killed["ms"].as_u64().unwrap() >= 1000, "{killed}");
    assert!(
        d.log()
            .contains("hook slow for 51000001: killed (timeout 1 s) in "),
        "{}",
        d.log()
    );
    let pid = std::fs::read_to_string(node.dir.join("grandchild")).unwrap();
    wait_for(5, "the grandchild killed too", || {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .map_or(true, |s| s.contains(") Z "))
    });

    // 100 new messages at once (an import): 2 run, 64 wait, 34 are dropped and logged.
    let t = now();
    let lines: String = (0..100)
        .map(|i| {
            format!(
                "{:08x}\t{}\tm{i}\tK1ABC\tnode-x\tnode\tmany\n",
                0x6a000000 + i,
                t + i
            )
        })
        .collect();
    let file = node.dir.join("import.txt");
    std::fs::write(&file, lines).unwrap();
    let inode = || std::fs::metadata(node.log_path()).unwrap().ino();
    let before = inode();
    let out = Command::new(bin())
        .args(["import", "--config"])
        .arg(&node.config)
        .arg(&file)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(inode(), before, "the import compacts into a new file");
    // Dropped at once; the 64 queued wait behind the 2 running (which may have taken
    // their first two before the queue filled).
    wait_outcomes(&node, "dropped", 34);
    // Both runners busy, 64 waiting: the sync rounds go on (a peer's message arrives).
    let line = format!(
        "7e570002\t{}\tpulled meanwhile\tW2XYZ\tlua-node\tnode\tquiet\n",
        now()
    );
    let peer = Fake::start(move |a, c| match a.action() {
        "messages_version" => text(c, b"2119630850\n"),
        "messages_raw" => text_md5(c, line.as_bytes()),
        _ => text_md5(c, b""),
    });
    let dir = node.dir.join("services");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0"),
        format!(
            "##127.0.0.1##\nhttp://127.0.0.1:{}/meshchat|tcp|MeshChat\n",
            peer.port
        ),
    )
    .unwrap();
    wait_for(30, "a sync round while the hooks are busy", || {
        node.get("action=messages")
            .text()
            .contains("pulled meanwhile")
    });
    assert_eq!(
        std::fs::read_to_string(node.dir.join("done")).unwrap_or_default(),
        "",
        "the hooks are still held"
    );
    std::fs::write(node.dir.join("release"), "").unwrap();
    let mut log = Vec::new();
    wait_for(30, "every outcome of the 100", || {
        log = action_log(&node);
        log.len() == 100 && log.iter().all(|o| o["hook"] == "block")
    });
    let dropped = log.iter().filter(|o| o["result"] == "dropped").count();
    assert!((34..=36).contains(&dropped), "{dropped} dropped");
    assert_eq!(
        log.iter().filter(|o| o["result"] == "ok").count(),
        100 - dropped
    );
    let done = |n: &Node| {
        std::fs::read_to_string(n.dir.join("done"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(done(&node), 100 - dropped);
    assert!(d.log().contains("queue full (64)"), "{}", d.log());
    let counts: Vec<usize> = std::fs::read_to_string(node.dir.join("concurrent"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 100 - dropped);
    assert_eq!(counts.iter().max(), Some(&2), "{counts:?}");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(done(&node), 100 - dropped, "no dropped hook ran later");
    // The import compacted the log (a new file) under the running daemon: the message
    // handled before it was not handed to its hook again.
    assert_eq!(d.log().matches("hook slow for 51000001").count(), 1);
    d.stop();
}

#[test]
fn a_bad_hook_section_stops_the_daemon_with_a_clear_error_and_not_the_api() {
    let node = hooked_node("hooks-bad", "config hook 'x'\n\toption timeout 'soon'\n");
    let out = Command::new(bin())
        .args(["sync", "--once", "--config"])
        .arg(&node.config)
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid hook 'x' command '': is missing"),
        "{err}"
    );
    assert!(!Path::new(&node.dir.join("data/hooks.mark")).exists());
    // Only the daemon reads hook sections: the web API is not affected.
    assert_eq!(node.get("action=config").json()["node"], "node-h");
    assert_eq!(node.get("action=action_log").text(), "[]\n");
    // check-config lists every bad section at its line, and fails.
    let mut cfg = std::fs::read_to_string(&node.config).unwrap();
    cfg.push_str("config hook 'y'\n\toption command '/bin/true'\n\toption timeout '0'\n");
    std::fs::write(&node.config, &cfg).unwrap();
    let check = |config: &Path| {
        let out = Command::new(bin())
            .args(["check-config", "--config"])
            .arg(config)
            .env_clear()
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let at = |what: &str| {
        let line = cfg.lines().position(|l| l.contains(what)).unwrap() + 1;
        format!("{}:{line}: ", node.config.display())
    };
    let err = check(&node.config);
    assert!(
        err.contains(&format!(
            "{}invalid hook 'x' command '': is missing",
            at("config hook 'x'")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{}invalid hook 'y' timeout '0': must be 1 to 3600 seconds",
            at("timeout '0'")
        )),
        "{err}"
    );
    assert!(err.contains("2 mistakes found"), "{err}");
    // More hooks than the daemon runs.
    let many = node.dir.join("many.conf");
    let mut text = std::fs::read_to_string(&node.config)
        .unwrap()
        .split("config hook")
        .next()
        .unwrap()
        .to_string();
    for i in 0..33 {
        text.push_str(&format!(
            "config hook 'h{i}'\n\toption command '/bin/true'\n"
        ));
    }
    std::fs::write(&many, text).unwrap();
    let err = check(&many);
    assert!(
        err.contains("invalid hook '33': too many hook sections (at most 32)"),
        "{err}"
    );
}
