//! Delivery counts (docs/API.md): the `delivery` action, the counts `messages` and
//! `messages_version_ui` add when asked with `delivery=1`, and the `D` gossip section of
//! a `sync_digest` check.
//!
//! All of it is read from what the sync daemon wrote in RAM (`store::delivery`); before
//! its first round a message of our log is known to be held here only. Legacy clients
//! never send `delivery=1` or `d=`, so every legacy reply stays byte for byte the same.

use super::exchange::Response;
use super::{store_failed, Api, Call};
use crate::protocol::delivery::{section_crc, PARAM, SECTION};
use crate::protocol::digest::{parse_crc_param, write_section};
use crate::protocol::json::{push_str, Object};
use crate::protocol::lines::MessageRef;
use crate::protocol::MessageId;
use crate::store::delivery::{read_counts, read_gossip, read_report_of, OwnCounts};

/// Counts `messages_version_ui` carries at most (the newest of this node's messages).
pub const MAX_UI_COUNTS: usize = 100;

/// True when the request asks for delivery counts.
pub fn asked(call: &Call) -> bool {
    call.params.get("delivery") == Some("1")
}

/// `delivery&id=<8 hex>`: `{"id":"…","held_by":["node",…],"of":M}`.
pub fn delivery(api: &Api, call: &mut Call) -> Response {
    let id: MessageId = match call.params.get("id").map(str::parse) {
        Some(Ok(id)) => id,
        _ => return Response::refused("invalid id: 8 hex digits expected"),
    };
    let report = match read_report_of(&api.cfg.paths, id) {
        Ok(r) => r,
        Err(e) => return store_failed(e),
    };
    let of = report.as_ref().map_or(1, |r| r.roster.len());
    let me = crate::protocol::delivery::roster_name(api.cfg.node().as_str());
    let held: Vec<String> = match report.as_ref().and_then(|r| Some((r, r.find(id)?))) {
        Some((r, e)) => r.names(&e.holders).map(str::to_string).collect(),
        None => {
            // Not followed (yet, or any more): held here when our log has it.
            let contents = match api.log.read() {
                Ok(c) => c,
                Err(e) => return store_failed(e),
            };
            if !contents
                .view(api.log.max())
                .messages
                .iter()
                .any(|m| m.id == id)
            {
                return Response::status_reply(404, 404, "no such message on this node");
            }
            vec![me]
        }
    };
    let mut body = Vec::new();
    let mut names = vec![b'['];
    for (i, n) in held.iter().enumerate() {
        if i > 0 {
            names.push(b',');
        }
        push_str(&mut names, n);
    }
    names.push(b']');
    Object::new(&mut body)
        .str("id", std::str::from_utf8(&id.hex()).unwrap_or_default())
        .raw("held_by", &names)
        .num("of", of as u64)
        .end();
    body.push(b'\n');
    Response::json(body)
}

fn own_counts(api: &Api) -> Result<Option<OwnCounts>, Response> {
    read_counts(&api.cfg.paths).map_err(store_failed)
}

/// The `"delivery"` member of `messages_version_ui`: `{"of":M,"held_by":{"<id>":N,…}}`
/// for the newest messages posted here that the daemon follows.
pub fn ui_counts(api: &Api) -> Result<Vec<u8>, Response> {
    let own = own_counts(api)?.unwrap_or(OwnCounts {
        of: 1,
        counts: Vec::new(),
    });
    let mut counts = vec![b'{'];
    let from = own.counts.len().saturating_sub(MAX_UI_COUNTS);
    for (i, (id, n)) in own.counts[from..].iter().enumerate() {
        if i > 0 {
            counts.push(b',');
        }
        push_str(
            &mut counts,
            std::str::from_utf8(&id.hex()).unwrap_or_default(),
        );
        counts.push(b':');
        crate::protocol::json::push_u64(&mut counts, *n as u64);
    }
    counts.push(b'}');
    let mut out = Vec::new();
    Object::new(&mut out)
        .num("of", own.of as u64)
        .raw("held_by", &counts)
        .end();
    Ok(out)
}

/// The counts `messages&delivery=1` adds: messages posted on this node carry theirs
/// (1 when the daemon does not follow them), the others none.
pub struct Counts {
    own: Option<OwnCounts>,
    me: String,
}

impl Counts {
    /// What the daemon last wrote.
    pub fn read(api: &Api) -> Result<Counts, Response> {
        Ok(Counts {
            own: own_counts(api)?,
            me: api.cfg.node().as_str().to_string(),
        })
    }

    /// The count of one message, if posted here.
    pub fn of(&self, m: &MessageRef) -> Option<u64> {
        if !m.node.eq_ignore_ascii_case(&self.me) {
            return None;
        }
        let n = self.own.as_ref().and_then(|c| c.get(m.id)).unwrap_or(1);
        Some(n as u64)
    }
}

/// Bytes of a check reply's body, its `D` section included, past which the section is
/// left out: a reply within one packet on a radio link (1,500 bytes less the IP, TCP
/// and HTTP heads) is lost or not as a whole, while each further packet is one more
/// chance to wait for a retransmission. So the messages and ranges a reply carries for
/// the sync never wait on the counts: the section rides on the quiet checks (an idle
/// one is a header line and the section) and on replies with little news.
pub const GOSSIP_ROOM: usize = 1200;

/// Appends the `D` section to a check reply when the client asked for it (`d=`), the
/// daemon's gossip differs from what the client last merged, and the reply stays
/// within [`GOSSIP_ROOM`].
pub fn gossip_section(api: &Api, call: &Call, out: &mut String) -> Result<(), Response> {
    let Some(seen) = call.params.get(PARAM) else {
        return Ok(());
    };
    let gossip = read_gossip(&api.cfg.paths).map_err(store_failed)?;
    if gossip.is_empty() {
        return Ok(());
    }
    let lines: Vec<&str> = gossip.lines().collect();
    // The section line ("D 17\n") and each line with its newline.
    let size = 4 + lines.len().ilog10() as usize + lines.iter().map(|l| l.len() + 1).sum::<usize>();
    if out.len() + size > GOSSIP_ROOM {
        return Ok(());
    }
    if parse_crc_param(seen) != Some(section_crc(lines.iter().copied())) {
        write_section(out, SECTION, lines);
    }
    Ok(())
}
