//! The transport-free request and response every adapter translates to and from.

use std::fs::File;
use std::io::Read;

use crate::protocol::json;

/// One API request, as an adapter (CGI or `serve`) hands it over.
pub struct Request<'a> {
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// True for POST.
    pub post: bool,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The `Content-Length` header, when the client sent one.
    pub content_length: Option<u64>,
    /// The request body.
    pub body: &'a mut dyn Read,
    /// True when the client accepts gzip.
    pub accept_gzip: bool,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The port the request came in on (file lists carry `node:port`).
    pub server_port: u16,
}

/// A response body.
pub enum Body {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file streamed from disk, with its length.
    File(File, u64),
}

impl Body {
    /// The length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        }
    }
}

/// One API response.
pub struct Response {
    /// The HTTP status, the same under CGI and `serve`: the outcome (200 done, 400
    /// refused input, 403 not allowed, 404 no such file, 413 over quota, 500 a failure on
    /// the node). The legacy JSON `status` (200 or 500) is unchanged, for clients that
    /// read only the body.
    pub status: u16,
    /// MeshChat's own headers, named exactly as the legacy CGI prints them.
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// `Content-type` values.
pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain";

impl Response {
    /// A 200 response with a content type and a body.
    pub fn new(content_type: &str, body: Vec<u8>) -> Response {
        Response::with_body(content_type, Body::Bytes(body))
    }

    /// A 200 response with a content type and a body in memory or in a file.
    pub fn with_body(content_type: &str, body: Body) -> Response {
        Response {
            status: 200,
            headers: vec![("Content-type", content_type.to_string())],
            body,
        }
    }

    /// A JSON body.
    pub fn json(body: Vec<u8>) -> Response {
        Response::new(JSON, body)
    }

    /// A plain-text body.
    pub fn text(body: impl Into<Vec<u8>>) -> Response {
        Response::new(TEXT, body.into())
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds `Content-MD5` (hex, as MeshChat peers check it) of an in-memory body.
    pub fn with_md5(self) -> Response {
        let md5 = match &self.body {
            Body::Bytes(b) => md5_hex(b),
            Body::File(..) => return self,
        };
        self.header("Content-MD5", md5)
    }

    /// The legacy status reply `{"status":N, "response":"..."}` (the space is legacy).
    pub fn status_reply(http_status: u16, json_status: u16, message: &str) -> Response {
        let mut body = format!("{{\"status\":{json_status}, \"response\":").into_bytes();
        json::push_str(&mut body, message);
        body.extend_from_slice(b"}\n");
        let mut r = Response::json(body);
        r.status = http_status;
        r
    }

    /// `{"status":200, "response":"OK"}`.
    pub fn ok() -> Response {
        Response::status_reply(200, 200, "OK")
    }

    /// A request refused for a reason the user can act on.
    pub fn refused(reason: impl std::fmt::Display) -> Response {
        Response::status_reply(400, 500, &reason.to_string())
    }

    /// The request was understood but is not allowed.
    pub fn forbidden(reason: &str) -> Response {
        Response::status_reply(403, 500, reason)
    }

    /// Something failed on our side (logged by the adapter).
    pub fn failed(reason: impl std::fmt::Display) -> Response {
        Response::status_reply(500, 500, &reason.to_string())
    }

    /// The file asked for does not exist.
    pub fn no_file() -> Response {
        Response::status_reply(404, 500, "no file")
    }

    /// A POST without a Content-Length (a chunked body): 411 under CGI and `serve`.
    pub fn length_required() -> Response {
        Response::status_reply(411, 411, LENGTH_REQUIRED)
    }
}

/// Why a POST without a `Content-Length` is refused.
pub const LENGTH_REQUIRED: &str =
    "a Content-Length is required: send the body with its length, not chunked";

/// Lowercase hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", crate::protocol::md5::compute(bytes))
}
