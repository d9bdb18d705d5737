//! HTTP/1.x, both sides, in one place: the server half of `serve` and the peer client of
//! `meshchat sync`, `send` and `tail`.
//!
//! - [`head`]: header lines and reason phrases, the one parser both sides share;
//! - [`server`]: reading a request with hard limits, writing a response;
//! - [`framing`]: the client's wire format (URL, request head, response head, body framing);
//! - [`client`]: requests to a peer over `std::net`, with every limit a router needs;
//! - [`resolve`]: a peer's name to its addresses (`/etc/hosts`, DNS);
//! - [`error`]: why an exchange failed.
//!
//! In scope: bytes on a TCP connection. Out of scope: what the requests mean (`api`,
//! `sync`); this module uses only `protocol` (limits, the extension header name).

pub mod client;
pub mod error;
pub mod framing;
pub mod head;
pub mod resolve;
#[cfg(feature = "serve")]
pub mod server;

pub use error::FetchError;
#[cfg(feature = "serve")]
pub use error::HeadError;

/// A transfer must average at least this many bytes per second (the legacy client's own
/// cut-off): slower peers are dropped, and a dripping client cannot hold a worker for long.
pub const MIN_RATE: u64 = 1000;
