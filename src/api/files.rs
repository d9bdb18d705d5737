//! Shared-file actions: `files`, `local_files_raw`, `file_download`, `upload_file`,
//! `delete_file`.

use std::io::{Read, Seek, SeekFrom};

use super::auth;
use super::exchange::{Body, Response};
use super::{store_failed, Api, Call};
use crate::protocol::json::{push_array, Object};
use crate::protocol::lines::{FileEntry, NodeAddr};
use crate::protocol::multipart::{self, MultipartError};
use crate::protocol::FileName;
use crate::store::files::UploadError;

/// Multipart overhead allowed on top of the file quota (headers, boundaries, fields).
const UPLOAD_OVERHEAD: u64 = 64 * 1024;

fn local_entries(api: &Api, call: &Call) -> Result<Vec<FileEntry>, Response> {
    let files = api.files.list().map_err(store_failed)?;
    let addr = NodeAddr {
        node: api.cfg.node().clone(),
        port: call.req.server_port,
    };
    Ok(files
        .into_iter()
        .map(|f| FileEntry {
            name: f.name,
            addr: addr.clone(),
            size: f.size,
            mtime: f.mtime,
            platform: api.cfg.platform(),
        })
        .collect())
}

/// `local_files_raw`: this node's files as lines (with the TAB Lua 2.18 forgets), with
/// `Content-MD5`.
pub fn local_files_raw(api: &Api, call: &mut Call) -> Response {
    match local_entries(api, call) {
        Ok(list) => {
            let mut body = String::new();
            for e in &list {
                e.write_line(&mut body);
            }
            Response::text(body).with_md5()
        }
        Err(r) => r,
    }
}

/// `files`: local and remote files, newest first, with storage figures. `deletable`
/// (our addition) tells the UI where a delete button makes sense.
pub fn files(api: &Api, call: &mut Call) -> Response {
    let local = match local_entries(api, call) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let remote = match api.files.remote() {
        Ok(r) => r,
        Err(e) => return store_failed(e),
    };
    let stats = match api.files.stats() {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    let admin = is_admin(api, call);
    let owner = auth::session_token(call.req.cookie).map(auth::owner_hash);
    let owners = match (&owner, admin) {
        (Some(_), false) => match api.files.owners() {
            Ok(o) => o,
            Err(e) => return store_failed(e),
        },
        _ => Vec::new(),
    };
    let mut all: Vec<(FileEntry, bool, bool)> = Vec::with_capacity(local.len() + remote.len());
    for e in local {
        let mine = owners
            .iter()
            .any(|(n, h)| n == e.name.as_str() && Some(h) == owner.as_ref());
        all.push((e, true, admin || mine));
    }
    all.extend(remote.into_iter().map(|e| (e, false, false)));
    crate::sort::sort_by_key(&mut all, |a| std::cmp::Reverse(a.0.mtime));

    let mut files_json = Vec::new();
    push_array(&mut files_json, &all, |out, (e, local, deletable)| {
        Object::new(out)
            .str("file", e.name.as_str())
            .num("epoch", e.mtime.0)
            .num("size", e.size)
            .str("node", &e.addr.to_string())
            .str("platform", e.platform.as_str())
            .num("local", u64::from(*local))
            .num("deletable", u64::from(*deletable))
            .end();
    });
    let mut stats_json = Vec::new();
    Object::new(&mut stats_json)
        .num("total", stats.total)
        .num("used", stats.used)
        .num("files", stats.files)
        .num("files_free", stats.files_free)
        .num("allowed", stats.allowed)
        .end();
    let mut body = Vec::new();
    Object::new(&mut body)
        .raw("files", &files_json)
        .raw("stats", &stats_json)
        .end();
    body.push(b'\n');
    Response::json(body)
}

/// `file_download`: the file's bytes as an attachment; unknown file: `no file`.
pub fn file_download(api: &Api, call: &mut Call) -> Response {
    let no_file = || Response::text("no file\n");
    let Ok(name) = call.params.get("file").unwrap_or("").parse::<FileName>() else {
        return no_file();
    };
    let (mut file, len) = match api.files.open(&name) {
        Ok(Some(f)) => f,
        Ok(None) => return no_file(),
        Err(e) => return store_failed(e),
    };
    // Content-MD5 needs the whole file first: hash it, then stream it from the start.
    let mut ctx = crate::protocol::md5::Context::new();
    let mut buf = [0u8; 8192];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => ctx.consume(&buf[..n]),
            Err(e) => {
                return store_failed(crate::store::Error::Io {
                    what: "read",
                    path: name.as_str().into(),
                    source: e,
                })
            }
        }
    }
    let md5 = format!("{:x}", ctx.finalize());
    if let Err(e) = file.seek(SeekFrom::Start(0)) {
        return store_failed(crate::store::Error::Io {
            what: "rewind",
            path: name.as_str().into(),
            source: e,
        });
    }
    let quoted = name.as_str().replace('\\', "\\\\").replace('"', "\\\"");
    Response {
        status: 200,
        headers: vec![
            ("Content-MD5", md5),
            (
                "Content-Disposition",
                format!("attachment; filename=\"{quoted}\";"),
            ),
            ("Content-type", "application/octet-stream".into()),
        ],
        body: Body::File(file, len),
    }
}

/// Reads at most `limit` bytes, then fails: an upload larger than the quota allows is
/// refused without reading it all.
struct Capped<'a> {
    inner: &'a mut dyn Read,
    left: u64,
}

impl Read for Capped<'_> {
    crate::reading::shared_reads!();

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "upload is too large",
            ));
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// `upload_file`: streams the multipart file part to disk within the quota and the free
/// space. The uploading browser gets a session cookie so it may delete the file later.
pub fn upload_file(api: &Api, call: &mut Call) -> Response {
    let no_room = || Response::status_reply(413, 500, &UploadError::NoRoom.to_string());
    let Some(boundary) = call
        .req
        .content_type
        .and_then(multipart::boundary)
        .map(str::to_string)
    else {
        return Response::refused("upload must be a multipart/form-data POST");
    };
    let limit = api.cfg.max_file_storage + UPLOAD_OVERHEAD;
    if call.req.content_length.is_some_and(|n| n > limit) {
        return no_room();
    }
    let mut upload = api.files.upload();
    let body = Capped {
        inner: &mut *call.req.body,
        left: limit + 1,
    };
    match multipart::read(body, &boundary, &mut call.params, &mut upload) {
        Ok(()) => {}
        Err(MultipartError::Sink(UploadError::NoRoom)) => return no_room(),
        Err(MultipartError::Io(e)) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            return no_room()
        }
        Err(MultipartError::Sink(UploadError::Store(e))) => return store_failed(e),
        Err(e) => return Response::refused(e),
    }
    // The action, from the query or from the body's own fields.
    match call.params.get("action") {
        Some("upload_file") => {}
        None | Some("") => return super::no_action(),
        Some(_) => return Response::refused("multipart bodies are only accepted by upload_file"),
    }
    let Some(name) = upload.received().cloned() else {
        return Response::refused("no file in the upload (field uploadfile)");
    };
    let token = auth::session_token(call.req.cookie);
    // Replacing a file deletes the old one: the same rights apply.
    match api.files.owner(&name) {
        Ok(_) if !matches!(api.files.open(&name), Ok(Some(_))) => {}
        Ok(owner) => {
            let mine = owner.is_some() && owner == token.map(auth::owner_hash);
            if !mine && !is_admin(api, call) {
                return Response::forbidden("a file with this name exists; only its uploader or the node admin may replace it");
            }
        }
        Err(e) => return store_failed(e),
    }
    match upload.commit() {
        Ok(()) => {}
        Err(UploadError::NoRoom) => return no_room(),
        Err(UploadError::Store(e)) => return store_failed(e),
        Err(e) => return Response::refused(e),
    }
    let (token, new_cookie) = match token {
        Some(t) => (t.to_string(), false),
        None => match auth::new_session_token() {
            Ok(t) => (t, true),
            Err(e) => {
                eprintln!("meshchat: cannot create the session token: /dev/urandom: {e}");
                return Response::failed(format!("cannot create the session token: {e}"));
            }
        },
    };
    if let Err(e) = upload.set_owner(&auth::owner_hash(&token)) {
        return store_failed(e);
    }
    let r = Response::ok();
    if new_cookie {
        r.header("Set-Cookie", auth::session_cookie(&token))
    } else {
        r
    }
}

fn is_admin(api: &Api, call: &Call) -> bool {
    auth::is_admin(
        api.cfg,
        call.req.cookie,
        call.req.authorization,
        call.params.get("token"),
    )
}

/// `delete_file`: allowed for the session that uploaded the file and for the admin. A file
/// that does not exist is 404 for everyone (the list of files is public anyway).
pub fn delete_file(api: &Api, call: &mut Call) -> Response {
    let name = match call.params.get("file").unwrap_or("").parse::<FileName>() {
        Ok(n) => n,
        Err(e) => return Response::refused(e),
    };
    match api.files.open(&name) {
        Ok(Some(_)) => {}
        Ok(None) => return Response::no_file(),
        Err(e) => return store_failed(e),
    }
    let owner = match api.files.owner(&name) {
        Ok(o) => o,
        Err(e) => return store_failed(e),
    };
    let mine = match (owner, auth::session_token(call.req.cookie)) {
        (Some(o), Some(t)) => o == auth::owner_hash(t),
        _ => false,
    };
    if !mine && !is_admin(api, call) {
        return Response::forbidden("only the uploader or the node admin may delete this file");
    }
    match api.files.delete(&name) {
        Ok(true) => Response::ok(),
        Ok(false) => Response::no_file(),
        Err(e) => store_failed(e),
    }
}
