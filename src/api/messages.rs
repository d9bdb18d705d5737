//! Actions on the message database: `send_message`, `messages`, `messages_version_ui`,
//! `messages_version`, `messages_raw`, `messages_md5`, `messages_download`.

use std::io::Read;

use super::exchange::{md5_hex, Body, Response, JSON};
use super::{gzip, presence, store_failed, Api, Call};
use crate::protocol::export::{push_message, push_message_counted};
use crate::protocol::json::{push_array, Object};
use crate::protocol::lines::{Message, MessageRef, StoredText};
use crate::protocol::{CallSign, Channel, Epoch, MessageId};
use crate::store::cache::{MAX_GZIP, MAX_PLAIN, MAX_RAW};
use crate::store::log::{self, View};

/// `send_message`: validates every field, then appends one record.
pub fn send_message(api: &Api, call: &mut Call) -> Response {
    match build_message(api, call) {
        Ok(m) => match api.log.append(&[m]) {
            Ok(()) => Response::ok(),
            Err(e) => store_failed(e),
        },
        Err(reason) => Response::refused(reason),
    }
}

fn build_message(api: &Api, call: &Call) -> Result<Message, String> {
    let p = &call.params;
    let text = StoredText::escape(p.get("message").unwrap_or("")).map_err(|e| e.to_string())?;
    let call_sign: CallSign = p
        .get("call_sign")
        .unwrap_or("")
        .parse()
        .map_err(|e: crate::protocol::FieldError| e.to_string())?;
    let channel: Channel = p
        .get("channel")
        .unwrap_or("")
        .parse()
        .map_err(|e: crate::protocol::FieldError| e.to_string())?;
    if channel.has_space() {
        return Err("invalid channel: contains whitespace".into());
    }
    let id = match p.get_nonempty("id") {
        Some(id) => id.parse::<MessageId>().map_err(|e| e.to_string())?,
        None => log::random_id().map_err(|e| {
            eprintln!("meshchat: {e}");
            e.reply()
        })?,
    };
    // The sender's clock is used only when it is ahead of ours (legacy), and not by more
    // than the mesh accepts.
    let epoch = match p.get_nonempty("epoch") {
        Some(e) => {
            let e: Epoch = e
                .parse()
                .map_err(|e: crate::protocol::FieldError| e.to_string())?;
            if e.too_far_ahead(call.now) {
                return Err("invalid epoch: more than 30 days ahead".into());
            }
            e.max(call.now)
        }
        None => call.now,
    };
    Ok(Message {
        id,
        epoch,
        text,
        call_sign,
        node: api.cfg.node().clone(),
        platform: api.cfg.platform(),
        channel,
    })
}

/// Writes the `messages` JSON array (newest first) of a view.
pub fn write_messages_json(out: &mut Vec<u8>, messages: &[MessageRef]) {
    push_array(out, messages.iter().rev(), |out, m| push_message(out, m));
}

/// The same, with `"held_by":N` on the messages `held_by` gives a count for
/// (`messages&delivery=1`).
pub fn write_messages_json_counted(
    out: &mut Vec<u8>,
    messages: &[MessageRef],
    held_by: impl Fn(&MessageRef) -> Option<u64>,
) {
    push_array(out, messages.iter().rev(), |out, m| {
        push_message_counted(out, m, held_by(m))
    });
}

/// `messages`: the whole database as JSON, newest first; gzip when accepted. With
/// `call_sign` and `epoch`, also a presence heartbeat (legacy). The body is cached in RAM
/// per state of the log: every browser fetches it after each change.
pub fn messages(api: &Api, call: &mut Call) -> Response {
    if call.params.get_nonempty("call_sign").is_some()
        && call.params.get_nonempty("epoch").is_some()
    {
        if let Err(r) = presence::heartbeat(api, call) {
            return r;
        }
    }
    if super::delivery::asked(call) {
        return messages_counted(api, call);
    }
    let gzip = call.req.accept_gzip;
    let name = if gzip {
        "messages.json.gz"
    } else {
        "messages.json"
    };
    let body = cached(
        api,
        name,
        if gzip { MAX_GZIP } else { MAX_PLAIN },
        |view, size| {
            let mut body = Vec::with_capacity(size + size / 4 + 2);
            write_messages_json(&mut body, &view.messages);
            if gzip {
                body = gzip::compress(&body);
            }
            body
        },
    );
    match body {
        Ok(body) => {
            let r = Response::with_body(JSON, body);
            if gzip {
                r.header("Content-Encoding", "gzip")
            } else {
                r
            }
        }
        Err(r) => r,
    }
}

/// `messages&delivery=1`: the messages, those posted here with `"held_by":N` (built
/// for each request: the counts change without the log changing).
fn messages_counted(api: &Api, call: &Call) -> Response {
    let counts = match super::delivery::Counts::read(api) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let contents = match api.log.read() {
        Ok(c) => c,
        Err(e) => return store_failed(e),
    };
    let view = contents.view(api.log.max());
    let mut body = Vec::with_capacity(contents.len() + contents.len() / 4 + 2);
    write_messages_json_counted(&mut body, &view.messages, |m| counts.of(m));
    if call.req.accept_gzip {
        Response::json(gzip::compress(&body)).header("Content-Encoding", "gzip")
    } else {
        Response::json(body)
    }
}

/// A body built from the logical database, cached in RAM under `name` for the log's
/// current state (at most `limit` bytes): built once per change, then served as is,
/// straight from the cache file. `build` gets the view and the log's size in bytes.
fn cached(
    api: &Api,
    name: &str,
    limit: usize,
    build: impl FnOnce(&View, usize) -> Vec<u8>,
) -> Result<Body, Response> {
    if let Ok(key) = api.log.identity() {
        if let Some((file, len)) = api.cache.open(name, &key) {
            return Ok(Body::File(file, len));
        }
    }
    let contents = api.log.read().map_err(store_failed)?;
    let body = build(&contents.view(api.log.max()), contents.len());
    if let Some(key) = contents.identity(api.log.max()) {
        api.cache.put(name, &key, &body, limit);
    }
    Ok(Body::Bytes(body))
}

/// [`cached`], in memory (for bodies that are also hashed).
fn cached_bytes(
    api: &Api,
    name: &str,
    limit: usize,
    build: impl FnOnce(&View, usize) -> Vec<u8>,
) -> Result<Vec<u8>, Response> {
    match cached(api, name, limit, build)? {
        Body::Bytes(b) => Ok(b),
        Body::File(file, len) => {
            let mut b = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1);
            match file.take(len).read_to_end(&mut b) {
                Ok(n) if n as u64 == len => Ok(b),
                Ok(_) => Err(Response::failed("the cached body shrank while it was read")),
                Err(e) => Err(Response::failed(format!(
                    "cannot read the cached body: {e}"
                ))),
            }
        }
    }
}

/// `messages_version_ui`: the version as JSON, plus a presence heartbeat.
pub fn messages_version_ui(api: &Api, call: &mut Call) -> Response {
    if call.params.get_nonempty("call_sign").is_some() {
        if let Err(r) = presence::heartbeat(api, call) {
            return r;
        }
    }
    let v = match api.log.version() {
        Ok(v) => v,
        Err(e) => return store_failed(e),
    };
    if !super::delivery::asked(call) {
        return Response::json(format!("{{\"messages_version\":{v}}}\n").into_bytes());
    }
    let counts = match super::delivery::ui_counts(api) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut body = Vec::new();
    Object::new(&mut body)
        .num("messages_version", v)
        .raw("delivery", &counts)
        .end();
    body.push(b'\n');
    Response::json(body)
}

/// `messages_version`: the bare number. Deliberately without the legacy trailing newline,
/// so legacy peers comparing untrimmed take their "unchanged" shortcut against us.
pub fn messages_version(api: &Api, _call: &mut Call) -> Response {
    match api.log.version() {
        Ok(v) => Response::text(v.to_string()),
        Err(e) => store_failed(e),
    }
}

/// The database lines, oldest first, as legacy peers pull them; cached like `messages`
/// (every legacy peer pulls the same body after each change).
fn raw_lines(api: &Api) -> Result<Vec<u8>, Response> {
    cached_bytes(api, "messages.raw", MAX_RAW, |view, size| {
        let mut body = Vec::with_capacity(size);
        for m in &view.messages {
            body.extend_from_slice(m.line.as_bytes());
            body.push(b'\n');
        }
        body
    })
}

/// `messages_raw`: the database lines with `Content-MD5`.
pub fn messages_raw(api: &Api, _call: &mut Call) -> Response {
    match raw_lines(api) {
        Ok(body) => Response::text(body).with_md5(),
        Err(r) => r,
    }
}

/// `messages_md5`: the MD5 of what `messages_raw` serves.
pub fn messages_md5(api: &Api, _call: &mut Call) -> Response {
    match raw_lines(api) {
        Ok(body) => Response::text(format!("{}\n", md5_hex(&body))),
        Err(r) => r,
    }
}

/// `messages_download`: the database lines as an attachment.
pub fn messages_download(api: &Api, _call: &mut Call) -> Response {
    match raw_lines(api) {
        Ok(body) => Response::text(body)
            .with_md5()
            .header("Content-Disposition", "attachment; filename=messages.txt;"),
        Err(r) => r,
    }
}
