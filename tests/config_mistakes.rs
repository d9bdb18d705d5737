//! Mistakes in the configuration are caught: reported with file and line, fatal for the
//! commands and daemons, answered around by the CGI (defaults plus `warnings` in
//! `config`), listed by `meshchat check-config`.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A node whose configuration file has, after the usual lines, `extra` appended.
fn node_with(tag: &str, extra: &str) -> (Node, usize) {
    let node = Node::new(tag, "conf-node", &[]);
    let text = std::fs::read_to_string(&node.config).unwrap();
    let first_extra_line = text.lines().count() + 1;
    std::fs::write(&node.config, format!("{text}{extra}")).unwrap();
    (node, first_extra_line)
}

const MISTAKES: &str = "\toption max_mesages '10'\n\toption defualt_channel 'ops'\n\
\toption zone 'Unclosed\nbogus line here\n\toption max_messages '12x'\n";

#[test]
fn check_config_lists_each_mistake_with_file_and_line() {
    let (node, n) = node_with("conf-check", MISTAKES);
    let out = node.command(&["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let file = node.config.display();
    for (line, what) in [
        (
            n,
            "unknown option 'max_mesages' (did you mean max_messages?)",
        ),
        (
            n + 1,
            "unknown option 'defualt_channel' (did you mean default_channel?)",
        ),
        (n + 2, "unclosed ' quote"),
        (n + 3, "not a config, option or list line"),
        (n + 4, "invalid max_messages '12x': must be a whole number"),
    ] {
        assert!(
            err.contains(&format!("meshchat: {file}:{line}: {what}\n")),
            "{err}"
        );
    }
    assert!(err.contains("5 mistakes found"), "{err}");

    // A clean file passes; a misspelt -o does not.
    let clean = Node::new("conf-clean", "conf-node", &[("max_messages", "100")]);
    let out = clean.command(&["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no mistakes"));
    let out = clean.command(&["check-config", "-o", "max_mesages=10"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("-o max_mesages=10: unknown option (did you mean max_messages?)"),
        "{err}"
    );
}

#[test]
fn commands_and_daemons_refuse_to_start_on_a_mistake() {
    let (node, n) = node_with("conf-refuse", "bogus line here\n");
    let db = node.dir.join("db");
    std::fs::write(&db, "").unwrap();
    let db = db.to_str().unwrap();
    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["sync", "--once"],
        &["sync"],
        &["compact"],
        &["import", db],
    ] {
        let t = Instant::now();
        let out = node.command(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(t.elapsed() < Duration::from_secs(10), "{args:?} started");
        assert!(
            err.contains(&format!("{}:{n}: not a config", node.config.display())),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("1 mistake in the configuration: not starting"),
            "{err}"
        );
    }
    assert!(!node.log_path().exists(), "nothing was written");
    // The same for a misspelt flag.
    let clean = Node::new("conf-refuse-o", "conf-node", &[]);
    let out = clean.command(&["sync", "--once", "-o", "poll_intervall=3"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_cgi_answers_with_the_defaults_and_lists_the_mistakes_in_config() {
    let (node, n) = node_with("conf-cgi", MISTAKES);
    let r = node.get("action=config");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["node"], "conf-node");
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 5, "{warnings:?}");
    assert_eq!(
        warnings[0],
        format!(
            "configuration line {n}: unknown option 'max_mesages' (did you mean max_messages?)"
        )
    );
    // No server path goes to the browser; stderr (the web server's log) has the file.
    assert!(warnings.iter().all(|w| !w.contains('/')), "{warnings:?}");
    assert!(
        r.stderr.contains(&format!(
            "{}:{n}: unknown option 'max_mesages' (did you mean max_messages?) \
             (the CGI answers anyway, with the defaults)\n",
            node.config.display()
        )),
        "{}",
        r.stderr
    );
    // The chat keeps working, with the default for the mistaken value.
    let r = node.post(&[
        ("action", "send_message"),
        ("call_sign", "K1ABC"),
        ("message", "still up"),
        ("epoch", &now().to_string()),
    ]);
    assert_eq!(r.status_reply(), (200, "OK".into()));
    assert_eq!(node.get("action=messages").json()[0]["message"], "still up");
    // A clean file: no warnings key at all (the legacy shape).
    let clean = Node::new("conf-cgi-clean", "conf-node", &[]);
    assert!(clean.get("action=config").json().get("warnings").is_none());
}

#[test]
fn hook_sections_are_checked_and_a_misspelt_hook_option_stops_sync() {
    let hooks = "config hook 'h'\n\toption comand '/bin/true'\n\
config hook\n\toption command '/bin/echo'\n\toption timeout '99999'\n\toption mach 'x*'\n";
    let (node, n) = node_with("conf-hooks", hooks);
    let out = node.command(&["check-config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let file = node.config.display();
    for (line, what) in [
        (n, "invalid hook 'h' command '': is missing"),
        (
            n + 1,
            "unknown hook option 'comand' (did you mean command?)",
        ),
        (
            n + 4,
            "invalid hook 'hook1' timeout '99999': must be 1 to 3600 seconds",
        ),
        (n + 5, "unknown hook option 'mach' (did you mean match?)"),
    ] {
        assert!(
            err.contains(&format!("meshchat: {file}:{line}: {what}\n")),
            "{err}"
        );
    }
    assert!(err.contains("4 mistakes found"), "{err}");
    // The daemon that runs hooks refuses; the CGI, which runs none, is not affected.
    let out = node.command(&["sync", "--once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("invalid hook 'h' command '': is missing"),
        "{err}"
    );
    let v = node.get("action=config").json();
    assert!(v.get("warnings").is_none(), "{v}");
    // A misspelt `match` alone would run the hook for every message: sync refuses it.
    let (typo, n) = node_with(
        "conf-hooks-typo",
        "config hook 'm'\n\toption command '/bin/true'\n\toption mach '!ping*'\n",
    );
    let err = String::from_utf8_lossy(&typo.command(&["check-config"]).stderr).into_owned();
    assert!(
        err.contains(&format!(
            "{}:{}: unknown hook option 'mach' (did you mean match?)\n",
            typo.config.display(),
            n + 2
        )),
        "{err}"
    );
    assert!(err.contains("1 mistake found"), "{err}");
    let out = typo.command(&["sync", "--once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("invalid hook 'm' option 'mach': is not one of command, arg, channel"),
        "{err}"
    );
    // A good hook section is no mistake.
    let (good, _) = node_with(
        "conf-hooks-good",
        "config hook 'log'\n\toption channel '*'\n\toption match '*'\n\
\toption command '/bin/true'\n\tlist arg 'x'\n\toption timeout '5'\n",
    );
    let out = good.command(&["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_shipped_configurations_have_no_mistakes() {
    for file in ["ipk/files/etc/config/meshchat", "debian/meshchat.conf"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let out = Command::new(bin())
            .args(["check-config", "--config"])
            .arg(&path)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
