//! The programs in `examples/`, run for real: the archive hook and the webhook hook (with
//! curl and with wget) under a `meshchat sync` daemon, and the `!ping` bot against
//! `meshchat serve` through the HTTP API.
#![allow(clippy::unwrap_used)]

mod common;
mod fake;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;
use fake::{text, Fake};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A child killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(node: &Node) -> Running {
    Running(
        Command::new(bin())
            .args(["sync", "--config"])
            .arg(&node.config)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(node.dir.join("sync.log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn post(node: &Node, id: &str, channel: &str, text: &str) {
    let epoch = now().to_string();
    let r = node.post(&[
        ("action", "send_message"),
        ("id", id),
        ("call_sign", "K1ABC"),
        ("channel", channel),
        ("epoch", &epoch),
        ("message", text),
    ]);
    assert_eq!(r.status_reply(), (200, "OK".into()));
}

fn message(node: &Node, id: &str) -> serde_json::Value {
    node.get("action=messages")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap()
        .clone()
}

#[test]
fn archive_and_webhook_hooks() {
    for tool in ["curl", "wget"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} is needed (scripts/install-deps.sh installs it)"
        );
    }
    let hook = Fake::start(|_, c| text(c, b"ok"));
    let node = Node::new("examples-hooks", "node-e", &[("poll_interval", "1")]);
    let archive = node.dir.join("archive");
    let url = format!("http://127.0.0.1:{}/meshchat-hook", hook.port);
    let mut cfg = std::fs::read_to_string(&node.config).unwrap();
    cfg.push_str(&format!(
        "config hook 'archive'\n\toption command '{} {}'\n\
         config hook 'curl'\n\toption channel 'ops'\n\toption command '{} {url} curl'\n\
         config hook 'wget'\n\toption channel 'ops'\n\toption command '{} {url} wget'\n",
        example("archive-hook").display(),
        archive.display(),
        example("webhook-hook").display(),
        example("webhook-hook").display(),
    ));
    std::fs::write(&node.config, cfg).unwrap();
    let _d = daemon(&node);
    wait_for(10, "the daemon", || {
        std::fs::read_to_string(node.dir.join("sync.log"))
            .unwrap_or_default()
            .contains("watching")
    });
    post(&node, "e0000001", "", "first \"quoted\" line\nsecond line");
    post(
        &node,
        "e0000002",
        "ops",
        "to the gateway: $(not run) `nor this`",
    );

    // Archive: a daily file of JSON lines, the messages as the API gives them.
    let day = cli_date(now());
    let file = archive.join(format!("{day}.jsonl"));
    wait_for(20, "both archived", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.lines().count() == 2)
    });
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<&str> = lines.iter().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["e0000001", "e0000002"]);
    for m in &lines {
        assert_eq!(*m, message(&node, m["id"].as_str().unwrap()));
    }

    // Webhook: the ops message posted once by curl, once by wget, as JSON.
    wait_for(20, "both webhooks", || hook.hits.lock().unwrap().len() == 2);
    for body in hook.hits.lock().unwrap().iter() {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v, message(&node, "e0000002"));
    }
    // The server saw the posts before the hooks exited: wait for their outcomes.
    wait_for(20, "four outcomes", || {
        node.get("action=action_log")
            .json()
            .as_array()
            .map_or(0, |a| a.len())
            == 4
    });
    let log = node.get("action=action_log").json();
    let results: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["hook"].as_str().unwrap(), o["result"].as_str().unwrap()))
        .collect();
    assert_eq!(results.len(), 4, "{log}");
    assert!(results.iter().all(|(_, r)| *r == "ok"), "{log}");
}

/// `YYYY-MM-DD` (UTC) of unix seconds, as `date -u +%F` prints it.
fn cli_date(epoch: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn ping_bot_answers_through_the_api() {
    let node = Node::new("examples-bot", "node-p", &[]);
    let server = Server::start(&node, "127.0.0.1:0");
    post(
        &node,
        "b0000001",
        "ops",
        "!ping from before the bot: not answered",
    );
    let _bot = Running(
        Command::new("sh")
            .arg(example("ping-bot"))
            .args([&format!("http://{}", server.addr), "PINGBOT", "ops"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("PING_BOT_INTERVAL", "0.3")
            .env("PING_BOT_ROUNDS", "200")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(800));
    post(&node, "b0000002", "ops", "!ping are you there?");
    post(&node, "b0000003", "other", "!ping in another channel");
    post(&node, "b0000004", "ops", "ping without the bang");
    // A long one: the quote is cut at 60 characters (not bytes), newlines and `\` as read.
    let long = format!("!ping \\ \"q\"\n\n{}", "é".repeat(70));
    post(&node, "b0000005", "ops", &long);
    let answers = || -> Vec<serde_json::Value> {
        node.get("action=messages")
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["call_sign"] == "PINGBOT")
            .cloned()
            .collect()
    };
    wait_for(20, "the bot's answers", || answers().len() >= 2);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut a: Vec<String> = answers()
        .iter()
        .map(|m| {
            assert_eq!(m["channel"], "ops");
            m["message"].as_str().unwrap().to_string()
        })
        .collect();
    a.sort();
    assert_eq!(
        a,
        [
            "> K1ABC (b0000002): !ping are you there?\npong from PINGBOT".to_string(),
            format!(
                "> K1ABC (b0000005): !ping \\ \"q\" {}…\npong from PINGBOT",
                "é".repeat(48)
            ),
        ]
    );
}
