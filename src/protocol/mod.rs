//! The wire formats of docs/PROTOCOL.md: database lines, raw lists, query/form/multipart
//! bodies, JSON shapes, service lists and UCI files.
//!
//! In scope: parsing bytes into typed values and writing typed values back as bytes.
//! Out of scope: files, sockets, locks, the clock (callers pass `now` in).

pub mod crc32;
pub mod deflate;
pub mod delivery;
pub mod digest;
pub mod direct;
pub mod dns;
pub mod export;
pub mod form;
pub mod json;
pub mod limits;
pub mod lines;
pub mod md5;
pub mod multipart;
#[cfg_attr(not(feature = "raven"), allow(dead_code))]
pub mod raven;
pub mod services;
pub mod types;
pub mod uci;

pub use types::*;
