//! `meshchat send`, `meshchat tail` and `meshchat export`: the chat from a LAN computer's
//! shell, through the HTTP API of any MeshChat node (meshchat or the Lua one), or from
//! this node's own log.
//!
//! In scope: building requests from flags, printing messages for people and scripts.
//! `remote` holds the commands that talk to another node (`send`, `tail`, `export
//! --url`): the cargo feature `client`, left out of node packages.

#[cfg(feature = "client")]
mod remote;

#[cfg(feature = "client")]
pub use remote::{message_from_stdin, send, tail};

use crate::protocol::direct;
use crate::protocol::export::{push_line, Format, CSV_HEADER};
use crate::protocol::lines::MessageRef;

/// Why `send`, `tail` and `export --url` refuse in a node build, and what to use instead.
#[cfg(not(feature = "client"))]
pub const NOT_IN_NODE_BUILDS: &str = "not in node packages (they leave out the commands \
     that talk to another node): run it from a LAN computer's meshchat (the .deb packages \
     or a build from source), or call the HTTP API with uclient-fetch, wget or curl \
     (docs/API.md)";

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
            let bytes = remote::messages_raw(url)?;
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
