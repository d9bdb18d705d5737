//! `meshchat send`, `meshchat tail` and `meshchat export`: the chat from a LAN computer's
//! shell, through the HTTP API of any MeshChat node (meshchat or the Lua one), or from
//! this node's own log.
//!
//! In scope: building requests from flags, printing messages for people and scripts.
//! Out of scope: HTTP itself (the sync daemon's peer client, with its limits, is reused).
//!
//! The commands that talk to another node (`send`, `tail`, `export --url`) are the cargo
//! feature `client`: on in `cargo build`, `serve` builds and the `.deb` packages, off in
//! node packages, which are 20 KB smaller without them (docs/PACKAGING.md, "Size").

#[cfg(feature = "client")]
use std::time::Duration;

#[cfg(feature = "client")]
use crate::http::client::{Client, STALL};
use crate::protocol::direct;
use crate::protocol::export::{push_line, Format, CSV_HEADER};
#[cfg(feature = "client")]
use crate::protocol::form::percent_encode;
#[cfg(feature = "client")]
use crate::protocol::json::{parse_flat_object, Flat};
use crate::protocol::lines::MessageRef;
#[cfg(feature = "client")]
use crate::protocol::lines::{parse_all, Message};
#[cfg(feature = "client")]
use crate::protocol::{CallSign, Channel};

/// Why `send`, `tail` and `export --url` refuse in a node build, and what to use instead.
#[cfg(not(feature = "client"))]
pub const NOT_IN_NODE_BUILDS: &str = "not in node packages (they leave out the commands \
     that talk to another node): run it from a LAN computer's meshchat (the .deb packages \
     or a build from source), or call the HTTP API with uclient-fetch, wget or curl \
     (docs/API.md)";

/// The API URL for what a user typed: `node`, `node:8080`, `http://node:8080/`, or the
/// full `.../cgi-bin/meshchat`.
#[cfg(feature = "client")]
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

#[cfg(feature = "client")]
fn client(url: &str) -> Client {
    Client::new(api_url(url), STALL)
}

/// Posts one message; the server's refusal comes back as the error.
/// With `to`, a direct message: the channel is `@A+B` of the two call signs.
#[cfg(feature = "client")]
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

/// Which messages `tail` and `export` show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only direct conversations (`@A+B` channels) with this call sign.
    pub direct_with: Option<String>,
    /// Only messages dated at or after this (unix seconds).
    pub since: u64,
}

impl Filter {
    /// `--to CALL`, with `--call-sign ME` the one conversation, without it every
    /// conversation CALL takes part in; `--channel C` (not with `--to`).
    pub fn new(
        channel: Option<String>,
        to: Option<&str>,
        me: Option<&str>,
    ) -> Result<Filter, String> {
        let Some(to) = to else {
            return Ok(Filter {
                channel,
                ..Default::default()
            });
        };
        if channel.is_some() {
            return Err("--to and --channel cannot be used together".into());
        }
        Ok(match me {
            Some(me) => Filter {
                channel: Some(
                    direct::channel(me, to)
                        .map_err(|e| e.to_string())?
                        .to_string(),
                ),
                ..Default::default()
            },
            None => Filter {
                direct_with: Some(to.trim().to_ascii_uppercase()),
                ..Default::default()
            },
        })
    }

    /// True for a message of `channel` dated `epoch` that this filter lets through.
    pub fn wants(&self, channel: &str, epoch: u64) -> bool {
        epoch >= self.since
            && self.channel.as_ref().is_none_or(|c| c == channel)
            && self
                .direct_with
                .as_ref()
                .is_none_or(|w| direct::members(channel).is_some_and(|(a, b)| a == w || b == w))
    }
}

/// The message `send -` reads: all of stdin, through the one read-to-end every reader
/// uses, without its final newline.
#[cfg(feature = "client")]
pub fn message_from_stdin() -> Result<String, String> {
    let mut bytes = Vec::new();
    crate::reading::to_end(&mut std::io::stdin(), &mut bytes)
        .map_err(|e| format!("cannot read the message from stdin: {e}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| "cannot read the message from stdin: it is not UTF-8 text".to_string())?;
    Ok(text.trim_end_matches('\n').to_string())
}

/// One message as shown.
#[cfg(feature = "client")]
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
#[cfg(feature = "client")]
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

#[cfg(feature = "client")]
fn version(c: &Client) -> Result<String, String> {
    let body = c
        .get("action=messages_version")
        .and_then(|r| r.bytes())
        .map_err(|e| format!("messages_version: {e}"))?;
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

#[cfg(feature = "client")]
fn stdout_failed(e: std::io::Error) -> String {
    format!("cannot write to stdout: {e}")
}

/// `YYYY-MM-DD HH:MM` (UTC) of unix seconds.
#[cfg(feature = "client")]
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
#[cfg(feature = "client")]
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
#[cfg(feature = "client")]
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
    seen.sort_unstable();
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

/// Where `export` reads messages from.
enum Source<'a> {
    /// A node's `messages_raw` (any MeshChat node), checked against its `Content-MD5`.
    #[cfg(feature = "client")]
    Url(&'a str),
    /// This node's message log.
    Log(&'a crate::store::log::Log),
}

/// `meshchat export`: the messages `filter` lets through, from the node at `url` (any
/// MeshChat node), else from the log `cfg` describes, to stdout in `format`. A broken
/// pipe (`| head`) ends it quietly.
pub fn export(
    url: Option<&str>,
    cfg: Option<&crate::config::Config>,
    format: &str,
    filter: &Filter,
) -> Result<(), String> {
    let format = format.parse()?;
    if let (None, Some(c)) = (url, cfg) {
        // A mistyped --data or data_dir would otherwise export nothing, silently.
        if !c.paths.data_dir.is_dir() {
            return Err(format!(
                "{}: no such directory, so no message log to export",
                c.paths.data_dir.display()
            ));
        }
    }
    let out = &mut std::io::stdout().lock();
    let log = cfg.map(|c| c.store().log);
    let source = match (url, &log) {
        #[cfg(feature = "client")]
        (Some(url), _) => Source::Url(url),
        #[cfg(not(feature = "client"))]
        (Some(_), _) => return Err(format!("export --url is {NOT_IN_NODE_BUILDS}")),
        (None, Some(log)) => Source::Log(log),
        (None, None) => return Err("export needs --url or this node's configuration".into()),
    };
    let (_, refused) = write_from(source, format, filter, out)?;
    if refused > 0 {
        let were = if refused == 1 {
            "was not a valid message"
        } else {
            "were not valid messages"
        };
        eprintln!(
            "meshchat: {} of the node's answer {were}, left out",
            crate::count(refused as u64, "line")
        );
    }
    Ok(())
}

/// Writes the messages `filter` lets through to `out` in `format`, oldest first, in
/// the order the source keeps them. Returns how many were written and how many lines
/// of a node's answer were refused.
fn write_from(
    source: Source,
    format: Format,
    filter: &Filter,
    out: &mut impl std::io::Write,
) -> Result<(usize, usize), String> {
    match source {
        #[cfg(feature = "client")]
        Source::Url(url) => {
            let bytes = client(url)
                .get("action=messages_raw")
                .and_then(|r| r.checked_bytes())
                .map_err(|e| format!("{}: {e}", api_url(url)))?;
            let text = String::from_utf8_lossy(&bytes);
            let lines = text
                .split('\n')
                .filter(|l| !l.is_empty())
                .map(MessageRef::parse);
            write_export(lines, format, filter, out)
        }
        Source::Log(log) => {
            let contents = log.read().map_err(|e| e.to_string())?;
            let view = contents.view(log.max());
            write_export(
                view.messages.iter().map(|m| Ok::<_, ()>(*m)),
                format,
                filter,
                out,
            )
        }
    }
}

fn write_export<'a, E>(
    messages: impl Iterator<Item = Result<MessageRef<'a>, E>>,
    format: Format,
    filter: &Filter,
    out: &mut impl std::io::Write,
) -> Result<(usize, usize), String> {
    let mut buf = Vec::with_capacity(64 * 1024);
    if format == Format::Csv {
        buf.extend_from_slice(CSV_HEADER.as_bytes());
    }
    let (mut written, mut refused) = (0, 0);
    for m in messages {
        let Ok(m) = m else {
            refused += 1;
            continue;
        };
        if filter.wants(m.channel, m.epoch.0) {
            push_line(&mut buf, format, &m);
            written += 1;
        }
        if buf.len() >= EXPORT_CHUNK {
            if !flush(out, &buf)? {
                return Ok((written, refused));
            }
            buf.clear();
        }
    }
    flush(out, &buf)?;
    Ok((written, refused))
}

/// Bytes of output gathered before each write.
const EXPORT_CHUNK: usize = 60 * 1024;

/// Writes `buf`; `false` when the reader went away (`export | head`), which is no error.
fn flush(out: &mut impl std::io::Write, buf: &[u8]) -> Result<bool, String> {
    match out.write_all(buf).and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "client")]
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
    #[cfg(feature = "client")]
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
