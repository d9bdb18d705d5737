//! Every action of docs/PROTOCOL.md, one function each: a [`Request`] in, a [`Response`] out.
//!
//! In scope: parameter parsing and validation, the response bytes (headers and body) the
//! mesh expects. Out of scope: how the request arrived (CGI or a socket) and how the
//! response leaves; adapters in `cgi.rs` and `server.rs` translate.

pub mod auth;
pub mod delivery;
pub mod digest;
pub mod exchange;
pub mod files;
pub mod gzip;
pub mod messages;
pub mod node;
pub mod presence;

use std::io::Read;

pub use exchange::{Body, Request, Response};

use crate::config::Config;
use crate::protocol::form::Params;
use crate::protocol::limits::{MAX_FORM_BODY, MAX_QUERY};
use crate::protocol::Epoch;
use crate::store::Store;

/// Version this program reports in `config`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The legacy protocol version we speak.
pub const PROTOCOL_VERSION: &str = "1.02";

/// The node's state, as the actions see it. Cheap to build: nothing is opened until an
/// action needs it.
pub struct Api<'c> {
    pub cfg: &'c Config,
    /// The node's files; `api.log`, `api.users`, ... reach them directly.
    pub store: Store,
}

impl std::ops::Deref for Api<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// What every action receives: parsed parameters plus the request's context.
pub struct Call<'r, 'a> {
    pub params: Params,
    pub req: &'r mut Request<'a>,
    pub now: Epoch,
}

impl<'c> Api<'c> {
    /// The API of the node `cfg` describes.
    pub fn new(cfg: &'c Config) -> Api<'c> {
        Api {
            cfg,
            store: cfg.store(),
        }
    }

    /// Answers one request.
    pub fn handle(&self, req: &mut Request) -> Response {
        if req.query.len() > MAX_QUERY {
            return Response::refused("query string is too long");
        }
        let mut params = Params::new();
        params.add_urlencoded(req.query.as_bytes());
        let content_type = req.content_type.unwrap_or("").to_ascii_lowercase();
        let multipart = content_type.starts_with("multipart/form-data");
        if req.post && !multipart {
            // Form fields in the body (urlencoded, or any other type: read the same way,
            // as legacy does).
            if req.content_length.is_some_and(|n| n > MAX_FORM_BODY as u64) {
                return Response::refused("request body is too large");
            }
            let mut body = Vec::new();
            match crate::reading::to_end(&mut req.body.take(MAX_FORM_BODY as u64 + 1), &mut body) {
                Ok(n) if n > MAX_FORM_BODY => {
                    return Response::refused("request body is too large")
                }
                Ok(_) => params.add_urlencoded(&body),
                Err(e) => return Response::refused(format!("cannot read the request body: {e}")),
            }
        }
        let action = params.get("action").unwrap_or("").to_string();
        let mut call = Call {
            params,
            req,
            now: Epoch::now(),
        };
        // A multipart body may name its action among its own fields (`curl -F
        // action=upload_file -F uploadfile=@f`): upload_file reads them and checks.
        if multipart && !action.is_empty() && action != "upload_file" {
            return Response::refused("multipart bodies are only accepted by upload_file");
        }
        if multipart {
            return files::upload_file(self, &mut call);
        }
        match action.as_str() {
            "config" => node::config(self, &mut call),
            "send_message" => messages::send_message(self, &mut call),
            "messages" => messages::messages(self, &mut call),
            "messages_version_ui" => messages::messages_version_ui(self, &mut call),
            "messages_version" => messages::messages_version(self, &mut call),
            "messages_raw" => messages::messages_raw(self, &mut call),
            "messages_md5" => messages::messages_md5(self, &mut call),
            "messages_download" => messages::messages_download(self, &mut call),
            "users" => presence::users(self, &mut call),
            "users_raw" => digest::advertise(self, presence::users_raw(self, &mut call)),
            "local_files_raw" => files::local_files_raw(self, &mut call),
            "files" => files::files(self, &mut call),
            "file_download" => files::file_download(self, &mut call),
            "upload_file" => files::upload_file(self, &mut call),
            "delete_file" => files::delete_file(self, &mut call),
            "sync_status" => node::sync_status(self, &mut call),
            "sync_digest" => digest::sync_digest(self, &mut call),
            "sync_peers" => digest::sync_peers(self, &mut call),
            "delivery" => delivery::delivery(self, &mut call),
            "meshchat_nodes" => node::meshchat_nodes(self, &mut call),
            "hosts" => node::hosts(self, &mut call),
            "hosts_raw" => node::hosts_raw(self, &mut call),
            "action_log" => node::action_log(self, &mut call),
            _ => no_action(),
        }
    }
}

/// The fallback for a missing or unknown action (legacy text).
pub fn no_action() -> Response {
    Response::text("error no action\n")
}

/// Turns a store failure into a 500 reply, reporting it on stderr (the web server's
/// log, syslog on a node) with the path; the reply names the file only.
pub fn store_failed(e: crate::store::Error) -> Response {
    eprintln!("meshchat: {e}");
    Response::failed(e.reply())
}
