//! The server side of the `digest-v1` sync extension (docs/SYNC.md), and `sync_peers`,
//! the daemon's per-peer counters for the status page.
//!
//! `sync_digest` costs a CGI process little: the check request compares the client's
//! last-seen values with the cached version (no log read), the local users file and the
//! shared-files listing, and reads the log only when the version differs; a query
//! request reads the log once. No state is kept between requests.

use super::exchange::{Body, Response};
use super::{files, no_action, store_failed, Api, Call};
use crate::protocol::digest::{
    self, parse_crc_param, parse_queries, partition, split, write_id_list, write_range,
    write_section, Bound, Header, Key, Query,
};
use crate::protocol::json::{push_array, Object};
use crate::protocol::lines::MessageRef;
use crate::protocol::NodeName;
use crate::store::hints;

/// Adds the header that tells a pulling peer, on its first legacy request, that this
/// node speaks the extension (when it does).
pub fn advertise(api: &Api, response: Response) -> Response {
    if api.cfg.digest_sync && response.status == 200 {
        response.header(digest::HEADER, digest::NAME)
    } else {
        response
    }
}

/// `sync_digest`: a check (no `q`) or a batch of range queries (`q`).
pub fn sync_digest(api: &Api, call: &mut Call) -> Response {
    if !api.cfg.digest_sync {
        return no_action();
    }
    if call.params.get("v") != Some("1") {
        return Response::refused("sync_digest: unsupported version");
    }
    let body = match call.params.get("q").map(str::to_string) {
        Some(q) => queries(api, &q),
        None => check(api, call),
    };
    match body {
        Ok(b) => Response::text(b).with_md5(),
        Err(r) => r,
    }
}

fn keys_of(messages: &[MessageRef]) -> Vec<Key> {
    messages.iter().map(|m| Key::new(m.epoch, m.id)).collect()
}

fn lines<'a>(messages: impl IntoIterator<Item = &'a MessageRef<'a>>) -> Vec<&'a str> {
    messages.into_iter().map(|m| m.line).collect()
}

/// The check: what changed since the client's last visit.
fn check(api: &Api, call: &mut Call) -> Result<String, Response> {
    let floor = match call.params.get_nonempty("floor").map(str::parse::<Bound>) {
        None => Bound::START,
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(Response::refused(e)),
    };
    let seen_version = call
        .params
        .get_nonempty("m")
        .and_then(|v| v.parse::<u64>().ok());
    let seen_users = call.params.get_nonempty("u").and_then(parse_crc_param);
    let seen_files = call.params.get_nonempty("f").and_then(parse_crc_param);

    let users = api.users.local_raw().map_err(store_failed)?;
    let files_reply = files::local_files_raw(api, call);
    let files = match (&files_reply.status, &files_reply.body) {
        (200, Body::Bytes(b)) => b.clone(),
        _ => return Err(files_reply),
    };
    let (ucrc, fcrc) = (
        crate::protocol::crc32::hash(&users),
        crate::protocol::crc32::hash(&files),
    );

    let mut out = String::with_capacity(256);
    let (version, newest) = api.log.summary().map_err(store_failed)?;
    hint(api, call, newest);
    if seen_version == Some(version) {
        Header {
            version,
            users: Some(ucrc),
            files: Some(fcrc),
        }
        .write(&mut out);
    } else {
        let contents = api.log.read().map_err(store_failed)?;
        let view = contents.view(api.log.max());
        let keys = keys_of(&view.messages);
        let from = keys.partition_point(|k| Bound::Key(*k) < floor);
        Header {
            version: view.version(),
            users: Some(ucrc),
            files: Some(fcrc),
        }
        .write(&mut out);
        for r in partition(&keys[from..]) {
            write_range(&mut out, &r);
        }
        // News piggybacked: the client's newest key (`n`) tells what it surely lacks,
        // our messages after it; when they are few, they come in this reply and
        // spare the client a query request (on a lossy path, half the failures).
        if let Some(Ok(Bound::Key(theirs))) = call.params.get_nonempty("n").map(str::parse) {
            let newer = keys.len() - keys.partition_point(|k| *k <= theirs);
            if (1..=PIGGYBACK).contains(&newer) {
                let at = view.messages.len() - newer;
                write_section(&mut out, 'M', lines(&view.messages[at..]));
            }
        }
    }
    if seen_users != Some(ucrc) {
        write_section(&mut out, 'U', String::from_utf8_lossy(&users).split('\n'));
    }
    if seen_files != Some(fcrc) {
        write_section(&mut out, 'F', String::from_utf8_lossy(&files).split('\n'));
    }
    super::delivery::gossip_section(api, call, &mut out)?;
    Ok(out)
}

/// Most messages a check reply carries unasked (those after the client's newest).
pub const PIGGYBACK: usize = digest::SMALL;

/// The gossip hint: a client whose check names a newest key (`n`) newer than ours
/// holds a message we lack. Our sync daemon is told, and pulls it at once. Cheap: the
/// newest key comes with the cached version, and only news is written.
fn hint(
    api: &Api,
    call: &Call,
    newest: Option<(crate::protocol::Epoch, crate::protocol::MessageId)>,
) {
    let Some(Ok(Bound::Key(theirs))) = call.params.get_nonempty("n").map(str::parse::<Bound>)
    else {
        return;
    };
    let ours = newest.map(|(e, id)| Key::new(e, id));
    if ours.is_some_and(|k| theirs <= k) {
        return;
    }
    let Some(Ok(node)) = call.params.get_nonempty("node").map(str::parse::<NodeName>) else {
        return;
    };
    if node.as_str().eq_ignore_ascii_case(api.cfg.node().as_str()) {
        return;
    }
    if let Err(e) = hints::record(&api.cfg.paths, &node, theirs) {
        eprintln!("meshchat: {e}");
    }
}

/// Answers range queries against one read of the log.
fn queries(api: &Api, q: &str) -> Result<String, Response> {
    let queries = parse_queries(q).map_err(Response::refused)?;
    let contents = api.log.read().map_err(store_failed)?;
    let view = contents.view(api.log.max());
    let keys = keys_of(&view.messages);
    let mut out = String::new();
    Header {
        version: view.version(),
        users: None,
        files: None,
    }
    .write(&mut out);
    for query in queries {
        match query {
            Query::Split(lo, hi) => {
                for r in split(&keys, lo, hi) {
                    write_range(&mut out, &r);
                }
            }
            Query::List(lo, hi) => {
                let ids: Vec<_> = digest::range(&keys, lo, hi).iter().map(|k| k.id).collect();
                write_id_list(&mut out, lo, hi, &ids);
            }
            Query::Have(lo, hi, mut have) => {
                crate::sort::sort(&mut have);
                let found = &view.messages[digest::range_indices(&keys, lo, hi)];
                let lacking = found.iter().filter(|m| have.binary_search(&m.id).is_err());
                write_section(&mut out, 'M', lines(lacking));
            }
            Query::Get(mut want) => {
                crate::sort::sort(&mut want);
                let found = view
                    .messages
                    .iter()
                    .filter(|m| want.binary_search(&m.id).is_ok());
                write_section(&mut out, 'M', lines(found));
            }
        }
    }
    Ok(out)
}

/// `sync_peers`: the sync daemon's counters per peer, as JSON; then the Raven bridge's
/// report (`"mode":"raven"`), when it runs.
pub fn sync_peers(api: &Api, _call: &mut Call) -> Response {
    let list = match api.peers.read() {
        Ok(l) => l,
        Err(e) => return store_failed(e),
    };
    let mut body = Vec::new();
    push_array(&mut body, &list, |out, p| {
        Object::new(out)
            .str("node", p.name.as_str())
            .num("port", u64::from(p.port))
            .str("mode", p.mode.as_str())
            .num("rounds", p.rounds)
            .num("pulled", p.pulled)
            .num("rejected", p.rejected)
            .num("errors", p.errors)
            .num("bytes", p.bytes)
            .num("last_sync", p.last_sync.0)
            .str("last_error", &p.last_error)
            .end();
    });
    if let Some(report) = crate::store::raven::read_report(&api.cfg.paths) {
        body.pop();
        if !list.is_empty() {
            body.push(b',');
        }
        body.extend_from_slice(&report);
        body.push(b']');
    }
    body.push(b'\n');
    Response::json(body)
}
