//! The commands that talk to another node over its HTTP API (any MeshChat node: meshchat
//! or the Lua one): `send`, `tail` and `export --url`. The cargo feature `client`: on in
//! `cargo build`, `serve` builds and the `.deb` packages, off in node packages, which are
//! 20 KB smaller without them (docs/PACKAGING.md, "Size").
//!
//! Out of scope: HTTP itself (the sync daemon's peer client, with its limits, is reused).

use std::time::Duration;

use super::Filter;
use crate::http::client::{Client, STALL};
use crate::protocol::direct;
use crate::protocol::form::percent_encode;
use crate::protocol::json::{parse_flat_object, Flat};
use crate::protocol::lines::{parse_all, Message};
use crate::protocol::{CallSign, Channel};

/// The API URL for what a user typed: `node`, `node:8080`, `http://node:8080/`, or the
/// full `.../cgi-bin/meshchat`.
pub fn api_url(target: &str) -> String {
    let t = target.trim().trim_end_matches('/');
    let t = if t.contains("://") {
        t.to_string()
    } else {
        format!("http://{t}")
    };
    if t.ends_with("/cgi-bin/meshchat") {
        return t;
    }
    let has_port = t.rsplit("://").next().is_some_and(|h| h.contains(':'));
    format!(
        "{t}{}/cgi-bin/meshchat",
        if has_port { "" } else { ":8080" }
    )
}

fn client(url: &str) -> Client {
    Client::new(api_url(url), STALL)
}

/// Posts one message; the server's refusal comes back as the error.
/// With `to`, a direct message: the channel is `@A+B` of the two call signs.
pub fn send(
    url: &str,
    call_sign: &str,
    channel: &str,
    to: Option<&str>,
    text: &str,
) -> Result<(), String> {
    // Upper-case, as the web UI sends it: the same station is one call sign.
    let call_sign = &call_sign.to_uppercase();
    let cs: CallSign = call_sign
        .to_uppercase()
        .parse()
        .map_err(|e: crate::protocol::FieldError| e.to_string())?;
    let ch: Channel = match to {
        Some(_) if !channel.is_empty() => {
            return Err("--to and --channel cannot be used together".into())
        }
        Some(to) => direct::channel(call_sign, to).map_err(|e| e.to_string())?,
        None => channel
            .parse()
            .map_err(|e: crate::protocol::FieldError| e.to_string())?,
    };
    let epoch = crate::protocol::Epoch::now();
    let form = format!(
        "action=send_message&call_sign={}&channel={}&epoch={epoch}&message={}",
        percent_encode(cs.as_str()),
        percent_encode(ch.as_str()),
        percent_encode(text)
    );
    let body = client(url)
        .post_any_status(&form)
        .and_then(|r| r.bytes())
        .map_err(|e| format!("{}: {e}", api_url(url)))?;
    let unexpected = || format!("unexpected answer: {}", String::from_utf8_lossy(&body));
    let reply = parse_flat_object(&body).ok_or_else(unexpected)?;
    let get = |k: &str| reply.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    match (get("status"), get("response")) {
        (Some(Flat::Num(200)), _) => Ok(()),
        (_, Some(Flat::Str(why))) => Err(format!("refused: {why}")),
        _ => Err(unexpected()),
    }
}

/// The message `send -` reads: all of stdin, through the one read-to-end every reader
/// uses, without its final newline.
pub fn message_from_stdin() -> Result<String, String> {
    let mut bytes = Vec::new();
    crate::reading::to_end(&mut std::io::stdin(), &mut bytes)
        .map_err(|e| format!("cannot read the message from stdin: {e}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| "cannot read the message from stdin: it is not UTF-8 text".to_string())?;
    Ok(text.trim_end_matches('\n').to_string())
}

/// One message as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    pub epoch: u64,
    pub call_sign: String,
    pub node: String,
    pub channel: String,
    pub message: String,
}

/// The node's database through `messages_raw` (checked against its `Content-MD5`, parsed
/// by the one line parser), oldest first.
fn fetch(c: &Client) -> Result<Vec<Shown>, String> {
    let body = c
        .get("action=messages_raw")
        .and_then(|r| r.checked_bytes())
        .map_err(|e| format!("messages_raw: {e}"))?;
    let (mut list, _) = parse_all(&String::from_utf8_lossy(&body), Message::parse);
    list.sort_by_key(|m| (m.epoch, m.id));
    Ok(list
        .into_iter()
        .map(|m| Shown {
            id: m.id.to_string(),
            epoch: m.epoch.0,
            call_sign: m.call_sign.to_string(),
            node: m.node.to_string(),
            channel: m.channel.to_string(),
            message: m.text.unescape(),
        })
        .collect())
}

fn version(c: &Client) -> Result<String, String> {
    let body = c
        .get("action=messages_version")
        .and_then(|r| r.bytes())
        .map_err(|e| format!("messages_version: {e}"))?;
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

fn stdout_failed(e: std::io::Error) -> String {
    format!("cannot write to stdout: {e}")
}

/// `YYYY-MM-DD HH:MM` (UTC) of unix seconds.
pub fn format_time(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// One message for a terminal: time, channel, sender, text; continuation lines indented.
/// Control characters from the mesh are shown as `?`, never sent to the terminal.
pub fn format(m: &Shown) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
            .collect::<String>()
    };
    let chan = if m.channel.is_empty() {
        String::new()
    } else {
        format!("[{}] ", clean(&m.channel))
    };
    let text = clean(&m.message).replace('\n', "\n    ");
    format!(
        "{}Z {chan}{}@{}: {text}",
        format_time(m.epoch),
        clean(&m.call_sign),
        clean(&m.node)
    )
}

/// Prints the last `lines` messages (of `channel`, if given); with `follow`, keeps
/// printing new ones, polling the cheap `messages_version` every `interval`.
pub fn tail(
    url: &str,
    filter: &Filter,
    lines: usize,
    follow: bool,
    interval: Duration,
) -> Result<(), String> {
    use std::io::Write;
    // A reader that went away (`| head`) ends the output quietly, as `cat` does.
    let written = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(stdout_failed(e)),
        Ok(()) => Ok(true),
    };
    let c = client(url);
    let wanted = |m: &Shown| filter.wants(&m.channel, m.epoch);
    let mut last_version = version(&c).map_err(|e| format!("{}: {e}", api_url(url)))?;
    let all = fetch(&c).map_err(|e| format!("{}: {e}", api_url(url)))?;
    let shown: Vec<&Shown> = all.iter().filter(|m| wanted(m)).collect();
    let mut out = std::io::stdout().lock();
    for m in &shown[shown.len().saturating_sub(lines)..] {
        if !written(writeln!(out, "{}", format(m)))? {
            return Ok(());
        }
    }
    if !written(out.flush())? {
        return Ok(());
    }
    drop(out);
    // The ids shown or passed over, sorted: a binary search each, rather than a hash set
    // (std's `HashSet<String>` brings SipHash and its random keys, 3 KB of binary).
    let mut seen: Vec<String> = all.into_iter().map(|m| m.id).collect();
    crate::sort::sort(&mut seen);
    seen.dedup();
    while follow && !crate::sys::stop_requested() {
        std::thread::sleep(interval);
        // A node that is briefly unreachable is retried, not fatal.
        let Ok(v) = version(&c) else { continue };
        if v == last_version {
            continue;
        }
        let Ok(all) = fetch(&c) else { continue };
        last_version = v;
        let mut out = std::io::stdout().lock();
        for m in all {
            let Err(at) = seen.binary_search(&m.id) else {
                continue;
            };
            if wanted(&m) && !written(writeln!(out, "{}", format(&m)))? {
                return Ok(());
            }
            seen.insert(at, m.id);
        }
        if !written(out.flush())? {
            return Ok(());
        }
    }
    Ok(())
}

/// A node's `messages_raw` (any MeshChat node), checked against its `Content-MD5`: what
/// `export --url` writes out.
pub fn messages_raw(url: &str) -> Result<Vec<u8>, String> {
    client(url)
        .get("action=messages_raw")
        .and_then(|r| r.checked_bytes())
        .map_err(|e| format!("{}: {e}", api_url(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(api_url("node-a"), "http://node-a:8080/cgi-bin/meshchat");
        assert_eq!(
            api_url("node-a.local.mesh:80/"),
            "http://node-a.local.mesh:80/cgi-bin/meshchat"
        );
        assert_eq!(
            api_url("http://10.0.0.1:8081"),
            "http://10.0.0.1:8081/cgi-bin/meshchat"
        );
        assert_eq!(
            api_url("http://x:1/cgi-bin/meshchat"),
            "http://x:1/cgi-bin/meshchat"
        );
    }

    #[test]
    fn times_and_lines() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1795661251), "2026-11-26 02:47");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00");
        let m = Shown {
            id: "0a1b2c3d".into(),
            epoch: 1795661251,
            call_sign: "K1ABC".into(),
            node: "node-a".into(),
            channel: "ops".into(),
            message: "line1\nline2 \u{1b}[2J".into(),
        };
        assert_eq!(
            format(&m),
            "2026-11-26 02:47Z [ops] K1ABC@node-a: line1\n    line2 ?[2J"
        );
    }
}
