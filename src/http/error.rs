//! Why an HTTP exchange failed: [`FetchError`] for the peer client, [`HeadError`] for
//! the server reading a request.

use std::fmt;

use super::MIN_RATE;
use crate::protocol::limits::MAX_PEER_BODY;

/// Why a request to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The URL is not `http://host[:port]/path`, or the query would not fit a request line.
    BadUrl(String),
    /// The host name did not resolve.
    NoHost,
    /// No TCP connection (refused, unreachable).
    Connect(String),
    /// The peer stopped sending (stall, connect timeout or deadline).
    Timeout,
    /// The peer sent slower than [`MIN_RATE`].
    Slow,
    /// The peer answered 404: the legacy back-off signal.
    NotFound,
    /// Any other non-200 status.
    Status(u16),
    /// The body is larger than [`MAX_PEER_BODY`].
    TooLarge,
    /// A line longer than any valid line.
    LineTooLong,
    /// No `Content-MD5` header where one is required.
    NoChecksum,
    /// The body's MD5 is not the one announced.
    BadChecksum,
    /// The connection broke or the peer spoke broken HTTP.
    Broken(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::BadUrl(e) => write!(f, "bad URL: {e}"),
            FetchError::NoHost => f.write_str("host not found"),
            FetchError::Connect(e) => write!(f, "cannot connect: {e}"),
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::Slow => write!(f, "transfer slower than {MIN_RATE} B/s"),
            FetchError::NotFound => f.write_str("404 not found"),
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            FetchError::TooLarge => write!(f, "body larger than {MAX_PEER_BODY} bytes"),
            FetchError::LineTooLong => f.write_str("line too long"),
            FetchError::NoChecksum => f.write_str("no Content-MD5"),
            FetchError::BadChecksum => f.write_str("Content-MD5 does not match the body"),
            FetchError::Broken(e) => write!(f, "broken response: {e}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Why a request could not be read; each maps to one status.
#[cfg(feature = "serve")]
#[derive(Debug)]
pub enum HeadError {
    /// The client closed before a whole head arrived: no reply.
    Gone,
    /// The head did not arrive whole within the server's head deadline, or the client
    /// sent nothing for a whole read timeout: 408.
    Timeout,
    /// Not HTTP/1.x, or a malformed line: 400.
    Malformed(&'static str),
    /// Head larger than [`MAX_HEAD`] or more than [`MAX_HEADERS`] headers: 431.
    TooLarge,
    /// A chunked request body (no meshchat client sends one): 411.
    LengthRequired,
}

#[cfg(feature = "serve")]
impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::Gone => f.write_str("client went away"),
            HeadError::Timeout => f.write_str("the request head did not arrive in time"),
            HeadError::Malformed(why) => write!(f, "malformed request: {why}"),
            HeadError::TooLarge => f.write_str("request head is too large"),
            HeadError::LengthRequired => f.write_str("a Content-Length is required"),
        }
    }
}
