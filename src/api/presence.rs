//! Presence actions: `users`, `users_raw`, and the heartbeat that `messages` and
//! `messages_version_ui` record.

use super::exchange::Response;
use super::{store_failed, Api, Call};
use crate::protocol::json::{push_array, Object};
use crate::protocol::lines::User;
use crate::protocol::{CallSign, Epoch, FieldError, SessionId};

/// Records the caller (`call_sign`, `id`, `epoch`) as active on this node. A call without
/// a session id is answered but not recorded; invalid fields are refused.
pub fn heartbeat(api: &Api, call: &Call) -> Result<(), Response> {
    let p = &call.params;
    let call_sign: CallSign = p
        .get("call_sign")
        .unwrap_or("")
        .parse()
        .map_err(|e: FieldError| Response::refused(e))?;
    let Some(id) = p.get_nonempty("id") else {
        return Ok(());
    };
    let id: SessionId = id.parse().map_err(|e: FieldError| Response::refused(e))?;
    // Legacy: the caller's clock when it is ahead of ours, within reason.
    let epoch = p
        .get_nonempty("epoch")
        .and_then(|e| e.parse::<Epoch>().ok())
        .filter(|e| !e.too_far_ahead(call.now))
        .map_or(call.now, |e| e.max(call.now));
    let user = User {
        call_sign,
        id,
        node: api.cfg.node().clone(),
        epoch,
        platform: api.cfg.platform(),
    };
    api.users.heartbeat(user, call.now).map_err(store_failed)
}

/// `users`: local and remote users, newest first.
pub fn users(api: &Api, _call: &mut Call) -> Response {
    let users = match api.users.all() {
        Ok(u) => u,
        Err(e) => return store_failed(e),
    };
    let mut body = Vec::with_capacity(users.len() * 100 + 3);
    push_array(&mut body, &users, |out, u| {
        Object::new(out)
            .str("call_sign", u.call_sign.as_str())
            .str("id", u.id.as_str())
            .str("node", u.node.as_str())
            .num("epoch", u.epoch.0)
            .str("platform", u.platform.as_str())
            .end();
    });
    body.push(b'\n');
    Response::json(body)
}

/// `users_raw`: this node's users as lines, with `Content-MD5`.
pub fn users_raw(api: &Api, _call: &mut Call) -> Response {
    match api.users.local_raw() {
        Ok(body) => Response::text(body).with_md5(),
        Err(e) => store_failed(e),
    }
}
